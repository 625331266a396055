import { describe, expect, it } from 'vitest';
import { joinLink, reachableFromOtherDevices, readJoinParams, shareLink } from './api';

describe('join links', () => {
  it('round-trips session and token through the link', () => {
    const link = joinLink('http://127.0.0.1:8080/some/path?x=1#frag', 'abc_12-Z', 't0k/en+=');
    expect(link).toBe('http://127.0.0.1:8080/some/path?session=abc_12-Z&token=t0k%2Fen%2B%3D');
    expect(readJoinParams(new URL(link).search)).toEqual({ session: 'abc_12-Z', token: 't0k/en+=', servers: [] });
  });

  it('ignores links missing a part or carrying oversized values', () => {
    expect(readJoinParams('?session=abc')).toBeNull();
    expect(readJoinParams('?token=t')).toBeNull();
    expect(readJoinParams('?session=%20&token=t')).toBeNull();
    expect(readJoinParams(`?session=${'a'.repeat(201)}&token=t`)).toBeNull();
    expect(readJoinParams('?session=s&token=t&backend=wasm')).toEqual({ session: 's', token: 't', servers: [] });
    // other server processes of the session: http(s) origins only, and a link carries them along
    const withServers = joinLink('http://a:8080/', 's', 't', ['http://b:8080']);
    expect(readJoinParams(new URL(withServers).search)).toEqual({ session: 's', token: 't', servers: ['http://b:8080'] });
    expect(readJoinParams('?session=s&token=t&servers=http://10.0.0.2:8080/,javascript:alert(1),nope,https://b.example')).toEqual({
      session: 's',
      token: 't',
      servers: ['http://10.0.0.2:8080', 'https://b.example'],
    });
  });
});

describe('links for other devices', () => {
  const lan = { shareUrl: 'http://192.168.1.23:8080', https: false, selfSigned: false };
  it('swaps a loopback page address for the server share URL', () => {
    expect(shareLink('http://127.0.0.1:8080/?session=s&token=t', lan, 's', 't')).toBe('http://192.168.1.23:8080/?session=s&token=t');
    expect(shareLink('http://localhost:8080/', lan, 's', 't')).toBe('http://192.168.1.23:8080/?session=s&token=t');
  });
  it('keeps an address other devices already reach, and a loopback one when the server knows no better', () => {
    expect(shareLink('https://pc.lan:8443/?session=s&token=t', lan, 's', 't')).toBe('https://pc.lan:8443/?session=s&token=t');
    expect(shareLink('http://127.0.0.1:8080/', { ...lan, shareUrl: 'http://127.0.0.1:8080' }, 's', 't')).toBe('http://127.0.0.1:8080/?session=s&token=t');
    expect(shareLink('http://127.0.0.1:8080/', null, 's', 't')).toBe('http://127.0.0.1:8080/?session=s&token=t');
    expect(reachableFromOtherDevices('http://127.0.0.1:8080/?session=s')).toBe(false);
    expect(reachableFromOtherDevices('http://192.168.1.23:8080/?session=s')).toBe(true);
  });
});
