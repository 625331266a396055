import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { hasChromium, watchErrors } from '../src/browser';
import { useServerAndBrowser } from '../src/fixture';
import { besideEvaluation, median, recordRoundTimes, roundMs } from '../src/round-times';
import { readFacts, waitUntil } from '../src/session-page';

/**
 * Evaluation never stalls training (issue 16): two tabs train the CNN on Fashion-MNIST and
 * evaluate its 10,000 test images every few rounds. The rounds right after an evaluation starts
 * must take about as long as the others (median within 3x). Before, the test set ran in the
 * round's path: measured here, the round after each evaluation took 5.3-7.9 s against a 62 ms
 * median (this test failed at 45x); now ~110 ms against ~170 ms. The bound is 3x, not closer:
 * the median of ten rounds in two tabs on a shared 2-core machine moves by half (a fresh-clone
 * CI run beside other jobs measured 141 ms against 90 ms), and a stall is an order of magnitude.
 */

const evalEvery = 10;
const rounds = 60;
const config = {
  model: 'cnn',
  dataset: 'fashion-mnist',
  algorithm: { name: 'mv-sto-signsgd-sim', lr: 0.003 },
  expectedPeers: 2,
  batchSize: 32,
  rounds,
  evalEvery,
  deadlineMs: 10_000,
  seed: 5,
};

describe.skipIf(!hasChromium())('evaluation beside training', () => {
  const fixture = useServerAndBrowser();

  it('keeps the rounds that overlap an evaluation as fast as the others (CNN, 2 tabs)', async () => {
    const res = await fetch(`${fixture.server().url}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
    expect(res.status).toBe(201);
    const { url } = (await res.json()) as { url: string };
    const tabs: Page[] = [];
    const errors: string[][] = [];
    for (const name of ['A', 'B']) {
      const page = await fixture.browser().newPage({ viewport: { width: 1280, height: 900 } });
      errors.push(watchErrors(page, name));
      await page.goto(`${url}&backend=wasm`);
      await recordRoundTimes(page);
      tabs.push(page);
    }
    await waitUntil('both tabs to finish', 300_000, async () => (await Promise.all(tabs.map(readFacts))).every((f) => f.state === 'finished'));

    const a = tabs[0];
    const { beside, others } = besideEvaluation(await roundMs(a), evalEvery, rounds);
    expect(beside.length).toBeGreaterThanOrEqual(8);
    const detail = JSON.stringify({ beside, others });
    expect(median(beside), detail).toBeLessThanOrEqual(3 * median(others));

    // the evaluations were still reported: the accuracy chart has points and the fact a value
    const facts = await readFacts(a);
    expect(facts.accuracy, detail).not.toBeNull();
    expect(facts.accuracy!).toBeGreaterThan(0.3);
    expect(errors.flat()).toEqual([]);
    for (const t of tabs) await t.close();
  }, 360_000);
});
