import type { Model } from './model';
import { BATCH, nodeInputs, type Dim, type Program, type ProgramNode } from './program';
import * as t from './tensor64';

/**
 * A plain float64 forward pass and loss for any model, written independently of the ONNX
 * graph: the yardstick for gradient checks (central finite differences of this loss) and for
 * the graph's forward loss. Slow by design: clarity over speed.
 */
export interface ReferenceResult {
  /** mean cross-entropy */
  readonly loss: number;
  /** summed cross-entropy */
  readonly lossSum: number;
  /** argmax hits (first index wins ties, as ONNX ArgMax) */
  readonly correct: number;
  /** [count, numClasses] */
  readonly logits: Float64Array;
}

/** a dims list with the batch resolved to `count` */
export function concreteShape(shape: readonly Dim[], count: number): number[] {
  return shape.map((d) => (d === BATCH ? count : d));
}

/** One op on float64 tensors; `outShape` is the op's output shape (Reshape's target). */
export function evaluateNode(node: ProgramNode, args: readonly t.T64[], outShape: readonly number[]): t.T64 {
  const [a, b] = args;
  switch (node.op) {
    case 'Gemm': return t.gemm(a, b, args[2] ?? null, node);
    case 'MatMul': return t.matmul(a, b);
    case 'Add': return t.binary(a, b, (x, y) => x + y);
    case 'Sub': return t.binary(a, b, (x, y) => x - y);
    case 'Mul': return t.binary(a, b, (x, y) => x * y);
    case 'Div': return t.binary(a, b, (x, y) => x / y);
    case 'Pow': return t.binary(a, b, (x, y) => x ** y);
    case 'Relu': return t.map(a, (x) => (x > 0 ? x : 0));
    case 'Tanh': return t.map(a, Math.tanh);
    case 'Sigmoid': return t.map(a, (x) => 1 / (1 + Math.exp(-x)));
    case 'Erf': return t.map(a, t.erf);
    case 'Sqrt': return t.map(a, Math.sqrt);
    case 'Neg': return t.map(a, (x) => -x);
    case 'LeakyRelu': return t.map(a, (x) => (x > 0 ? x : node.alpha * x));
    case 'Softmax': return t.softmax(a, node.axis, false);
    case 'LogSoftmax': return t.softmax(a, node.axis, true);
    case 'Conv': return t.conv2d(a, b, args[2] ?? null, node.window, node.group);
    case 'MaxPool': return t.pool2d(a, node.window, node.ceil, 'max');
    case 'AveragePool': return t.pool2d(a, node.window, node.ceil, { countIncludePad: node.countIncludePad });
    case 'Reshape': return { shape: outShape, data: a.data };
    case 'Transpose': return t.transpose(a, node.perm);
    case 'Concat': return t.concat(args, node.axis);
    case 'ReduceSum': return t.reduce(a, node.axes, node.keepdims, false);
    case 'ReduceMean': return t.reduce(a, node.axes, node.keepdims, true);
    case 'Gather': return t.gatherRows(a, b);
  }
}

/** the logits [count, numClasses] of a program at flat parameters `params` (layout order) */
export function runProgram(program: Program, params: ArrayLike<number>, inputs: ArrayLike<number>, count: number): t.T64 {
  const values = new Map<string, t.T64>();
  values.set(program.input.name, { shape: concreteShape(program.input.shape, count), data: Float64Array.from(inputs) });
  let offset = 0;
  for (const p of program.params) {
    const size = t.sizeOf(p.shape);
    const data = new Float64Array(size);
    for (let i = 0; i < size; i++) data[i] = params[offset + i];
    values.set(p.name, { shape: p.shape, data });
    offset += size;
  }
  if (offset !== params.length) throw new RangeError(`params has length ${params.length}, model needs ${offset}`);
  for (const [name, c] of program.consts) values.set(name, { shape: c.shape, data: Float64Array.from(c.data) });
  const get = (name: string): t.T64 => {
    const v = values.get(name);
    if (!v) throw new Error(`reference: value ${name} is not defined`);
    return v;
  };
  for (const node of program.nodes) {
    values.set(node.out, evaluateNode(node, nodeInputs(node).map(get), concreteShape(program.shapes.get(node.out)!, count)));
  }
  return get(program.output);
}

export function referenceForward(
  model: Pick<Model, 'program' | 'd' | 'inputShape' | 'numClasses'>,
  params: ArrayLike<number>,
  inputs: ArrayLike<number>,
  labels: ArrayLike<number>,
  count: number,
): ReferenceResult {
  if (params.length !== model.d) throw new RangeError(`params has length ${params.length}, model needs ${model.d}`);
  const features = model.inputShape.reduce((a, b) => a * b, 1);
  if (inputs.length !== count * features || labels.length !== count) throw new RangeError('inputs / labels do not match count');
  const k = model.numClasses;
  const logits = runProgram(model.program, params, inputs, count).data;
  if (logits.length !== count * k) throw new Error(`model produced ${logits.length} logits, expected ${count * k}`);
  let lossSum = 0, correct = 0;
  for (let n = 0; n < count; n++) {
    const z = logits.subarray(n * k, (n + 1) * k);
    let max = -Infinity, arg = 0;
    for (let c = 0; c < k; c++) if (z[c] > max) { max = z[c]; arg = c; }
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(z[c] - max);
    lossSum += Math.log(sum) + max - z[labels[n]];
    if (arg === labels[n]) correct++;
  }
  return { loss: lossSum / count, lossSum, correct, logits };
}
