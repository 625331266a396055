import type { BrokenBackward } from '../graph/builder';
import type { ModelCaps } from '../import/errors';
import { importOnnx } from '../import/importer';
import { compileNetwork, initParams } from './layers';
import { networkSchema, presetNames, presets, type NetworkSpec, type PresetName } from './network';
import type { Program } from './program';
import { programGraph } from './training';

/**
 * A model: a forward program (from an ONNX file, or from a layer list compiled to ONNX first,
 * so both take the same road), its flat parameter layout, and the graphs the engine runs.
 */

/** the built-in presets (layer lists in network.ts) */
export const modelNames = presetNames;
export type ModelName = PresetName;

/** an ONNX file's bytes (a forward graph as torch.onnx.export writes it) */
export interface OnnxModelSpec {
  readonly onnx: Uint8Array;
  /** shown in logs and errors (e.g. the file name) */
  readonly name?: string;
}

/** what a model is made from; plain data, so it crosses to a worker or the network */
export type ModelSpec = ModelName | NetworkSpec | OnnxModelSpec;

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
  readonly name: string;
  readonly spec: ModelSpec;
  /** number of parameters */
  readonly d: number;
  readonly layout: readonly LayoutEntry[];
  /** per-sample input shape, e.g. [784] or [1, 28, 28] */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly program: Program;
  /**
   * ONNX bytes. Inputs: `x` [N, ...inputShape] (float; token ids as whole numbers for an
   * integer-input model), `labels` one-hot [N, numClasses], one input per layout entry (named
   * as the entry). Outputs: `loss` (mean cross-entropy), `correct` (argmax hits, float) and
   * `grad` [d] in layout order.
   */
  trainingGraph(options?: TrainingGraphOptions): Uint8Array;
  /** Same inputs; outputs `loss` (summed over the batch) and `correct`. */
  evalGraph(): Uint8Array;
  /**
   * Initial parameters. Layer lists: seeded He / Glorot weights, zero biases, unit norm
   * scales. ONNX files: the file's own weights, whatever the seed (every peer gets the same).
   */
  init(seed: number): Float32Array;
}

export interface CreateModelOptions {
  /** limits for ONNX files (default MODEL_CAPS) */
  readonly caps?: Partial<ModelCaps>;
}

const presetCache = new Map<PresetName, Model>();

/**
 * Throws ModelImportError (import/errors.ts) for a file the importer refuses, NetworkError
 * (layers.ts) for a layer list whose shapes do not chain, RangeError for an unknown preset.
 */
export function createModel(spec: ModelSpec, options: CreateModelOptions = {}): Model {
  if (typeof spec === 'string') {
    if (!(presetNames as readonly string[]).includes(spec)) throw new RangeError(`unknown model ${String(spec)}; expected one of ${presetNames.join(', ')}`);
    let model = presetCache.get(spec);
    if (!model) presetCache.set(spec, (model = fromNetwork(presets[spec], spec)));
    return model;
  }
  if ('onnx' in spec) {
    const program = importOnnx(spec.onnx, { caps: options.caps });
    // the file's weights are made flat when asked for: a flat copy kept here would be one more
    // 4d bytes for the life of the model (40 MB at d = 10M)
    const init = (): Float32Array => {
      const weights = new Float32Array(program.params.reduce((a, p) => a + p.data.length, 0));
      let at = 0;
      for (const p of program.params) { weights.set(p.data, at); at += p.data.length; }
      return weights;
    };
    return fromProgram(program, spec.name ?? 'onnx', spec, init);
  }
  return fromNetwork(networkSchema.parse(spec), spec);
}

function fromNetwork(network: NetworkSpec, spec: ModelSpec): Model {
  const { onnx, params } = compileNetwork(network);
  return fromProgram(importOnnx(onnx), network.name ?? 'network', spec, (seed) => initParams(params, seed));
}

function fromProgram(program: Program, name: string, spec: ModelSpec, init: (seed: number) => Float32Array): Model {
  let offset = 0;
  const layout = program.params.map((p): LayoutEntry => {
    const size = p.data.length;
    const entry = { name: p.name, shape: p.shape, offset, size };
    offset += size;
    return entry;
  });
  return {
    name,
    spec,
    d: offset,
    layout,
    inputShape: program.input.shape.slice(1) as number[],
    numClasses: program.numClasses,
    program,
    trainingGraph: (options) => programGraph(program, 'train', { name, broken: options?.broken }),
    evalGraph: () => programGraph(program, 'eval', { name }),
    init,
  };
}
