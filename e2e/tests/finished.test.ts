import { describe, expect, it } from 'vitest';
import { hasChromium, watchErrors } from '../src/browser';
import { useServerAndBrowser } from '../src/fixture';
import { startNodePeer } from '../src/node-peer';

/**
 * Issue 12, finding 3 in a tab: the join link of a finished session shows that it finished, with
 * its final round, parameters and accuracy, instead of waiting for peers to train it again.
 */
describe.skipIf(!hasChromium())('a finished session in the browser', () => {
  const fixture = useServerAndBrowser();

  it('says the session finished and with what, and trains nothing', async () => {
    const server = fixture.server().url;
    const res = await fetch(`${server}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ expectedPeers: 1, rounds: 4, evalEvery: 4, batchSize: 8, deadlineMs: 5000 }),
    });
    const { url } = (await res.json()) as { url: string };
    const { searchParams } = new URL(url);
    const peer = startNodePeer(server, searchParams.get('session')!, searchParams.get('token')!);
    expect(await peer.exited, peer.output.join('\n')).toBe(0);
    const hash = peer.rounds.at(-1)!.hash;

    const page = await fixture.browser().newPage();
    const errors = watchErrors(page, 'finished');
    await page.goto(url);
    await expect.poll(() => page.getByTestId('state').getAttribute('data-state'), { timeout: 60_000 }).toBe('error');
    const text = await page.getByTestId('state').textContent();
    expect(text).toContain(`finished at round 4 with parameters ${hash}`);
    expect(text).toMatch(/test accuracy \d+\.\d% after round 4/);
    expect(errors.filter((e) => !e.includes('Failed to load resource'))).toEqual([]);
    await page.close();
  }, 180_000);
});
