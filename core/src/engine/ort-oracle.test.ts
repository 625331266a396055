import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headDataset, type Batch, type Dataset } from '../data/dataset';
import { createBatchSampler } from '../data/sampler';
import { createModel } from '../models/model';
import { referenceForward } from '../models/reference';
import { loadDataset } from '../node/datasets';
import { createRng } from '../random';
import type { GradientOracle } from './oracle';
import { createOrtOracle } from './ort-oracle';

const model = createModel('mlp');
let oracle: GradientOracle;
let train: Dataset, test: Dataset;

beforeAll(async () => {
  ({ train, test } = await loadDataset('mnist'));
  oracle = await createOrtOracle(model, { backend: 'auto' });
});
afterAll(() => oracle.dispose());

function batchOf(data: Dataset, start: number, size: number): Batch {
  const f = 784;
  return { inputs: data.inputs.slice(start * f, (start + size) * f), labels: data.labels.slice(start, start + size), size };
}

describe('ORT gradient oracle (Node, wasm)', () => {
  it('picks wasm in Node and reports d', () => {
    expect(oracle.backend).toBe('wasm');
    expect(oracle.d).toBe(55_050);
  });

  it('rejects params of the wrong length or type', async () => {
    const batch = batchOf(train, 0, 4);
    await expect(oracle.gradient(new Float32Array(model.d - 1), batch)).rejects.toThrow(/length 55049.*d = 55050/);
    await expect(oracle.gradient(new Float64Array(model.d) as unknown as Float32Array, batch)).rejects.toThrow(/Float32Array/);
    await expect(oracle.evaluate(new Float32Array(10), test)).rejects.toThrow(/d = 55050/);
  });

  it('rejects batches whose sizes do not match', async () => {
    const params = model.init(1);
    const good = batchOf(train, 0, 4);
    await expect(oracle.gradient(params, { ...good, size: 5 })).rejects.toThrow(/3136 input floats for 5 samples/);
    await expect(oracle.gradient(params, { ...good, labels: good.labels.subarray(0, 3) })).rejects.toThrow(/3 labels for 4 samples/);
    await expect(oracle.gradient(params, { ...good, size: 0, inputs: new Float32Array(0), labels: new Uint8Array(0) })).rejects.toThrow(/positive integer/);
    await expect(oracle.gradient(params, { ...good, labels: Uint8Array.of(1, 2, 10, 3) })).rejects.toThrow(/label 10/);
    const wrongShape: Dataset = { ...headDataset(test, 4), inputShape: [1, 27, 29] };
    await expect(oracle.evaluate(params, wrongShape)).rejects.toThrow(/783 features/);
  });

  it('evaluate agrees with the float64 reference across partial batches', async () => {
    const small = await createOrtOracle(model, { backend: 'wasm', evalBatchSize: 128 });
    try {
      const params = model.init(2);
      const data = headDataset(test, 300);
      const got = await small.evaluate(params, data);
      const ref = referenceForward(model, params, data.inputs, data.labels, data.count);
      expect(got.count).toBe(300);
      expect(got.accuracy).toBe(ref.correct / 300);
      expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(1e-4);
    } finally {
      await small.dispose();
    }
  });

  it('overlapping calls are queued and give the same answers as sequential ones', async () => {
    const params = model.init(3);
    const batches = [0, 1, 2].map((i) => batchOf(train, i * 16, 16));
    const together = await Promise.all(batches.map((b) => oracle.gradient(params, b)));
    for (let i = 0; i < 3; i++) {
      const alone = await oracle.gradient(params, batches[i]);
      expect(together[i].loss).toBe(alone.loss);
      expect(together[i].grad).toEqual(alone.grad);
    }
    expect(together[0].grad).not.toEqual(together[1].grad);
  });

  it('a gradient asked for during an evaluation runs before the evaluation ends, which still gives the same numbers', async () => {
    const params = model.init(4);
    const alone = await oracle.evaluate(params, test);
    const order: string[] = [];
    const evaluation = oracle.evaluate(params, test).then((r) => (order.push('evaluation'), r));
    // let the first evaluation run start, as a round's gradient would arrive mid-evaluation
    await new Promise((r) => setTimeout(r, 0));
    const gradient = oracle.gradient(params, batchOf(train, 0, 32)).then((r) => (order.push('gradient'), r));
    const [during] = await Promise.all([evaluation, gradient]);
    expect(order).toEqual(['gradient', 'evaluation']);
    expect(during).toEqual(alone);
    expect(alone.count).toBe(test.count);
  });

  it('SIGNSGD-SIM (sign of momentum) on MNIST-10k reaches >= 90% test accuracy', async () => {
    const x = model.init(1);
    const m = new Float32Array(model.d);
    const steps = 1000, theta = 0.9;
    const sampler = createBatchSampler(train, Uint32Array.from({ length: train.count }, (_, i) => i), 32, createRng(7), { reuseBuffers: true });
    for (let t = 0; t < steps; t++) {
      const { grad } = await oracle.gradient(x, sampler.next());
      // lr decays linearly 1e-3 -> 1e-4: a constant-step sign method keeps bouncing around the optimum
      const lr = 1e-3 * (1 - (0.9 * t) / steps);
      for (let i = 0; i < x.length; i++) {
        m[i] = theta * m[i] + (1 - theta) * grad[i];
        x[i] -= lr * Math.sign(m[i]);
      }
    }
    const result = await oracle.evaluate(x, test);
    expect(result.count).toBe(2000);
    expect(result.accuracy).toBeGreaterThanOrEqual(0.9);
  });

  it('names the backend when a session cannot be opened', async () => {
    await expect(createOrtOracle(model, { backend: 'webgpu' })).rejects.toThrow(/mlp training graph on the webgpu backend/);
  });

  it('a disposed oracle refuses work', async () => {
    const other = await createOrtOracle(model, { backend: 'wasm' });
    await other.dispose();
    await expect(other.gradient(model.init(1), batchOf(train, 0, 2))).rejects.toThrow(/disposed/);
  });
});
