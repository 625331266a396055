/** A labelled image-classification dataset held in flat typed arrays (row-major samples). */
export interface Dataset {
  readonly name: string;
  /** count * featureSize floats, pixel values scaled to [0, 1] */
  readonly inputs: Float32Array;
  /** class index per sample */
  readonly labels: Uint8Array;
  readonly count: number;
  /** [channels, height, width] for images, [features] otherwise */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
}

/** One mini-batch, copied out of a Dataset. */
export interface Batch {
  readonly inputs: Float32Array;
  readonly labels: Uint8Array;
  readonly size: number;
}

export function featureSize(data: Pick<Dataset, 'inputShape'>): number {
  return data.inputShape.reduce((a, b) => a * b, 1);
}

/**
 * Every dataset here is 8-bit imagery, so pixels are k/255 exactly; one table keeps the u8 -> f32
 * conversion identical everywhere (loaders, codec), which is what makes the codec lossless.
 */
const U8_TO_UNIT = (() => {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = i / 255;
  return t;
})();

export function pixelsToInputs(pixels: Uint8Array): Float32Array {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = U8_TO_UNIT[pixels[i]];
  return out;
}

/** Inverse of pixelsToInputs; throws on values outside [0, 1] (or NaN) instead of clamping them silently. */
export function inputsToPixels(inputs: Float32Array): Uint8Array {
  const out = new Uint8Array(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const v = inputs[i];
    if (!(v >= 0 && v <= 1)) throw new RangeError(`input ${i} is ${v}, outside [0, 1]`);
    out[i] = Math.round(v * 255);
  }
  return out;
}

/** Checks the invariants every consumer relies on; returns the dataset for chaining. */
export function checkDataset<T extends Dataset>(data: T): T {
  const f = featureSize(data);
  if (!Number.isInteger(data.count) || data.count < 0) throw new RangeError(`dataset ${data.name}: bad count ${data.count}`);
  if (!(f > 0) || !data.inputShape.every((s) => Number.isInteger(s) && s > 0)) {
    throw new RangeError(`dataset ${data.name}: bad input shape [${data.inputShape.join(', ')}]`);
  }
  if (data.inputs.length !== data.count * f) {
    throw new RangeError(`dataset ${data.name}: ${data.inputs.length} inputs for ${data.count} samples of ${f} features`);
  }
  if (data.labels.length !== data.count) throw new RangeError(`dataset ${data.name}: ${data.labels.length} labels for ${data.count} samples`);
  if (!Number.isInteger(data.numClasses) || data.numClasses < 1 || data.numClasses > 256) {
    throw new RangeError(`dataset ${data.name}: bad class count ${data.numClasses}`);
  }
  for (let i = 0; i < data.count; i++) {
    if (data.labels[i] >= data.numClasses) throw new RangeError(`dataset ${data.name}: label ${data.labels[i]} of sample ${i} >= ${data.numClasses} classes`);
  }
  return data;
}

/** The samples at `indices`, copied, in that order (an evaluation shard, a test subset). */
export function subsetDataset(data: Dataset, indices: ArrayLike<number>, name = data.name): Dataset {
  const f = featureSize(data);
  const inputs = new Float32Array(indices.length * f);
  const labels = new Uint8Array(indices.length);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j];
    if (!(Number.isInteger(i) && i >= 0 && i < data.count)) throw new RangeError(`index ${i} outside dataset ${data.name} of ${data.count}`);
    inputs.set(data.inputs.subarray(i * f, (i + 1) * f), j * f);
    labels[j] = data.labels[i];
  }
  return { name, inputs, labels, count: indices.length, inputShape: data.inputShape, numClasses: data.numClasses };
}

/** The first `count` samples as views (no copy): cheap limits on cached datasets. */
export function headDataset(data: Dataset, count: number): Dataset {
  if (count >= data.count) return data;
  if (!(Number.isInteger(count) && count >= 0)) throw new RangeError(`head count must be a non-negative integer, got ${count}`);
  const f = featureSize(data);
  return { ...data, inputs: data.inputs.subarray(0, count * f), labels: data.labels.subarray(0, count), count };
}

/** Samples per class. */
export function labelHistogram(labels: ArrayLike<number>, numClasses: number, indices?: ArrayLike<number>): Uint32Array {
  const h = new Uint32Array(numClasses);
  if (indices) for (let j = 0; j < indices.length; j++) h[labels[indices[j]]]++;
  else for (let i = 0; i < labels.length; i++) h[labels[i]]++;
  return h;
}
