import type { Batch } from '../data/dataset';
import type { Rng } from '../random';
import type { Model } from './model';
import { referenceForward } from './reference';

/**
 * Central finite differences of the float64 reference loss on a few coordinates, compared
 * with a gradient computed elsewhere (the ONNX graph). Coordinates are spread round-robin
 * over the parameter tensors so small tensors (biases, conv kernels) are always probed.
 */
export interface GradCheckResult {
  readonly coords: number[];
  readonly analytic: number[];
  readonly numeric: number[];
  /** |analytic - numeric| / max(|analytic|, |numeric|, floor) per coordinate */
  readonly relErrors: number[];
  readonly maxRelError: number;
}

/**
 * A random batch a model accepts: standard normal features (image-like models get the same),
 * token ids uniform in [0, indexBound) for an integer input, uniform labels.
 */
export function randomBatch(model: Pick<Model, 'program' | 'inputShape' | 'numClasses'>, size: number, rng: Rng): Batch {
  const features = model.inputShape.reduce((a, b) => a * b, 1);
  const bound = model.program.input.indexBound;
  const inputs = new Float32Array(size * features).map(() => (bound === null ? rng.normal() : rng.int(bound)));
  const labels = new Uint8Array(size).map(() => rng.int(model.numClasses));
  return { inputs, labels, size };
}

export function gradCheck(
  model: Model,
  params: Float32Array,
  batch: Batch,
  grad: Float32Array,
  rng: Rng,
  options: { coords?: number; eps?: number; floor?: number } = {},
): GradCheckResult {
  const count = options.coords ?? 30;
  const eps = options.eps ?? 1e-6;
  // Float32 gradients carry ~1e-7 absolute noise; below this size a relative error says nothing.
  const floor = options.floor ?? 1e-5;
  const x = Float64Array.from(params);
  const loss = (): number => referenceForward(model, x, batch.inputs, batch.labels, batch.size).loss;
  const coords: number[] = [], analytic: number[] = [], numeric: number[] = [], relErrors: number[] = [];
  for (let j = 0; j < count; j++) {
    const entry = model.layout[j % model.layout.length];
    const i = entry.offset + rng.int(entry.size);
    const saved = x[i];
    x[i] = saved + eps;
    const up = loss();
    x[i] = saved - eps;
    const down = loss();
    x[i] = saved;
    const fd = (up - down) / (2 * eps);
    coords.push(i);
    analytic.push(grad[i]);
    numeric.push(fd);
    relErrors.push(Math.abs(grad[i] - fd) / Math.max(Math.abs(grad[i]), Math.abs(fd), floor));
  }
  return { coords, analytic, numeric, relErrors, maxRelError: Math.max(...relErrors) };
}
