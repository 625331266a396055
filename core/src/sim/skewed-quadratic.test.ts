import { describe, expect, it } from 'vitest';
import { createSkewedQuadratic } from './skewed-quadratic';

describe('skewed quadratic', () => {
  it('is deterministic in its seed and has loss 0 exactly at its optimum', async () => {
    const a = createSkewedQuadratic({ d: 16, seed: 3 });
    const b = createSkewedQuadratic({ d: 16, seed: 3 });
    const c = createSkewedQuadratic({ d: 16, seed: 4 });
    expect(a.optimum).toEqual(b.optimum);
    expect(a.optimum).not.toEqual(c.optimum);
    expect(a.loss(a.optimum)).toBe(0);
    expect(a.loss(a.x0)).toBeGreaterThan(0);
    const x = new Float32Array(16).fill(0.5);
    expect(await a.gradient(2, 8)(x)).toEqual(await b.gradient(2, 8)(x));
  });

  it('draws fresh noise per call, unbiased in the mean but with a biased median at small batch', async () => {
    const p = createSkewedQuadratic({ d: 8, seed: 1, noise: 1 });
    const g = p.gradient(0, 8);
    const first = await g(p.optimum);
    const second = await g(p.optimum);
    expect(first).not.toEqual(second);
    const draws = 4000;
    const sum = new Float64Array(8);
    const below = new Float64Array(8);
    const orient = new Float64Array(8);
    // at the optimum the true gradient is 0; the sign of the typical draw shows the orientation
    for (let t = 0; t < draws; t++) {
      const v = await g(p.optimum);
      for (let j = 0; j < 8; j++) {
        sum[j] += v[j];
        orient[j] += Math.sign(v[j]);
      }
    }
    for (let j = 0; j < 8; j++) {
      // mean ~ 0 within a few standard errors (per-sample std ~ 5.9 / sqrt(8))
      expect(Math.abs(sum[j] / draws)).toBeLessThan(0.15);
      below[j] = Math.abs(orient[j]) / draws;
      // P(Sign(g) = Sign(median)) = (1 - p)^8 ~ 0.66: far from a fair coin
      expect(below[j]).toBeGreaterThan(0.25);
    }
    // a large batch washes the bias out (CLT), which is why signSGD needs big batches
    const big = p.gradient(0, 512);
    let agree = 0;
    for (let t = 0; t < 400; t++) agree += Math.sign((await big(p.optimum))[0]);
    expect(Math.abs(agree) / 400).toBeLessThan(below[0]);
  });

  it('heterogeneous peers average to the global optimum', async () => {
    const peers = 5;
    const p = createSkewedQuadratic({ d: 6, seed: 2, noise: 0, heterogeneity: 2, peers });
    const mean = new Float64Array(6);
    for (let i = 0; i < peers; i++) {
      const g = await p.gradient(i, 1)(p.optimum);
      for (let j = 0; j < 6; j++) mean[j] += g[j] / peers;
    }
    for (let j = 0; j < 6; j++) expect(Math.abs(mean[j])).toBeLessThan(1e-4);
    expect(Math.abs((await p.gradient(0, 1)(p.optimum))[0])).toBeGreaterThan(1e-3);
  });

  it('rejects bad options and inputs', () => {
    expect(() => createSkewedQuadratic({ d: 0 })).toThrow(/d must/);
    expect(() => createSkewedQuadratic({ spikeProb: 0 })).toThrow(/spikeProb/);
    expect(() => createSkewedQuadratic({ tail: 1 })).toThrow(/tail/);
    const p = createSkewedQuadratic({ d: 4 });
    expect(() => p.gradient(0, 0)).toThrow(/batch/);
    expect(() => p.loss(new Float32Array(3))).toThrow(/expected d = 4/);
    return expect(p.gradient(0, 1)(new Float32Array(3))).rejects.toThrow(/expected d = 4/);
  });
});
