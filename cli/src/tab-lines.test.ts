import { describe, expect, it } from 'vitest';
import { tabLines } from './tab-lines';

const base = { localLink: 'http://127.0.0.1:8080/?session=S&token=T', shareUrl: 'http://127.0.0.1:8080/?session=S&token=T', buildClient: 'npm run build -w @signvote/client' };

describe('tabLines', () => {
  it('offers the link once the client is built, and the LAN link when it differs', () => {
    expect(tabLines({ ...base, clientBuilt: true, tabs: 0 })).toEqual(['more peers can join from a browser tab: http://127.0.0.1:8080/?session=S&token=T']);
    expect(tabLines({ ...base, clientBuilt: true, tabs: 1, shareUrl: 'http://10.0.0.5:8080/?session=S&token=T' })).toEqual([
      'open in 1 browser tab: http://127.0.0.1:8080/?session=S&token=T',
      'join from other computers and phones: http://10.0.0.5:8080/?session=S&token=T',
    ]);
  });

  it('without a built client, says what the tabs need instead of a link that answers 404', () => {
    expect(tabLines({ ...base, clientBuilt: false, tabs: 0 })).toEqual([
      'browser tabs could join too, but the browser UI is not built: npm run build -w @signvote/client, then open http://127.0.0.1:8080/?session=S&token=T',
    ]);
    expect(tabLines({ ...base, clientBuilt: false, tabs: 2 })[0]).toMatch(/^the session waits for 2 browser tabs, but the browser UI is not built: npm run build/);
  });
});
