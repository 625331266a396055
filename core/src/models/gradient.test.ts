import { describe, expect, it } from 'vitest';
import type { Batch } from '../data/dataset';
import { createOrtOracle } from '../engine/ort-oracle';
import { createRng } from '../random';
import { gradCheck } from './gradcheck';
import { createModel, type ModelName } from './model';
import { referenceForward } from './reference';

/** image-like inputs: sparse, in [0, 1], like MNIST strokes */
function randomBatch(size: number, features: number, classes: number, seed: number): Batch {
  const rng = createRng(seed);
  const inputs = new Float32Array(size * features).map(() => (rng.float() < 0.3 ? rng.float() : 0));
  const labels = new Uint8Array(size).map(() => rng.int(classes));
  return { inputs, labels, size };
}

async function check(name: ModelName, broken?: { relu?: boolean; maxPool?: boolean }) {
  const model = createModel(name);
  const oracle = await createOrtOracle(model, { backend: 'wasm', graph: { broken } });
  try {
    const params = model.init(11);
    const batch = randomBatch(4, 784, model.numClasses, 12);
    const result = await oracle.gradient(params, batch);
    const ref = referenceForward(model, params, batch.inputs, batch.labels, batch.size);
    return { result, ref, check: gradCheck(model, params, batch, result.grad, createRng(13)) };
  } finally {
    await oracle.dispose();
  }
}

describe.each(['mlp', 'cnn'] as const)('%s training graph', (name) => {
  it('gradient matches central finite differences of the float64 reference', async () => {
    const { result, ref, check: c } = await check(name);
    expect(result.grad.length).toBe(createModel(name).d);
    expect(Math.abs(result.loss - ref.loss) / ref.loss).toBeLessThan(1e-4);
    expect(result.correct).toBe(ref.correct);
    expect(c.maxRelError).toBeLessThan(1e-3);
    // the probe must see real gradients, not a wall of zeros that would pass any check
    expect(c.numeric.filter((v) => Math.abs(v) > 1e-4).length).toBeGreaterThan(15);
  });
});

describe('a broken backward rule is caught by the same check', () => {
  it('MLP without the Relu mask', async () => {
    const { result, ref, check: c } = await check('mlp', { relu: true });
    expect(Math.abs(result.loss - ref.loss) / ref.loss).toBeLessThan(1e-4); // forward untouched
    expect(c.maxRelError).toBeGreaterThan(1e-2);
  });
  it('CNN without the MaxPool mask', async () => {
    const { check: c } = await check('cnn', { maxPool: true });
    expect(c.maxRelError).toBeGreaterThan(1e-2);
  });
});
