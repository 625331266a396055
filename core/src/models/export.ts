import { GraphBuilder, type Value } from '../graph/builder';
import { DataType } from '../graph/onnx-proto';
import type { LocalDataSpec } from '../data/local/spec';
import { createModel, type Model, type ModelSpec } from './model';
import { BATCH } from './program';
import { emitForward } from './training';

/**
 * A trained model as a standalone ONNX file: the forward pass of the model's program (the ops
 * the training graph ran, one to one, so its logits are the ones the session's evaluations
 * saw), the trained weights as initializers named as the layout's tensors, the model's own
 * input name, and two outputs, `logits` [N, classes] and `probabilities` (their softmax).
 * Opens in onnxruntime (web or node) and any ONNX tool. Pure: bytes from a model spec and a
 * flat parameter vector, so a finished session's stored snapshot exports the same way.
 *
 * The input is what a peer reads before the session's preprocessing (docs/models.md,
 * "What the exported file takes"): a session whose peers bring their own data (config.data) standardizes
 * or inverts what they read, and those steps are nodes in front of the model (`Sub` 1 for
 * `invert`, then `Sub` mean and `Div` std, constants `preprocess_mean` / `preprocess_std`),
 * so a user feeds the exported file raw CSV values or [0, 1] pixel intensities, never the
 * standardized ones.
 */

export interface ExportOptions {
  /**
   * the session's own-data spec (SessionConfig.data), or undefined for server-hosted data
   * (whose samples the model sees as they are). Required so no caller forgets it.
   */
  readonly data: LocalDataSpec | undefined;
  /** graph name (default: the model's name) */
  readonly name?: string;
}

/**
 * @param params the flat vector in `model.layout` order (length d)
 * @throws RangeError when params has the wrong length or non-finite entries, or the spec's
 *   preprocessing does not fit the model's input (standardize lengths, a token-id input)
 */
export function exportOnnx(model: Model, params: Float32Array, options: ExportOptions): Uint8Array {
  if (!(params instanceof Float32Array) || params.length !== model.d) {
    throw new RangeError(`export: ${params?.length} parameters, model ${model.name} has d = ${model.d}`);
  }
  for (let i = 0; i < params.length; i++) {
    if (!Number.isFinite(params[i])) throw new RangeError(`export: parameter ${i} is ${params[i]}`);
  }
  const { program } = model;
  const b = new GraphBuilder({ name: options.name ?? model.name });
  // token ids enter as integers, as the original file declared them
  const x = b.input(program.input.name, program.input.shape, program.input.kind === 'index' ? DataType.INT64 : DataType.FLOAT);
  const values = new Map<string, Value>([[program.input.name, options.data ? emitPreprocess(b, x, options.data, model) : x]]);
  for (const entry of model.layout) {
    values.set(entry.name, b.namedConstFloat(entry.name, params.subarray(entry.offset, entry.offset + entry.size), entry.shape));
  }
  const logits = emitForward(b, program, values);
  b.output(logits, 'logits');
  b.output(b.emit('Softmax', [logits], { axis: 1 }, [BATCH, program.numClasses]), 'probabilities');
  return b.build();
}

/** exportOnnx from plain data: a model spec (preset name, layer list, ONNX bytes) and its parameters */
export function exportModelOnnx(spec: ModelSpec, params: Float32Array, options: ExportOptions): Uint8Array {
  return exportOnnx(createModel(spec), params, options);
}

/**
 * The per-sample steps a peer applies after reading its file (data/local/csv.ts and
 * images.ts), as graph nodes: images `1 - x` when inverted, then `(x - mean) / std` per CSV
 * feature or per image channel (channel-major, as the samples are laid out). Decoding,
 * resizing and scaling pixels to [0, 1] stay outside: ONNX has no PNG decoder, and [0, 1] is
 * the hosted datasets' convention too.
 */
function emitPreprocess(b: GraphBuilder, x: Value, data: LocalDataSpec, model: Model): Value {
  const invert = data.format === 'images' && data.invert;
  if (!invert && !data.standardize) return x;
  if (model.program.input.kind === 'index') throw new RangeError(`export: the session preprocesses its samples, but model ${model.name} takes token ids`);
  let v = invert ? b.emit('Sub', [b.scalar(1), x], {}, x.shape) : x;
  if (data.standardize) {
    const { mean, std } = data.standardize;
    const shape = model.inputShape;
    const features = shape.reduce((a, c) => a * c, 1);
    let dims: number[];
    let perFeature: (s: readonly number[]) => Float32Array;
    if (data.format === 'csv') {
      if (mean.length !== features) throw new RangeError(`export: the session standardizes ${mean.length} features, model ${model.name} takes ${features}`);
      dims = [...shape];
      perFeature = (s) => Float32Array.from(s);
    } else {
      if (mean.length !== data.channels) throw new RangeError(`export: the session standardizes ${mean.length} channels, its images have ${data.channels}`);
      const plane = features / data.channels;
      // a [C, H, W] input broadcasts one number per channel; any other layout (a flat MLP
      // input) gets the channel-major per-feature vector
      const chw = shape.length === 3 && shape[0] === data.channels;
      dims = chw ? [data.channels, 1, 1] : [...shape];
      perFeature = (s) => (chw ? Float32Array.from(s) : Float32Array.from({ length: features }, (_, i) => s[Math.floor(i / plane)]));
    }
    const m = b.namedConstFloat('preprocess_mean', perFeature(mean), dims);
    const s = b.namedConstFloat('preprocess_std', perFeature(std), dims);
    v = b.emit('Div', [b.emit('Sub', [v, m], {}, x.shape), s], {}, x.shape);
  }
  return v;
}
