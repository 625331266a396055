import { GraphBuilder, type BrokenBackward, type Value } from '../graph/builder';
import * as ops from '../graph/ops';
import { DataType } from '../graph/onnx-proto';
import { BATCH, nodeInputs, type Program, type ProgramNode } from './program';

/**
 * Turns a program (a model's forward pass) into the graph the engine runs. Inputs: `x` [N,
 * ...input shape] float, `labels` one-hot [N, K] float, one input per parameter (named as the
 * parameter). Training outputs: `loss` (mean cross-entropy), `correct` and `grad` [d], the
 * parameters' gradients flattened in layout order; evaluation outputs: `loss` (summed) and
 * `correct`. Every op costs what the hand-written graph of the same network would: the
 * program maps one to one onto builder ops.
 */
export function programGraph(program: Program, kind: 'train' | 'eval', options: { name: string; broken?: BrokenBackward }): Uint8Array {
  const b = new GraphBuilder({ name: `${options.name}-${kind}`, broken: options.broken });
  const x = b.input('x', program.input.shape);
  const labels = b.input('labels', [BATCH, program.numClasses]);
  const params = program.params.map((p) => b.param(p.name, p.shape));
  const values = new Map<string, Value>(program.params.map((p, i) => [p.name, params[i]]));
  // samples arrive as floats; an integer input (token ids) is cast once, where first used
  values.set(program.input.name, program.input.kind === 'index' ? b.emit('Cast', [x], { to: DataType.INT64 }, x.shape, DataType.INT64) : x);
  const logits = emitForward(b, program, values);
  const loss = b.softmaxCrossEntropy(logits, labels, kind === 'train' ? 'mean' : 'sum');
  b.output(loss, 'loss');
  b.output(b.correctCount(logits, labels), 'correct');
  if (kind === 'train') b.output(b.concatFlat(b.gradients(loss, params)), 'grad');
  return b.build();
}

/**
 * Emits the program's nodes into `b` and returns its logits [N, K]. `values` holds the input and
 * the parameters (as graph inputs when training, as constants when exporting); constants of the
 * program are emitted where first used.
 */
export function emitForward(b: GraphBuilder, program: Program, values: Map<string, Value>): Value {
  const get = (name: string): Value => {
    let v = values.get(name);
    if (!v) {
      const c = program.consts.get(name);
      if (!c) throw new Error(`program value ${name} is not defined`);
      v = c.integer ? b.constInt64(Array.from(c.data), c.shape) : b.constFloat(c.data, c.shape);
      values.set(name, v);
    }
    return v;
  };
  for (const node of program.nodes) values.set(node.out, emit(b, node, nodeInputs(node).map(get), program));
  return get(program.output);
}

function emit(b: GraphBuilder, node: ProgramNode, args: Value[], program: Program): Value {
  const [x, y] = args;
  switch (node.op) {
    case 'Gemm': return ops.gemm(b, x, y, args[2] ?? null, node);
    case 'MatMul': return ops.matmul(b, x, y);
    case 'Add': return b.add(x, y);
    case 'Sub': return ops.sub(b, x, y);
    case 'Mul': return ops.mul(b, x, y);
    case 'Div': return ops.div(b, x, y);
    case 'Pow': return ops.pow(b, x, y);
    case 'Relu': return b.relu(x);
    case 'Tanh': return ops.tanh(b, x);
    case 'Sigmoid': return ops.sigmoid(b, x);
    case 'Erf': return ops.erf(b, x);
    case 'Sqrt': return ops.sqrt(b, x);
    case 'Neg': return ops.neg(b, x);
    case 'LeakyRelu': return ops.leakyRelu(b, x, node.alpha);
    case 'Softmax': return ops.softmax(b, x, node.axis);
    case 'LogSoftmax': return ops.logSoftmax(b, x, node.axis);
    case 'Conv': return ops.conv(b, x, y, args[2] ?? null, node.window, node.group);
    case 'MaxPool': return ops.maxPool(b, x, node.window, node.ceil);
    case 'AveragePool': return ops.averagePool(b, x, node.window, node.countIncludePad, node.ceil);
    case 'Reshape': {
      const shape = program.shapes.get(node.out)!;
      // Flatten of [N, ...] to [N, prod] is the common case; it keeps its own node
      return shape.length === 2 && shape[0] === BATCH && x.shape[0] === BATCH && x.shape.length > 2 ? b.flatten(x) : ops.reshape(b, x, shape);
    }
    case 'Transpose': return ops.transpose(b, x, node.perm);
    case 'Concat': return ops.concat(b, args, node.axis);
    case 'ReduceSum': return ops.reduce(b, x, 'sum', node.axes, node.keepdims);
    case 'ReduceMean': return ops.reduce(b, x, 'mean', node.axes, node.keepdims);
    case 'Gather': return ops.gatherRows(b, x, y);
  }
}
