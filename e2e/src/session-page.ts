import type { Page } from 'playwright-core';

/** What a tab's session view shows, read from its stable test ids. */
export interface TabFacts {
  readonly state: string;
  /** rounds applied so far */
  readonly rounds: number;
  readonly accuracy: number | null;
  readonly hash: string;
  readonly role: string;
  readonly aggregator: string;
  readonly term: number;
  readonly peerId: string;
  readonly backend: string;
}

/**
 * Read in the page as source text: the test runner's transpiler may wrap closures in helpers
 * (esbuild's __name) that do not exist inside the page.
 */
const readFactsSource = `(() => {
  const raw = (id) => document.querySelector('[data-testid="' + id + '"]')?.getAttribute('data-value') ?? '';
  const state = document.querySelector('[data-testid="state"]')?.getAttribute('data-state') ?? '';
  const acc = raw('accuracy');
  return {
    state,
    rounds: Number(raw('round') || 0),
    accuracy: acc === '' ? null : Number(acc),
    hash: raw('hash'),
    role: raw('role'),
    aggregator: raw('aggregator'),
    term: Number(raw('term') || -1),
    peerId: raw('peer-id'),
    backend: raw('backend'),
  };
})()`;

export async function readFacts(page: Page): Promise<TabFacts> {
  return (await page.evaluate(readFactsSource)) as TabFacts;
}

/** Polls `check` until it returns a value, failing with the last facts seen when time runs out. */
export async function waitUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== null && v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
