/**
 * What the importer refuses, and the limits it enforces. Every refusal is a ModelImportError
 * whose message names the node, value or limit involved; nothing is returned half-built.
 */
export type ImportErrorCode =
  /** not an ONNX model, or its bytes contradict themselves */
  | 'corrupt'
  /** over MODEL_CAPS (or the caps passed in) */
  | 'too-large'
  /** default-domain opset outside 13..17 */
  | 'opset'
  /** an op this importer cannot differentiate (or not in that position) */
  | 'unsupported-op'
  /** the input is not one float or integer tensor [batch, ...fixed dims] */
  | 'bad-input'
  /** the output is not logits [batch, classes] */
  | 'bad-output'
  /** weights that cannot be trained as they are (integer, half, external, training-mode statistics) */
  | 'bad-weights'
  /** an op whose shapes or attributes do not fit together */
  | 'bad-graph';

export class ModelImportError extends Error {
  override readonly name = 'ModelImportError';
  constructor(
    readonly code: ImportErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ModelCaps {
  /** size of the .onnx file */
  readonly bytes: number;
  /** trainable parameters (d) */
  readonly params: number;
  /** nodes in the file's graph */
  readonly nodes: number;
}

/**
 * Defaults: 64 MiB of file, 16 Mi parameters (64 MiB of float32; a peer holds a few copies of
 * the vector: parameters, momentum, gradient, snapshot), 10,000 nodes.
 */
export const MODEL_CAPS: ModelCaps = { bytes: 64 * 2 ** 20, params: 16 * 2 ** 20, nodes: 10_000 };

/** the default-domain ops a model may use (besides those only in constant sub-graphs) */
export const SUPPORTED_OPS = [
  'Add', 'AveragePool', 'BatchNormalization', 'Concat', 'Constant', 'Conv', 'Div', 'Dropout', 'Erf', 'Flatten', 'Gather', 'Gemm',
  'GlobalAveragePool', 'Identity', 'LayerNormalization', 'LeakyRelu', 'LogSoftmax', 'MatMul', 'MaxPool', 'Mul', 'Neg', 'Pow',
  'ReduceMean', 'ReduceSum', 'Relu', 'Reshape', 'Shape', 'Sigmoid', 'Softmax', 'Sqrt', 'Squeeze', 'Sub', 'Tanh', 'Transpose', 'Unsqueeze',
] as const;

/** ops folded away when all their inputs are constants (shape sub-graphs), and only then */
export const CONSTANT_ONLY_OPS = ['Cast', 'ConstantOfShape', 'Equal', 'Expand', 'Range', 'Slice', 'Where'] as const;

export function formatBytes(n: number): string {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}
