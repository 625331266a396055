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
});
