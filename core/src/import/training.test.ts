import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { headDataset, type Dataset } from '../data/dataset';
import { createBatchSampler } from '../data/sampler';
import type { GradientOracle } from '../engine/oracle';
import { createModel, type Model } from '../models/model';
import { loadDataset } from '../node/datasets';
import { createNodeOracle, loadOrtNode } from '../node/ort-node';
import { createRng } from '../random';
import { tabular, tokens } from './tasks';

/**
 * Imported models learn: each required fixture trains in-process with SIGNSGD-SIM (the sign of
 * momentum, the project's single-peer method) from the file's own weights and ends well above
 * chance on held-out data. Digits for the image models; seeded synthetic tasks for the tabular
 * and token models. The two-peer session version of this belongs with the session tests.
 */

const dir = new URL('../../fixtures/onnx/', import.meta.url);
const load = (name: string): Model => createModel({ onnx: new Uint8Array(readFileSync(new URL(name, dir))), name });

async function oracleFor(model: Model): Promise<GradientOracle> {
  return createNodeOracle(model, (await loadOrtNode()) ? 'node' : 'wasm');
}

/** SIGNSGD-SIM (theta 0.9), lr decaying linearly to a tenth; returns held-out accuracy before and after */
async function train(model: Model, train: Dataset, test: Dataset, steps: number, lr: number): Promise<{ before: number; after: number }> {
  const oracle = await oracleFor(model);
  try {
    const x = model.init(0);
    const before = (await oracle.evaluate(x, test)).accuracy;
    const m = new Float32Array(model.d);
    const sampler = createBatchSampler(train, Uint32Array.from({ length: train.count }, (_, i) => i), 32, createRng(7), { reuseBuffers: true });
    for (let t = 0; t < steps; t++) {
      const { grad } = await oracle.gradient(x, sampler.next());
      const rate = lr * (1 - (0.9 * t) / steps);
      for (let i = 0; i < x.length; i++) {
        m[i] = 0.9 * m[i] + 0.1 * grad[i];
        x[i] -= rate * Math.sign(m[i]);
      }
    }
    return { before, after: (await oracle.evaluate(x, test)).accuracy };
  } finally {
    await oracle.dispose();
  }
}

describe('imported models train above chance', () => {
  it('mlp.onnx on MNIST digits: >= 88% (chance 10%)', async () => {
    const { train: tr, test } = await loadDataset('mnist');
    const r = await train(load('mlp.onnx'), tr, headDataset(test, 1000), 400, 2e-3);
    expect(r.before).toBeLessThan(0.25);
    expect(r.after).toBeGreaterThanOrEqual(0.88);
  });

  it('lenet5.onnx (padding, shape sub-graph flatten) on MNIST digits: >= 90%', async () => {
    const { train: tr, test } = await loadDataset('mnist');
    const r = await train(load('lenet5.onnx'), tr, headDataset(test, 1000), 300, 2e-3);
    expect(r.before).toBeLessThan(0.25);
    expect(r.after).toBeGreaterThanOrEqual(0.9);
  });

  it('tabular-layernorm.onnx (opset-13 LayerNorm, GELU, LogSoftmax) on Gaussian clusters: >= 85% (chance 33%)', async () => {
    const rng = createRng(11);
    const centres = [0, 1, 2].map(() => Float64Array.from({ length: 12 }, () => rng.normal()));
    const r = await train(load('tabular-layernorm.onnx'), tabular(3000, rng.fork('train'), centres), tabular(600, rng.fork('test'), centres), 300, 3e-3);
    expect(r.after).toBeGreaterThanOrEqual(0.85);
    expect(r.after - r.before).toBeGreaterThan(0.2);
  });

  it('embedding.onnx (int64 token ids, Gather) on keyword sequences: >= 90% (chance 25%)', async () => {
    const rng = createRng(12);
    const task = { length: 8, vocab: 32, classes: 4, per: 2, marks: 2 };
    const r = await train(load('embedding.onnx'), tokens(3000, rng.fork('train'), task), tokens(600, rng.fork('test'), task), 300, 5e-3);
    expect(r.after).toBeGreaterThanOrEqual(0.9);
    expect(r.after - r.before).toBeGreaterThan(0.3);
  });

  it('attention.onnx (self-attention block) on keyword sequences: >= 90% (chance 33%)', async () => {
    const rng = createRng(13);
    const task = { length: 6, vocab: 20, classes: 3, per: 1, marks: 2 };
    const r = await train(load('attention.onnx'), tokens(3000, rng.fork('train'), task), tokens(600, rng.fork('test'), task), 300, 5e-3);
    expect(r.after).toBeGreaterThanOrEqual(0.9);
  });
});
