import type { Batch, Dataset } from '../data/dataset';

export interface GradientResult {
  /** mean cross-entropy over the batch */
  readonly loss: number;
  /** correctly classified samples in the batch */
  readonly correct: number;
  /** gradient of the mean loss, in the model's flat parameter layout (length d) */
  readonly grad: Float32Array;
}

export interface Evaluation {
  readonly loss: number;
  readonly accuracy: number;
  readonly count: number;
}

export type Backend = 'wasm' | 'webgpu' | 'node';

/** Computes loss and gradient of a model at a parameter vector. */
export interface GradientOracle {
  readonly backend: Backend;
  /** number of parameters */
  readonly d: number;
  gradient(params: Float32Array, batch: Batch): Promise<GradientResult>;
  evaluate(params: Float32Array, data: Dataset): Promise<Evaluation>;
  dispose(): Promise<void>;
}
