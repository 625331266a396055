import type { Rng } from '../random';
import { featureSize, type Batch, type Dataset } from './dataset';
import { shuffleInPlace } from './partition';

export interface BatchSampler {
  /** the next mini-batch of this shard */
  next(): Batch;
  /** completed passes over the shard */
  readonly epoch: number;
  /** samples per batch: min(batchSize, shard size) */
  readonly batchSize: number;
}

export interface SamplerOptions {
  /**
   * Reuse one pair of batch buffers across calls (no allocation per step). Only safe when the
   * caller is done with a batch before asking for the next one, e.g. `await oracle.gradient(x,
   * sampler.next())` in sequence. Off by default: a batch stays valid forever.
   */
  reuseBuffers?: boolean;
}

/**
 * Shuffled epochs without replacement over a shard: each epoch is a fresh permutation and every
 * sample appears once per epoch. A batch that straddles an epoch boundary takes the tail of one
 * permutation and the head of the next, so all batches have the same size (a short last batch
 * would weigh its samples more). A shard smaller than `batchSize` yields whole-shard batches.
 */
export function createBatchSampler(data: Dataset, indices: ArrayLike<number>, batchSize: number, rng: Rng, options: SamplerOptions = {}): BatchSampler {
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  if (indices.length === 0) throw new RangeError(`cannot sample from an empty shard of ${data.name}`);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j];
    if (!(Number.isInteger(i) && i >= 0 && i < data.count)) throw new RangeError(`shard index ${i} outside ${data.name} of ${data.count} samples`);
  }
  const f = featureSize(data);
  const size = Math.min(batchSize, indices.length);
  const order = Uint32Array.from(indices);
  shuffleInPlace(order, rng);
  let at = 0, epoch = 0;
  const reuse = options.reuseBuffers === true;
  const sharedInputs = reuse ? new Float32Array(size * f) : null;
  const sharedLabels = reuse ? new Uint8Array(size) : null;
  return {
    get epoch() { return epoch; },
    batchSize: size,
    next(): Batch {
      const inputs = sharedInputs ?? new Float32Array(size * f);
      const labels = sharedLabels ?? new Uint8Array(size);
      for (let b = 0; b < size; b++) {
        if (at === order.length) { shuffleInPlace(order, rng); at = 0; epoch++; }
        const i = order[at++];
        inputs.set(data.inputs.subarray(i * f, (i + 1) * f), b * f);
        labels[b] = data.labels[i];
      }
      return { inputs, labels, size };
    },
  };
}
