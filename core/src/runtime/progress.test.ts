import { describe, expect, it } from 'vitest';
import { createProgressMeter, formatDuration, formatRate } from './progress';

describe('progress meter', () => {
  it('measures rounds per second over its window and the time left at that pace', () => {
    const m = createProgressMeter(5);
    expect(m.rate()).toBeNull();
    m.applied(0, 1000);
    expect(m.rate()).toBeNull();
    for (let r = 1; r < 10; r++) m.applied(r, 1000 + 500 * r); // 2 rounds/s
    expect(m.rate()).toBeCloseTo(2, 9);
    expect(m.etaMs(100)).toBeCloseTo((90 / 2) * 1000, 6);
    // the pace changes: the window follows it
    for (let r = 10; r < 15; r++) m.applied(r, 5500 + 100 * (r - 9));
    expect(m.rate()).toBeCloseTo(10, 9);
    expect(m.etaMs(15)).toBe(0);
  });

  it('ignores rounds reported again or out of order', () => {
    const m = createProgressMeter();
    m.applied(0, 0);
    m.applied(1, 1000);
    m.applied(1, 5000);
    m.applied(0, 6000);
    expect(m.rate()).toBe(1);
  });

  it('formats durations and rates for people', () => {
    expect(formatDuration(44_600)).toBe('45 s');
    expect(formatDuration(200_000)).toBe('3 min 20 s');
    expect(formatDuration(3_900_000)).toBe('1 h 05 min');
    expect(formatRate(12.34)).toBe('12.3 rounds/s');
    expect(formatRate(0.4)).toBe('0.40 rounds/s');
  });
});
