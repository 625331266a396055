import { afterEach, describe, expect, it, vi } from 'vitest';

describe('macrotask', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
    vi.resetModules();
  });

  it('without setImmediate (a browser) runs chained tasks in order on messages, with every timer frozen', async () => {
    vi.stubGlobal('setImmediate', undefined);
    vi.resetModules();
    const { macrotask, nextMacrotask } = await import('./macrotask');
    // frozen timers: a setTimeout-based yield would never come back (and a hidden tab's would
    // come back once a second)
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'setImmediate'] });
    const order: number[] = [];
    for (let i = 0; i < 3; i++) macrotask(() => order.push(i));
    for (let i = 0; i < 200; i++) await nextMacrotask();
    expect(order).toEqual([0, 1, 2]);
  }, 5_000);

  it('lets I/O and timers run between steps in Node', async () => {
    const { nextMacrotask } = await import('./macrotask');
    let timerFired = false;
    setTimeout(() => (timerFired = true), 0);
    const t0 = Date.now();
    while (!timerFired && Date.now() - t0 < 1000) await nextMacrotask();
    expect(timerFired).toBe(true);
  });
});
