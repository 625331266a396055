import { describe, expect, it } from 'vitest';
import { createRng } from '../random';
import { featureSize } from './dataset';
import { createBatchSampler } from './sampler';
import { createSyntheticDatasets } from './synthetic';

const { train } = createSyntheticDatasets({ seed: 2, trainCount: 200, testCount: 1 });
const f = featureSize(train);

/** which dataset row a batch row came from (rows are distinct with overwhelming probability) */
function rowIndex(batchInputs: Float32Array, b: number): number {
  const row = batchInputs.subarray(b * f, (b + 1) * f);
  for (let i = 0; i < train.count; i++) {
    let same = true;
    for (let k = 0; k < f && same; k++) same = train.inputs[i * f + k] === row[k];
    if (same) return i;
  }
  return -1;
}

describe('batch sampler', () => {
  it('covers each shard sample exactly once per epoch, with matching labels', () => {
    const shard = Uint32Array.from({ length: 30 }, (_, k) => 3 * k + 1);
    const sampler = createBatchSampler(train, shard, 7, createRng(1));
    const counts = new Map<number, number>();
    // 10 batches of 7 = 70 draws over 30 samples; batches straddle epoch boundaries
    for (let step = 0; step < 10; step++) {
      const batch = sampler.next();
      expect(batch.size).toBe(7);
      for (let b = 0; b < batch.size; b++) {
        const i = rowIndex(batch.inputs, b);
        expect(shard.includes(i)).toBe(true);
        expect(batch.labels[b]).toBe(train.labels[i]);
        counts.set(i, (counts.get(i) ?? 0) + 1);
      }
    }
    // 70 draws over 30 samples: two complete epochs plus 10 of the third
    expect(sampler.epoch).toBe(2);
    const values = [...counts.values()];
    expect(values.every((c) => c === 2 || c === 3)).toBe(true);
    expect(values.filter((c) => c === 3).length).toBe(10);
  });

  it('is deterministic per seed and different across seeds', () => {
    const shard = Uint32Array.from({ length: 100 }, (_, k) => k);
    const a = createBatchSampler(train, shard, 16, createRng(4)).next();
    const b = createBatchSampler(train, shard, 16, createRng(4)).next();
    const c = createBatchSampler(train, shard, 16, createRng(5)).next();
    expect(b.inputs).toEqual(a.inputs);
    expect(c.labels).not.toEqual(a.labels);
  });

  it('reuses buffers only when asked, and caps the batch at the shard size', () => {
    const shard = [5, 9, 13];
    const fresh = createBatchSampler(train, shard, 2, createRng(1));
    expect(fresh.next().inputs).not.toBe(fresh.next().inputs);
    const reused = createBatchSampler(train, shard, 2, createRng(1), { reuseBuffers: true });
    expect(reused.next().inputs).toBe(reused.next().inputs);
    const capped = createBatchSampler(train, shard, 32, createRng(1));
    expect(capped.batchSize).toBe(3);
    const whole = capped.next();
    expect(new Set(Array.from({ length: 3 }, (_, b) => rowIndex(whole.inputs, b)))).toEqual(new Set(shard));
    expect(() => createBatchSampler(train, [], 4, createRng(1))).toThrow(/empty shard/);
    expect(() => createBatchSampler(train, [train.count], 4, createRng(1))).toThrow(/outside/);
  });

  it('goes on from a saved state with the batches it would have drawn, across epochs', () => {
    const shard = Array.from({ length: 50 }, (_, i) => 3 * i);
    const a = createBatchSampler(train, shard, 16, createRng(4));
    for (let i = 0; i < 5; i++) a.next();
    // as a checkpoint file gives it back: a Node Buffer at an odd offset of a larger pool
    const saved = a.state();
    const pool = Buffer.alloc(saved.length + 7);
    pool.set(saved, 3);
    const b = createBatchSampler(train, Array.from({ length: 40 }, (_, i) => i), 16, createRng(99));
    b.restore(pool.subarray(3, 3 + saved.length));
    expect(b.epoch).toBe(a.epoch);
    for (let i = 0; i < 12; i++) {
      const [x, y] = [a.next(), b.next()];
      expect(Array.from(y.labels)).toEqual(Array.from(x.labels));
      expect(y.inputs).toEqual(x.inputs);
    }
    expect(b.epoch).toBe(a.epoch);
  });

  it('refuses bytes that are not a state of a sampler over this dataset', () => {
    const a = createBatchSampler(train, [1, 2, 3, 4], 2, createRng(1));
    const good = a.state();
    const words = () => new Uint32Array(good.slice().buffer);
    const b = createBatchSampler(train, [5, 6], 2, createRng(2));
    expect(() => b.restore(new Uint8Array(7))).toThrow(/whole 32-bit words/);
    const badTag = words();
    badTag[0] ^= 1;
    expect(() => b.restore(new Uint8Array(badTag.buffer))).toThrow(/not a sampler state/);
    const outside = words();
    outside[12] = train.count;
    expect(() => b.restore(new Uint8Array(outside.buffer))).toThrow(/outside a dataset/);
    const beyond = words();
    beyond[1] = 5;
    expect(() => b.restore(new Uint8Array(beyond.buffer))).toThrow(/beyond/);
    // a state whose shard would change the batch size (2 samples here, 3 there)
    expect(() => createBatchSampler(train, [5, 6], 3, createRng(2)).restore(good)).toThrow(/batches other than 2/);
  });
});
