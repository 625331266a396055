import type { Page } from 'playwright-core';

/**
 * Round times as a tab shows them, for the evaluation test and bench: when each round is applied
 * on the page, recorded by a MutationObserver the test installs on the round fact (one render per
 * applied round), and which rounds ran beside an evaluation.
 */

// Read as source so no test-runner helper (esbuild's __name) leaks into the page.
const recordSource = `(() => {
  const seen = (window.__roundTimes = []);
  const fact = document.querySelector('[data-testid="round"]');
  new MutationObserver(() => seen.push([Number(fact.getAttribute('data-value')), performance.now()])).observe(fact, { attributes: true, attributeFilter: ['data-value'] });
})()`;

/** Starts recording; the page must show its session view. */
export async function recordRoundTimes(page: Page): Promise<void> {
  await page.getByTestId('round').waitFor();
  await page.evaluate(recordSource);
}

/** ms of each round (0-based) from the previous round's apply to its own. */
export async function roundMs(page: Page): Promise<Map<number, number>> {
  const times = new Map<number, number>();
  for (const [applied, at] of (await page.evaluate('window.__roundTimes')) as [number, number][]) if (!times.has(applied)) times.set(applied, at);
  const ms = new Map<number, number>();
  for (const [applied, at] of times) {
    const before = times.get(applied - 1);
    if (before !== undefined && applied >= 2) ms.set(applied - 1, at - before);
  }
  return ms;
}

/**
 * Splits steady rounds (from round `warmup` on) into those that ran beside an evaluation and the
 * others. An evaluation starts once round r with (r + 1) % evalEvery === 0 is applied, so rounds
 * r + 1 and r + 2 are computed while it runs. Works on any round -> ms map (tabs, CLI rows).
 */
export function besideEvaluation(ms: ReadonlyMap<number, number>, evalEvery: number, rounds: number, warmup = 5): { beside: number[]; others: number[] } {
  const beside: number[] = [];
  const others: number[] = [];
  for (const [r, v] of ms) {
    if (r < warmup) continue;
    if ((r % evalEvery === 0 || r % evalEvery === 1) && r < rounds - 1) beside.push(v);
    else others.push(v);
  }
  return { beside, others };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
