import { GraphBuilder, type Value } from '../graph/builder';
import { DataType } from '../graph/onnx-proto';
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
 */

export interface ExportOptions {
  /** graph name (default: the model's name) */
  readonly name?: string;
}

/**
 * @param params the flat vector in `model.layout` order (length d)
 * @throws RangeError when params has the wrong length or non-finite entries
 */
export function exportOnnx(model: Model, params: Float32Array, options: ExportOptions = {}): Uint8Array {
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
  const values = new Map<string, Value>([[program.input.name, x]]);
  for (const entry of model.layout) {
    values.set(entry.name, b.namedConstFloat(entry.name, params.subarray(entry.offset, entry.offset + entry.size), entry.shape));
  }
  const logits = emitForward(b, program, values);
  b.output(logits, 'logits');
  b.output(b.emit('Softmax', [logits], { axis: 1 }, [BATCH, program.numClasses]), 'probabilities');
  return b.build();
}

/** exportOnnx from plain data: a model spec (preset name, layer list, ONNX bytes) and its parameters */
export function exportModelOnnx(spec: ModelSpec, params: Float32Array, options: ExportOptions = {}): Uint8Array {
  return exportOnnx(createModel(spec), params, options);
}
