import { restoreRng, type Rng, type RngState } from '../random';
import { featureSize, type Batch, type Dataset } from './dataset';
import { shuffleInPlace } from './partition';

export interface BatchSampler {
  /** the next mini-batch of this shard */
  next(): Batch;
  /** completed passes over the shard */
  readonly epoch: number;
  /** samples per batch: min(batchSize, shard size) */
  readonly batchSize: number;
  /** where the sampler stands, as bytes (checkpoints): the current permutation, the position in it, its stream */
  state(): Uint8Array;
  /**
   * Continues from `state` (of a sampler over the same dataset): the batches that sampler would
   * have drawn next, on its shard. Throws on bytes that are not such a state.
   */
  restore(state: Uint8Array): void;
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
export function createBatchSampler(data: Dataset, indices: ArrayLike<number>, batchSize: number, stream: Rng, options: SamplerOptions = {}): BatchSampler {
  let rng = stream;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  if (indices.length === 0) throw new RangeError(`cannot sample from an empty shard of ${data.name}`);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j];
    if (!(Number.isInteger(i) && i >= 0 && i < data.count)) throw new RangeError(`shard index ${i} outside ${data.name} of ${data.count} samples`);
  }
  const f = featureSize(data);
  const size = Math.min(batchSize, indices.length);
  let order: Uint32Array = Uint32Array.from(indices);
  shuffleInPlace(order, rng);
  let at = 0, epoch = 0;
  const reuse = options.reuseBuffers === true;
  const sharedInputs = reuse ? new Float32Array(size * f) : null;
  const sharedLabels = reuse ? new Uint8Array(size) : null;
  return {
    get epoch() { return epoch; },
    batchSize: size,
    state: () => encodeSamplerState(order, at, epoch, rng.state()),
    restore(bytes) {
      const s = decodeSamplerState(bytes, data.count);
      if (Math.min(batchSize, s.order.length) !== size) throw new RangeError(`sampler state is of a shard of ${s.order.length} samples, which gives batches other than ${size}`);
      order = s.order;
      at = s.at;
      epoch = s.epoch;
      rng = restoreRng(s.rng);
    },
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

/*
 * State bytes, little-endian u32 words: a tag, at, epoch, the stream (4 words, base, whether a
 * normal is cached, its float64 as 2 words), the shard size n, then the n sample indices in
 * their current order.
 */
const STATE_TAG = 0x53414d31; // "SAM1"
const HEAD = 12;

function encodeSamplerState(order: Uint32Array, at: number, epoch: number, r: RngState): Uint8Array {
  const words = new Uint32Array(HEAD + order.length);
  const spare = new Float64Array(1);
  spare[0] = r.spare ?? 0;
  const spareWords = new Uint32Array(spare.buffer);
  words.set([STATE_TAG, at, epoch, ...r.words, r.base, r.spare === null ? 0 : 1, spareWords[0], spareWords[1], order.length]);
  words.set(order, HEAD);
  return new Uint8Array(words.buffer);
}

function decodeSamplerState(bytes: Uint8Array, count: number): { order: Uint32Array; at: number; epoch: number; rng: RngState } {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength % 4 !== 0 || bytes.byteLength < 4 * (HEAD + 1)) throw new RangeError('sampler state must be whole 32-bit words, a header and at least one index');
  // a copy: `bytes` may be a view at any offset (a Node Buffer's slice() is a view too)
  const words = new Uint32Array(new Uint8Array(bytes).buffer);
  if (words[0] !== STATE_TAG) throw new RangeError('not a sampler state');
  const n = words[11];
  if (words.length !== HEAD + n || n === 0) throw new RangeError(`sampler state says ${n} indices but holds ${words.length - HEAD}`);
  const order = words.slice(HEAD);
  for (const i of order) if (i >= count) throw new RangeError(`sampler state index ${i} outside a dataset of ${count} samples`);
  const at = words[1];
  if (at > n) throw new RangeError(`sampler state position ${at} beyond its ${n} indices`);
  const spare = new Float64Array(new Uint32Array([words[9], words[10]]).buffer)[0];
  return { order, at, epoch: words[2], rng: { words: [words[3], words[4], words[5], words[6]], base: words[7], spare: words[8] === 1 ? spare : null } };
}
