import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { hasChromium, watchErrors } from '../src/browser';
import { useServerAndBrowser } from '../src/fixture';
import { readFacts, waitUntil } from '../src/session-page';

/**
 * Vote shards in the page (docs/session.md "Vote shards", docs/client.md): a session that asks
 * for 4 vote shards has 2 tabs, so each term runs 2 (one per member). Each tab says so, shows
 * the range it tallies beside its role, and the peers table names each member's range.
 */

const config = {
  model: 'mlp',
  dataset: 'mnist',
  algorithm: { name: 'mv-sto-signsgd-sim', lr: 0.003 },
  expectedPeers: 2,
  batchSize: 32,
  rounds: 60,
  evalEvery: 0,
  deadlineMs: 5000,
  seed: 3,
  voteShards: 4,
};

const text = async (page: Page, testId: string) => (await page.getByTestId(testId).textContent())?.trim() ?? '';

describe.skipIf(!hasChromium())('vote shards in the session view', () => {
  const fixture = useServerAndBrowser();

  it('2 tabs asking 4 shards: "2 (asked 4: at most one per member)", and the range beside each role', async () => {
    const res = await fetch(`${fixture.server().url}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
    expect(res.status).toBe(201);
    const { url } = (await res.json()) as { url: string };
    const tabs: Page[] = [];
    const errors: string[][] = [];
    for (const name of ['A', 'B']) {
      const page = await fixture.browser().newPage({ viewport: { width: 1280, height: 900 } });
      errors.push(watchErrors(page, name));
      await page.goto(`${url}&backend=wasm`);
      tabs.push(page);
    }
    await waitUntil('both tabs to apply 3 rounds', 180_000, async () => (await Promise.all(tabs.map(readFacts))).every((f) => f.rounds >= 3));

    const seen = await Promise.all(
      tabs.map(async (t) => ({ facts: await readFacts(t), role: await text(t, 'role'), split: await text(t, 'vote-shards'), k: await t.getByTestId('vote-shards').getAttribute('data-value') })),
    );
    const detail = JSON.stringify(seen);
    for (const s of seen) {
      expect(s.split, detail).toBe('2 (asked 4: at most one per member)');
      expect(s.k, detail).toBe('2');
      // the raw role stays the term's role; the text adds the range (counted from 1)
      expect(s.role, detail).toBe(`${s.facts.role} · tallies range ${s.facts.role === 'aggregator' ? 1 : 2}/2`);
    }
    expect(new Set(seen.map((s) => s.facts.role)), detail).toEqual(new Set(['aggregator', 'worker']));
    // every tab's peers table: the aggregator tallies range 0, the other member range 1
    for (const t of tabs) {
      const rows = await t.getByTestId('peer-row').evaluateAll((els) => els.map((e) => [e.getAttribute('data-role'), e.getAttribute('data-vote-shard')]));
      expect(rows.sort(), detail).toEqual([['aggregator', '0'], ['worker', '1']]);
    }
    expect(errors.flat()).toEqual([]);
    for (const t of tabs) await t.close();
  }, 300_000);
});
