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
