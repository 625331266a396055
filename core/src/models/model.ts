import { GraphBuilder, type BrokenBackward, type Value } from '../graph/builder';
import { createRng } from '../random';
import { paramSpecs, toGraph, type Layer, type ParamSpec } from './layers';

export const modelNames = ['mlp', 'cnn'] as const;
export type ModelName = (typeof modelNames)[number];

/** one parameter tensor inside the flat vector */
export interface LayoutEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
}

export interface TrainingGraphOptions {
  /** drop a backward mask on purpose (tests prove the gradient check catches it) */
  readonly broken?: BrokenBackward;
}

export interface Model {
  readonly name: ModelName;
  /** number of parameters */
  readonly d: number;
  readonly layout: readonly LayoutEntry[];
  /** per-sample input shape, e.g. [784] or [1, 28, 28] */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly layers: readonly Layer[];
  /**
   * ONNX bytes. Inputs: `x` [N, ...inputShape], `labels` one-hot [N, numClasses], one
   * input per layout entry (named as the entry). Outputs: `loss` (mean cross-entropy),
   * `correct` (argmax hits, float) and `grad` [d] in layout order.
   */
  trainingGraph(options?: TrainingGraphOptions): Uint8Array;
  /** Same inputs; outputs `loss` (summed over the batch) and `correct`. */
  evalGraph(): Uint8Array;
  /** seeded He / Glorot weights, zero biases */
  init(seed: number): Float32Array;
}

/** The symbolic batch dimension in every graph. */
export const BATCH = 'N';

const definitions: Record<ModelName, { inputShape: number[]; numClasses: number; layers: Layer[] }> = {
  // The paper's MNIST network: 784-64-64-10 ReLU, d = 55,050.
  mlp: {
    inputShape: [784],
    numClasses: 10,
    layers: [
      { kind: 'dense', name: 'fc1', inputs: 784, outputs: 64, init: 'he' },
      { kind: 'relu' },
      { kind: 'dense', name: 'fc2', inputs: 64, outputs: 64, init: 'he' },
      { kind: 'relu' },
      { kind: 'dense', name: 'fc3', inputs: 64, outputs: 10, init: 'glorot' },
    ],
  },
  // 28x28 -> conv5 (8) -> pool -> 14x14 -> conv5 (16) -> pool -> 7x7x16 = 784 -> 64 -> 10, d = 54,314.
  cnn: {
    inputShape: [1, 28, 28],
    numClasses: 10,
    layers: [
      { kind: 'conv', name: 'conv1', inChannels: 1, outChannels: 8, kernel: 5, pad: 2, init: 'he' },
      { kind: 'relu' },
      { kind: 'maxPool', size: 2 },
      { kind: 'conv', name: 'conv2', inChannels: 8, outChannels: 16, kernel: 5, pad: 2, init: 'he' },
      { kind: 'relu' },
      { kind: 'maxPool', size: 2 },
      { kind: 'flatten' },
      { kind: 'dense', name: 'fc1', inputs: 784, outputs: 64, init: 'he' },
      { kind: 'relu' },
      { kind: 'dense', name: 'fc2', inputs: 64, outputs: 10, init: 'glorot' },
    ],
  },
};

export function createModel(name: ModelName): Model {
  const def = definitions[name];
  if (!def) throw new RangeError(`unknown model ${String(name)}; expected one of ${modelNames.join(', ')}`);
  const specs = paramSpecs(def.layers);
  let offset = 0;
  const layout: LayoutEntry[] = specs.map((s) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const entry = { name: s.name, shape: s.shape, offset, size };
    offset += size;
    return entry;
  });
  const d = offset;

  const graph = (kind: 'train' | 'eval', broken?: BrokenBackward): Uint8Array => {
    const b = new GraphBuilder({ name: `${name}-${kind}`, broken });
    const x = b.input('x', [BATCH, ...def.inputShape]);
    const labels = b.input('labels', [BATCH, def.numClasses]);
    const params = new Map<string, Value>(layout.map((e) => [e.name, b.param(e.name, e.shape)]));
    const logits = toGraph(b, def.layers, x, params);
    const loss = b.softmaxCrossEntropy(logits, labels, kind === 'train' ? 'mean' : 'sum');
    b.output(loss, 'loss');
    b.output(b.correctCount(logits, labels), 'correct');
    if (kind === 'train') b.output(b.concatFlat(b.gradients(loss, [...params.values()])), 'grad');
    return b.build();
  };

  return {
    name,
    d,
    layout,
    inputShape: def.inputShape,
    numClasses: def.numClasses,
    layers: def.layers,
    trainingGraph: (options) => graph('train', options?.broken),
    evalGraph: () => graph('eval'),
    init: (seed) => initParams(specs, layout, d, seed),
  };
}

function initParams(specs: readonly ParamSpec[], layout: readonly LayoutEntry[], d: number, seed: number): Float32Array {
  const out = new Float32Array(d);
  const root = createRng(seed);
  specs.forEach((s, i) => {
    const { offset, size } = layout[i];
    // One stream per tensor, so adding a layer does not reshuffle the others' weights.
    const rng = root.fork(s.name);
    const view = out.subarray(offset, offset + size);
    if (s.init === 'he') {
      const std = Math.sqrt(2 / s.fanIn);
      for (let j = 0; j < size; j++) view[j] = rng.normal() * std;
    } else if (s.init === 'glorot') {
      const limit = Math.sqrt(6 / (s.fanIn + s.fanOut));
      for (let j = 0; j < size; j++) view[j] = (2 * rng.float() - 1) * limit;
    }
  });
  return out;
}
