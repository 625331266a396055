import { describe, expect, it } from 'vitest';
import { createRng, restoreRng } from './random';

describe('createRng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = createRng(1), b = createRng(1), c = createRng(2);
    const xs = Array.from({ length: 5 }, () => a.u32());
    expect(Array.from({ length: 5 }, () => b.u32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.u32())).not.toEqual(xs);
  });

  it('forks independent, reproducible streams', () => {
    const r = createRng(7);
    expect(r.fork('peer-1').u32()).toBe(createRng(7).fork('peer-1').u32());
    expect(r.fork('peer-1').u32()).not.toBe(r.fork('peer-2').u32());
  });

  it('has uniform floats and standard normals with the right moments', () => {
    const r = createRng(3);
    const n = 200_000;
    let sum = 0, sumN = 0, sumN2 = 0;
    for (let i = 0; i < n; i++) {
      const u = r.float();
      expect(u >= 0 && u < 1).toBe(true);
      sum += u;
      const z = r.normal();
      sumN += z; sumN2 += z * z;
    }
    // tolerances are 5 standard errors of each estimate
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(sumN / n)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(sumN2 / n - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
  });

  it('samples Gamma(k) with mean k, also for k < 1', () => {
    const r = createRng(4);
    for (const k of [0.3, 1, 4]) {
      const n = 50_000;
      let s = 0;
      for (let i = 0; i < n; i++) s += r.gamma(k);
      expect(Math.abs(s / n - k)).toBeLessThan(5 * Math.sqrt(k / n));
    }
    expect(() => r.gamma(0)).toThrow(/shape/);
  });

  it('continues draw for draw from a saved state: u32s, a cached normal and forks', () => {
    const a = createRng('resume');
    for (let i = 0; i < 5; i++) a.u32();
    a.normal(); // caches the second normal of its pair
    const b = restoreRng(JSON.parse(JSON.stringify(a.state())));
    expect(b.normal()).toBe(a.normal());
    expect(Array.from({ length: 20 }, () => b.u32())).toEqual(Array.from({ length: 20 }, () => a.u32()));
    expect(b.fork('x').u32()).toBe(a.fork('x').u32());
    // every stream's state restores, whatever its seed (a seed of 2^31 or more XORs to a negative base)
    for (let k = 0; k < 200; k++) {
      const r = createRng(k).fork(`signs-${k}`);
      expect(restoreRng(r.state()).u32()).toBe(r.u32());
    }
  });

  it('refuses a state no stream can be in', () => {
    const ok = createRng(1).state();
    expect(() => restoreRng({ ...ok, words: [0, 0, 0, 0] })).toThrow(/not all zero/);
    expect(() => restoreRng({ ...ok, words: [1, 2, 3] as unknown as [number, number, number, number] })).toThrow(/four/);
    expect(() => restoreRng({ ...ok, words: [1, 2, 3, 2 ** 32] })).toThrow(/32-bit/);
    expect(() => restoreRng({ ...ok, base: -1 })).toThrow(/base/);
    expect(() => restoreRng({ ...ok, spare: Number.NaN })).toThrow(/spare/);
  });
});
