import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { sessionStatusSchema } from '@signvote/core';
import { hasChromium, watchErrors } from '../src/browser';
import { useServerAndBrowser } from '../src/fixture';
import { readFacts, waitUntil } from '../src/session-page';

/**
 * Issue 12, "start with who is here", in the browser: the creator of a session that waits for 3
 * peers starts it from the page with the 2 tabs present (Start now), the training set is split
 * over those 2, and both train to the end on one hash. The key stays with the creator's browser
 * through a reload; a tab in another browser never sees the button, and a wrong key is refused
 * with the server's sentence.
 */

const rounds = 16;

describe.skipIf(!hasChromium())('the creator starts a session with the peers present', () => {
  const { server, browser } = useServerAndBrowser();

  it('starts 2 of 3 expected peers from the creator tab, and both train to the end', async () => {
    const creator = await browser().newContext();
    const a = await creator.newPage();
    const errors = watchErrors(a, 'creator');
    await a.goto(`${server().url}/?backend=wasm`);
    await a.getByLabel('Expected peers').fill('3');
    await a.getByLabel('Rounds', { exact: true }).fill(String(rounds));
    await a.getByLabel('Evaluate every (rounds)').fill('8');
    await a.getByTestId('create-session').click();
    const link = new URL(await a.getByTestId('join-link').inputValue());
    const id = link.searchParams.get('session')!;
    const token = link.searchParams.get('token')!;
    await a.getByTestId('open-session').click();

    const button = (p: Page) => p.getByTestId('start-now');
    const waitingWith = async (p: Page, label: string) =>
      waitUntil(`"${label}"`, 90_000, async () => (await readFacts(p)).state === 'waiting' && (await button(p).textContent()) === label);
    await waitingWith(a, 'Start now (1 of 3 here)');
    // a reload of the creator's tab keeps the key (localStorage), and the tab joins again
    await a.reload();
    await waitingWith(a, 'Start now (1 of 3 here)');

    const other = await browser().newContext();
    const b = await other.newPage();
    errors.push(...watchErrors(b, 'other'));
    await b.goto(`${link.toString()}&backend=wasm`);
    await waitUntil('the other tab to wait for peers', 90_000, async () => (await readFacts(b)).state === 'waiting');
    await waitingWith(a, 'Start now (2 of 3 here)');
    // a browser without the creator key has no such button
    expect(await button(b).count()).toBe(0);

    // a wrong key gets the server's refusal, in the page
    const setKey = (key: string) =>
      a.evaluate(
        `(() => { const all = JSON.parse(localStorage.getItem('signvote.sessions')); for (const s of all) if (s.id === ${JSON.stringify(id)}) { window.__key ??= s.admin; s.admin = ${JSON.stringify(key)} || window.__key; } localStorage.setItem('signvote.sessions', JSON.stringify(all)); })()`,
      );
    await setKey('not-the-key');
    await button(a).click();
    await expect.poll(() => a.getByTestId('start-now-error').textContent(), { timeout: 30_000 }).toBe(`Could not start the session: wrong creator key for session ${id}`);
    expect((await readFacts(a)).state).toBe('waiting');
    await setKey('');
    await button(a).click();
    await expect.poll(() => a.getByTestId('start-now-done').textContent(), { timeout: 30_000 }).toBe('Started with 2 peers: the training set is split into 2 shards.');
    expect(await a.getByTestId('start-now-error').count()).toBe(0);

    const done = await waitUntil(`both tabs to finish ${rounds} rounds`, 240_000, async () => {
      const f = await Promise.all([readFacts(a), readFacts(b)]);
      return f.every((x) => x.state === 'finished') ? f : null;
    });
    expect(done.map((f) => f.rounds)).toEqual([rounds, rounds]);
    expect(done[1].hash).toBe(done[0].hash);
    // the data was split over the two peers present, not over the three expected
    for (const p of [a, b]) expect(await p.getByTestId('log').textContent()).toMatch(/training shard [12] of 2 \(/);
    expect(await button(a).count()).toBe(0);

    const status = sessionStatusSchema.parse(await (await fetch(`${server().url}/api/sessions/${id}`, { headers: { authorization: `Bearer ${token}` } })).json());
    expect(status.record.shards).toBe(2);
    expect(status.record.finished).toMatchObject({ round: rounds, hash: done[0].hash });
    expect(errors.filter((e) => !e.includes('Failed to load resource'))).toEqual([]);
    await creator.close();
    await other.close();
  }, 420_000);
});
