import type { Window2d } from '../graph/ops-spatial';

/**
 * A model's forward pass as the importer leaves it (core/src/import): a straight list of the
 * ops the autodiff knows, in topological order, with every shape fixed except the batch. It
 * is the one description that both the training graph (training.ts, ONNX nodes with backward
 * rules) and the float64 reference (reference.ts, plain loops) are made from, so a gradient
 * check compares two independent implementations of the same network.
 *
 * Exporters' conveniences are gone by this point: Identity, Dropout and Flatten/Squeeze/
 * Unsqueeze are aliases or Reshapes, LayerNormalization and inference BatchNormalization are
 * their arithmetic, constant sub-graphs (shape computations included) are folded.
 */

/** the symbolic batch dimension, as in every graph here */
export const BATCH = 'N';

/** a dimension: fixed, or the batch */
export type Dim = number | typeof BATCH;

interface Base {
  /** the value this op defines */
  readonly out: string;
  /** the ONNX node it came from, for messages */
  readonly source: string;
}

export type Unary = 'Relu' | 'Tanh' | 'Sigmoid' | 'Erf' | 'Sqrt' | 'Neg';
export type Binary = 'Add' | 'Sub' | 'Mul' | 'Div' | 'Pow';

/** what an op is, apart from where its output goes */
export type NodeBody =
  | { readonly op: 'Gemm'; readonly a: string; readonly b: string; readonly c: string | null; readonly transA: boolean; readonly transB: boolean; readonly alpha: number; readonly beta: number }
  | { readonly op: 'MatMul'; readonly a: string; readonly b: string }
  | { readonly op: Binary; readonly a: string; readonly b: string }
  | { readonly op: Unary; readonly x: string }
  | { readonly op: 'LeakyRelu'; readonly x: string; readonly alpha: number }
  | { readonly op: 'Softmax' | 'LogSoftmax'; readonly x: string; readonly axis: number }
  | { readonly op: 'Conv'; readonly x: string; readonly w: string; readonly bias: string | null; readonly window: Window2d; readonly group: number }
  | { readonly op: 'MaxPool'; readonly x: string; readonly window: Window2d; readonly ceil: boolean }
  | { readonly op: 'AveragePool'; readonly x: string; readonly window: Window2d; readonly ceil: boolean; readonly countIncludePad: boolean }
  /** to the shape recorded for `out` */
  | { readonly op: 'Reshape'; readonly x: string }
  | { readonly op: 'Transpose'; readonly x: string; readonly perm: readonly number[] }
  | { readonly op: 'Concat'; readonly xs: readonly string[]; readonly axis: number }
  | { readonly op: 'ReduceSum' | 'ReduceMean'; readonly x: string; readonly axes: readonly number[]; readonly keepdims: boolean }
  /** rows of `table` along axis 0 (an embedding); `indices` holds integers */
  | { readonly op: 'Gather'; readonly table: string; readonly indices: string };

export type ProgramNode = Base & NodeBody;

export type ProgramOp = ProgramNode['op'];

/** the values a node reads, in its ONNX input order */
export function nodeInputs(node: NodeBody): string[] {
  switch (node.op) {
    case 'Gemm': return node.c ? [node.a, node.b, node.c] : [node.a, node.b];
    case 'MatMul': case 'Add': case 'Sub': case 'Mul': case 'Div': case 'Pow': return [node.a, node.b];
    case 'Conv': return node.bias ? [node.x, node.w, node.bias] : [node.x, node.w];
    case 'Concat': return [...node.xs];
    case 'Gather': return [node.table, node.indices];
    default: return [node.x];
  }
}

export interface ProgramParam {
  readonly name: string;
  readonly shape: readonly number[];
  /** the file's values: the starting point of an imported model */
  readonly data: Float32Array;
}

export interface ProgramConst {
  readonly shape: readonly number[];
  readonly data: Float32Array;
  /** integer-valued (Gather indices), written as int64 */
  readonly integer: boolean;
}

export interface ProgramInput {
  /** the model's input name in its file */
  readonly name: string;
  /** [N, ...per-sample shape] */
  readonly shape: readonly Dim[];
  /**
   * 'index': the file declares an integer input (token ids for an embedding); samples still
   * travel as floats holding whole numbers in [0, indexBound)
   */
  readonly kind: 'float' | 'index';
  readonly indexBound: number | null;
}

export interface Program {
  readonly input: ProgramInput;
  /** trainable tensors in the file's initializer order: the flat vector's layout */
  readonly params: readonly ProgramParam[];
  readonly consts: ReadonlyMap<string, ProgramConst>;
  readonly nodes: readonly ProgramNode[];
  /** the shape of every value: input, params, consts and node outputs */
  readonly shapes: ReadonlyMap<string, readonly Dim[]>;
  /** logits [N, numClasses] */
  readonly output: string;
  readonly numClasses: number;
  readonly opset: number;
  /** op types of the file's nodes, sorted, before folding and lowering (for `model check`) */
  readonly sourceOps: readonly string[];
}
