import { describe, expect, it } from 'vitest';
import type { Schedule } from '../config';
import { lrAt } from './schedule';

describe('lrAt', () => {
  it('constant', () => {
    expect(lrAt({ kind: 'constant' }, 0.1, 0)).toBe(0.1);
    expect(lrAt({ kind: 'constant' }, 0.1, 10_000)).toBe(0.1);
  });

  it('step decay multiplies by the factor at each milestone reached', () => {
    const s: Schedule = { kind: 'step', milestones: [20, 10], factor: 0.1 };
    expect(lrAt(s, 1, 9)).toBe(1);
    expect(lrAt(s, 1, 10)).toBeCloseTo(0.1, 12);
    expect(lrAt(s, 1, 19)).toBeCloseTo(0.1, 12);
    expect(lrAt(s, 1, 25)).toBeCloseTo(0.01, 12);
  });

  it('exponential decay per round', () => {
    expect(lrAt({ kind: 'exponential', rate: 0.5 }, 2, 3)).toBeCloseTo(0.25, 12);
    expect(lrAt({ kind: 'exponential', rate: 0.999 }, 1e-3, 1000)).toBeCloseTo(1e-3 * Math.pow(0.999, 1000), 15);
  });

  it('rejects bad rounds, rates and factors', () => {
    expect(() => lrAt({ kind: 'constant' }, 0.1, -1)).toThrow(/round/);
    expect(() => lrAt({ kind: 'constant' }, 0.1, 1.5)).toThrow(/round/);
    expect(() => lrAt({ kind: 'constant' }, 0, 0)).toThrow(/learning rate/);
    expect(() => lrAt({ kind: 'exponential', rate: 1.5 }, 0.1, 1)).toThrow(/rate/);
    expect(() => lrAt({ kind: 'step', milestones: [1], factor: 0 }, 0.1, 1)).toThrow(/factor/);
  });
});
