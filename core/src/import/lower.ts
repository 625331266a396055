import { broadcastShape } from '../graph/builder';
import { DataType } from '../graph/onnx-proto';
import { windowOutput, type Window2d } from '../graph/ops-spatial';
import { BATCH, type Binary, type Dim, type Unary } from '../models/program';
import { ModelImportError } from './errors';
import { scalarConst, type ConstValue } from './fold';
import type { Entry, Lowering } from './importer';
import type { OnnxNode } from './onnx-read';

/**
 * One ONNX node (whose inputs are not all constants) -> program ops, with its output shape
 * worked out and checked. Exporters' compound forms become arithmetic here: LayerNormalization
 * and inference BatchNormalization, GlobalAveragePool as a ReduceMean, Flatten / Squeeze /
 * Unsqueeze as Reshapes; Identity, Dropout and same-type Casts are aliases.
 */

function fail(node: OnnxNode, message: string, code: 'bad-graph' | 'unsupported-op' | 'bad-weights' | 'bad-input' = 'bad-graph'): never {
  throw new ModelImportError(code, `node ${node.name} (${node.opType}): ${message}`);
}

const shapeOf = (e: Entry): readonly Dim[] => (e.kind === 'const' ? e.value.shape : e.shape);

const int = (node: OnnxNode, name: string, fallback: number): number => node.attributes.get(name)?.i ?? fallback;
const float = (node: OnnxNode, name: string, fallback: number): number => node.attributes.get(name)?.f ?? fallback;
const ints = (node: OnnxNode, name: string): readonly number[] | undefined => node.attributes.get(name)?.ints;

function axis(node: OnnxNode, a: number, rank: number): number {
  const r = a < 0 ? a + rank : a;
  if (!(Number.isInteger(r) && r >= 0 && r < rank)) fail(node, `axis ${a} is outside rank ${rank}`);
  return r;
}

/** integer constant input (axes, shapes); `batchOk` lets batch-size elements through as -2 */
function constInts(node: OnnxNode, e: Entry | null, what: string, batchOk = false): number[] {
  if (!e) fail(node, `${what} is missing`);
  if (e.kind !== 'const') fail(node, `${what} must be a constant (it is computed from the model's input)`, 'unsupported-op');
  if (e.value.batch && !batchOk) fail(node, `${what} depends on the batch size`, 'unsupported-op');
  return Array.from(e.value.data, (v, i) => (e.value.batch?.[i] ? -2 : v));
}

function broadcast(node: OnnxNode, a: readonly Dim[], b: readonly Dim[]): Dim[] {
  try {
    return broadcastShape(a, b) as Dim[];
  } catch (err) {
    return fail(node, (err as Error).message);
  }
}

/** a product of dims that may include the batch: the batch itself when the rest is 1 */
function product(node: OnnxNode, dims: readonly Dim[]): Dim {
  const fixed = dims.reduce<number>((p, d) => p * (d === BATCH ? 1 : d), 1);
  if (!dims.includes(BATCH)) return fixed;
  if (fixed !== 1) fail(node, 'it merges the batch dimension with others, which is not supported', 'unsupported-op');
  return BATCH;
}

/** Reshape's output shape: 0 copies the input's dim, -1 is inferred, -2 marks the batch size */
export function reshapeTarget(node: OnnxNode, input: readonly Dim[], target: readonly number[], allowZero: boolean): Dim[] {
  const dims: (Dim | -1)[] = target.map((d, i) => {
    if (d === -2) return BATCH;
    if (d === 0 && !allowZero) {
      if (i >= input.length) fail(node, `target [${target}] copies dimension ${i} the input [${input}] lacks`);
      return input[i];
    }
    if (d === -1) return -1;
    if (!(Number.isInteger(d) && d > 0)) fail(node, `target [${target}] has a dimension ${d}`);
    return d;
  });
  if (dims.filter((d) => d === -1).length > 1) fail(node, `target [${target}] has more than one -1`);
  if (dims.filter((d) => d === BATCH).length > 1) fail(node, `target [${target}] uses the batch size twice`, 'unsupported-op');
  const inBatch = input.includes(BATCH), outBatch = dims.includes(BATCH);
  const inFixed = input.reduce<number>((p, d) => p * (d === BATCH ? 1 : d), 1);
  const outFixed = dims.reduce<number>((p, d) => p * (typeof d === 'number' && d > 0 ? d : 1), 1);
  const free = dims.indexOf(-1);
  if (free >= 0) {
    if (inBatch === outBatch) {
      if (inFixed % outFixed !== 0) fail(node, `cannot reshape [${input}] to [${target}]`);
      dims[free] = inFixed / outFixed;
    } else if (inBatch && inFixed === outFixed) dims[free] = BATCH;
    else fail(node, `reshaping [${input}] to [${target}] merges the batch dimension with others, which is not supported`, 'unsupported-op');
  } else if (inBatch !== outBatch || inFixed !== outFixed) fail(node, `cannot reshape [${input}] to [${target}]`);
  return dims as Dim[];
}

/** Conv / pool geometry from attributes (auto_pad included) for a [N, C, H, W] input */
function windowOf(node: OnnxNode, size: readonly number[], kernel: readonly number[]): Window2d {
  const strides = ints(node, 'strides') ?? [1, 1];
  const dilations = ints(node, 'dilations') ?? [1, 1];
  let pads = ints(node, 'pads') ?? [0, 0, 0, 0];
  if (strides.length !== 2 || dilations.length !== 2 || pads.length !== 4 || kernel.length !== 2) fail(node, 'strides, dilations and pads must be 2-D', 'unsupported-op');
  if ([...strides, ...dilations, ...kernel].some((v) => !(Number.isInteger(v) && v >= 1)) || pads.some((p) => !(Number.isInteger(p) && p >= 0))) fail(node, 'bad strides, dilations, kernel or pads');
  const autoPad = node.attributes.get('auto_pad')?.s ?? 'NOTSET';
  if (autoPad === 'VALID') pads = [0, 0, 0, 0];
  else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const [before, after] = [0, 1].map((a) => {
      const out = Math.ceil(size[a] / strides[a]);
      const total = Math.max(0, (out - 1) * strides[a] + (kernel[a] - 1) * dilations[a] + 1 - size[a]);
      const head = autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
      return [head, total - head];
    });
    pads = [before[0], after[0], before[1], after[1]];
  } else if (autoPad !== 'NOTSET') fail(node, `auto_pad ${autoPad}`, 'unsupported-op');
  return { kernel: [kernel[0], kernel[1]], strides: [strides[0], strides[1]], pads: [pads[0], pads[1], pads[2], pads[3]], dilations: [dilations[0], dilations[1]] };
}

function spatial(node: OnnxNode, x: Entry): [Dim, number, number, number] {
  const s = shapeOf(x);
  if (s.length !== 4) fail(node, `only 2-D ${node.opType} on [batch, channels, height, width] is supported, got [${s}]`, 'unsupported-op');
  const [n, c, h, w] = s;
  if (typeof c !== 'number' || typeof h !== 'number' || typeof w !== 'number') fail(node, `channels and spatial dims must be fixed, got [${s}]`);
  return [n, c, h, w];
}

function floatConst(value: ConstValue, name: string): Entry {
  return { kind: 'const', value: { ...value, dataType: DataType.FLOAT, data: Float64Array.from(value.data) }, name };
}

export function lowerNode(ctx: Lowering, node: OnnxNode, ins: readonly (Entry | null)[]): void {
  const out = node.outputs[0];
  const need = (i: number, what = `input ${i}`): Entry => ins[i] ?? fail(node, `${what} is missing`);
  const def = (e: Entry) => ctx.define(out, e);
  const unusedOutputs = (from: number, why: string) => {
    node.outputs.slice(from).forEach((o) => {
      if (ctx.isConsumed(o)) fail(node, `its output ${o} is used; ${why}`, 'unsupported-op');
    });
  };
  const op = node.opType;
  switch (op) {
    case 'Identity': return def(need(0));
    case 'Cast': {
      const x = need(0);
      const to = int(node, 'to', 0);
      const integerTarget = to === DataType.INT64 || to === DataType.INT32;
      if (x.kind === 'live' && ((to === DataType.FLOAT && !x.integer) || (integerTarget && x.integer))) return def(x);
      return fail(node, 'a Cast of a computed value to another type is not supported', 'unsupported-op');
    }
    case 'Dropout': {
      const mode = ins[2];
      if (mode && (mode.kind !== 'const' || mode.value.data[0] !== 0)) fail(node, 'Dropout in training mode; export with model.eval()', 'unsupported-op');
      unusedOutputs(1, "Dropout's mask is not supported");
      return def(need(0));
    }
    case 'Add': case 'Sub': case 'Mul': case 'Div': case 'Pow': {
      const a = need(0);
      let b = need(1);
      if (op === 'Pow') {
        if (b.kind !== 'const') fail(node, 'the exponent must be a constant', 'unsupported-op');
        if (b.value.dataType !== DataType.FLOAT) b = floatConst(b.value, `${b.name}:float`);
      }
      return def(ctx.op(node, out, [a, b], broadcast(node, shapeOf(a), shapeOf(b)), ([p, q]) => ({ op: op as Binary, a: p, b: q })));
    }
    case 'Relu': case 'Tanh': case 'Sigmoid': case 'Erf': case 'Sqrt': case 'Neg': {
      const x = need(0);
      return def(ctx.op(node, out, [x], shapeOf(x), ([p]) => ({ op: op as Unary, x: p })));
    }
    case 'LeakyRelu': {
      const x = need(0);
      return def(ctx.op(node, out, [x], shapeOf(x), ([p]) => ({ op: 'LeakyRelu', x: p, alpha: float(node, 'alpha', 0.01) })));
    }
    case 'Softmax': case 'LogSoftmax': {
      const x = need(0);
      const a = axis(node, int(node, 'axis', -1), shapeOf(x).length);
      if (shapeOf(x)[a] === BATCH) fail(node, 'a softmax over the batch dimension is not supported', 'unsupported-op');
      return def(ctx.op(node, out, [x], shapeOf(x), ([p]) => ({ op, x: p, axis: a })));
    }
    case 'Gemm': {
      const a = need(0), b = need(1), c = ins[2] ?? null;
      const [sa, sb] = [shapeOf(a), shapeOf(b)];
      if (sa.length !== 2 || sb.length !== 2) fail(node, `A and B must be 2-D, got [${sa}] and [${sb}]`);
      const transA = int(node, 'transA', 0) === 1, transB = int(node, 'transB', 0) === 1;
      const [m, k] = transA ? [sa[1], sa[0]] : [sa[0], sa[1]];
      const [k2, n] = transB ? [sb[1], sb[0]] : [sb[0], sb[1]];
      if (k !== k2) fail(node, `inner dims differ: A [${sa}]${transA ? '^T' : ''}, B [${sb}]${transB ? '^T' : ''}`);
      const shape = [m, n];
      if (c && broadcast(node, shapeOf(c), shape).some((d, i) => d !== shape[i])) fail(node, `C [${shapeOf(c)}] does not broadcast to [${shape}]`);
      const attrs = { transA, transB, alpha: float(node, 'alpha', 1), beta: float(node, 'beta', 1) };
      return def(ctx.op(node, out, c ? [a, b, c] : [a, b], shape, ([p, q, r]) => ({ op: 'Gemm', a: p, b: q, c: r ?? null, ...attrs })));
    }
    case 'MatMul': {
      const a = need(0), b = need(1);
      const [sa, sb] = [shapeOf(a), shapeOf(b)];
      if (sa.length < 2 || sb.length < 2) fail(node, `1-D operands are not supported ([${sa}] @ [${sb}])`, 'unsupported-op');
      if (sa[sa.length - 1] !== sb[sb.length - 2]) fail(node, `inner dims differ: [${sa}] @ [${sb}]`);
      const shape = [...broadcast(node, sa.slice(0, -2), sb.slice(0, -2)), sa[sa.length - 2], sb[sb.length - 1]];
      return def(ctx.op(node, out, [a, b], shape, ([p, q]) => ({ op: 'MatMul', a: p, b: q })));
    }
    case 'Conv': {
      const x = need(0), w = need(1), bias = ins[2] ?? null;
      const [n, c, h, wd] = spatial(node, x);
      const sw = shapeOf(w);
      if (sw.length !== 4 || sw.some((d) => typeof d !== 'number')) fail(node, `weight must be [filters, channels/group, kh, kw], got [${sw}]`);
      const [o, cg, kh, kw] = sw as number[];
      const kernel = ints(node, 'kernel_shape') ?? [kh, kw];
      if (kernel[0] !== kh || kernel[1] !== kw) fail(node, `kernel_shape [${kernel}] differs from the weight's [${kh}, ${kw}]`);
      const group = int(node, 'group', 1);
      if (c !== cg * group || o % group !== 0) fail(node, `${c} input channels and ${o} filters do not fit a [${sw}] weight in ${group} group(s)`);
      if (bias && (shapeOf(bias).length !== 1 || shapeOf(bias)[0] !== o)) fail(node, `bias must be [${o}], got [${shapeOf(bias)}]`);
      const window = windowOf(node, [h, wd], kernel);
      const shape = [n, o, windowOutput(h, 0, window), windowOutput(wd, 1, window)];
      return def(ctx.op(node, out, bias ? [x, w, bias] : [x, w], shape, ([p, q, r]) => ({ op: 'Conv', x: p, w: q, bias: r ?? null, window, group })));
    }
    case 'MaxPool': case 'AveragePool': {
      const x = need(0);
      const [n, c, h, wd] = spatial(node, x);
      const kernel = ints(node, 'kernel_shape') ?? fail(node, 'kernel_shape is missing');
      const window = windowOf(node, [h, wd], kernel);
      const ceil = int(node, 'ceil_mode', 0) === 1;
      const shape = [n, c, windowOutput(h, 0, window, ceil), windowOutput(wd, 1, window, ceil)];
      if (op === 'MaxPool') {
        unusedOutputs(1, "MaxPool's Indices output is not supported");
        return def(ctx.op(node, out, [x], shape, ([p]) => ({ op: 'MaxPool', x: p, window, ceil })));
      }
      if (window.dilations.some((d) => d !== 1)) fail(node, 'dilated AveragePool is not supported', 'unsupported-op');
      const countIncludePad = int(node, 'count_include_pad', 0) === 1;
      return def(ctx.op(node, out, [x], shape, ([p]) => ({ op: 'AveragePool', x: p, window, ceil, countIncludePad })));
    }
    case 'GlobalAveragePool': {
      const x = need(0);
      const s = shapeOf(x);
      if (s.length < 3) fail(node, `input must be [batch, channels, ...spatial], got [${s}]`);
      const axes = s.slice(2).map((_, i) => i + 2);
      return def(ctx.op(node, out, [x], s.map((d, i) => (i >= 2 ? 1 : d)), ([p]) => ({ op: 'ReduceMean', x: p, axes, keepdims: true })));
    }
    case 'Flatten': {
      const x = need(0);
      const s = shapeOf(x);
      const a = axis(node, int(node, 'axis', 1), s.length + 1);
      return reshape(ctx, node, x, [product(node, s.slice(0, a)), product(node, s.slice(a))]);
    }
    case 'Reshape': {
      const x = need(0);
      return reshape(ctx, node, x, reshapeTarget(node, shapeOf(x), constInts(node, ins[1] ?? null, 'shape', true), int(node, 'allowzero', 0) === 1));
    }
    case 'Squeeze': case 'Unsqueeze': {
      const x = need(0);
      const s = shapeOf(x);
      const given = ins[1] ? constInts(node, ins[1], 'axes') : ints(node, 'axes');
      if (op === 'Unsqueeze') {
        const rank = s.length + (given?.length ?? 0);
        const at = (given ?? fail(node, 'axes are missing')).map((a) => axis(node, a, rank));
        const shape: Dim[] = [];
        for (let i = 0, j = 0; i < rank; i++) shape.push(at.includes(i) ? 1 : s[j++]);
        return reshape(ctx, node, x, shape);
      }
      const at = given ? given.map((a) => axis(node, a, s.length)) : s.flatMap((d, i) => (d === 1 ? [i] : []));
      if (at.some((a) => s[a] !== 1)) fail(node, `cannot squeeze axes [${at}] of [${s}]`);
      return reshape(ctx, node, x, s.filter((_, i) => !at.includes(i)));
    }
    case 'Transpose': {
      const x = need(0);
      const s = shapeOf(x);
      const perm = ints(node, 'perm') ?? s.map((_, i) => s.length - 1 - i);
      if (perm.length !== s.length || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) fail(node, `perm [${perm}] does not fit rank ${s.length}`);
      return def(ctx.op(node, out, [x], perm.map((p) => s[p]), ([p]) => ({ op: 'Transpose', x: p, perm })));
    }
    case 'Concat': {
      const xs = ins.map((e, i) => e ?? fail(node, `input ${i} is missing`));
      const s0 = shapeOf(xs[0]);
      const a = axis(node, int(node, 'axis', 0), s0.length);
      if (xs.some((e) => shapeOf(e)[a] === BATCH)) fail(node, 'concatenation along the batch dimension is not supported', 'unsupported-op');
      if (xs.some((e) => shapeOf(e).length !== s0.length || shapeOf(e).some((d, i) => i !== a && d !== s0[i]))) fail(node, `inputs [${xs.map((e) => `[${shapeOf(e)}]`).join(', ')}] differ off axis ${a}`);
      const shape = s0.map((d, i) => (i === a ? xs.reduce((t, e) => t + (shapeOf(e)[a] as number), 0) : d));
      return def(ctx.op(node, out, xs, shape, (names) => ({ op: 'Concat', xs: names, axis: a })));
    }
    case 'ReduceMean': case 'ReduceSum': {
      const x = need(0);
      const s = shapeOf(x);
      const given = ins[1] ? constInts(node, ins[1], 'axes') : ints(node, 'axes');
      if ((!given || given.length === 0) && int(node, 'noop_with_empty_axes', 0) === 1) return def(x);
      const axes = (given && given.length > 0 ? given.map((a) => axis(node, a, s.length)) : s.map((_, i) => i)).sort((p, q) => p - q);
      if (axes.some((a) => s[a] === BATCH)) fail(node, 'a reduction over the batch dimension is not supported inside a model', 'unsupported-op');
      const keepdims = int(node, 'keepdims', 1) === 1;
      const shape = keepdims ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : s.filter((_, i) => !axes.includes(i));
      return def(ctx.op(node, out, [x], shape, ([p]) => ({ op, x: p, axes, keepdims })));
    }
    case 'LayerNormalization': return def(layerNorm(ctx, node, need(0), ins[1] ?? null, ins[2] ?? null));
    case 'BatchNormalization': return def(batchNorm(ctx, node, ins));
    case 'Gather': {
      const table = need(0), indices = need(1);
      const st = shapeOf(table);
      if (int(node, 'axis', 0) !== 0 || st.includes(BATCH) || (table.kind === 'live' && table.integer)) {
        fail(node, 'Gather is supported as an embedding lookup (rows of a weight table, axis 0) and in constant shape sub-graphs', 'unsupported-op');
      }
      if (indices.kind === 'live') {
        if (!indices.integer) fail(node, `indices come from a float value; declare the model input as int64 token ids`, 'bad-input');
        ctx.noteIndexTable(st[0] as number);
      } else if (indices.value.dataType === DataType.FLOAT || indices.value.batch) fail(node, 'constant indices must be integers');
      return def(ctx.op(node, out, [table, indices], [...shapeOf(indices), ...st.slice(1)], ([t, i]) => ({ op: 'Gather', table: t, indices: i }), [1]));
    }
    default:
      return fail(node, 'no lowering rule', 'unsupported-op');
  }
}

function reshape(ctx: Lowering, node: OnnxNode, x: Entry, shape: readonly Dim[]): void {
  ctx.define(node.outputs[0], ctx.op(node, node.outputs[0], [x], shape, ([p]) => ({ op: 'Reshape', x: p })));
}

/** y = (x - mean) / sqrt(var + eps) * scale + bias over the trailing axes from `axis` */
function layerNorm(ctx: Lowering, node: OnnxNode, x: Entry, scale: Entry | null, bias: Entry | null): Entry {
  node.outputs.slice(1).forEach((o) => {
    if (ctx.isConsumed(o)) fail(node, `its output ${o} (mean / inverse std) is used, which is not supported`, 'unsupported-op');
  });
  const s = shapeOf(x);
  const first = axis(node, int(node, 'axis', -1), s.length);
  const axes = s.slice(first).map((_, i) => first + i);
  if (axes.some((a) => s[a] === BATCH)) fail(node, 'normalizing over the batch dimension is not supported', 'unsupported-op');
  const kept = s.map((d, i) => (i >= first ? 1 : d));
  const out = node.outputs[0];
  const mean = ctx.op(node, `${out}/mean`, [x], kept, ([p]) => ({ op: 'ReduceMean', x: p, axes, keepdims: true }));
  const centred = ctx.op(node, `${out}/centred`, [x, mean], s, ([p, q]) => ({ op: 'Sub', a: p, b: q }));
  const square = ctx.op(node, `${out}/square`, [centred, centred], s, ([p, q]) => ({ op: 'Mul', a: p, b: q }));
  const variance = ctx.op(node, `${out}/variance`, [square], kept, ([p]) => ({ op: 'ReduceMean', x: p, axes, keepdims: true }));
  const eps: Entry = { kind: 'const', value: scalarConst(float(node, 'epsilon', 1e-5)), name: `${node.name}/epsilon` };
  const padded = ctx.op(node, `${out}/var_eps`, [variance, eps], kept, ([p, q]) => ({ op: 'Add', a: p, b: q }));
  const std = ctx.op(node, `${out}/std`, [padded], kept, ([p]) => ({ op: 'Sqrt', x: p }));
  let y = ctx.op(node, `${out}/normalized`, [centred, std], s, ([p, q]) => ({ op: 'Div', a: p, b: q }));
  if (scale) y = ctx.op(node, `${out}/scaled`, [y, scale], broadcast(node, s, shapeOf(scale)), ([p, q]) => ({ op: 'Mul', a: p, b: q }));
  if (bias) y = ctx.op(node, out, [y, bias], broadcast(node, s, shapeOf(bias)), ([p, q]) => ({ op: 'Add', a: p, b: q }));
  return y;
}

/** inference BatchNormalization with the running statistics frozen: a per-channel affine map */
function batchNorm(ctx: Lowering, node: OnnxNode, ins: readonly (Entry | null)[]): Entry {
  const training = int(node, 'training_mode', 0) === 1 || node.outputs.slice(1).some((o) => o !== '');
  if (training) {
    fail(node, 'BatchNormalization in training mode (it updates running statistics) is not supported; export with model.eval() (torch.onnx.export(..., training=torch.onnx.TrainingMode.EVAL))', 'bad-weights');
  }
  const [x, scale, bias, mean, variance] = ins;
  if (!x || !scale || !bias || !mean || !variance) fail(node, 'needs X, scale, B, mean and var');
  if (mean.kind !== 'const' || variance.kind !== 'const') fail(node, 'the running mean and variance must be constants', 'bad-weights');
  const s = shapeOf(x);
  if (s.length < 2 || typeof s[1] !== 'number') fail(node, `input must be [batch, channels, ...], got [${s}]`);
  const channels = s[1];
  const perChannel: number[] = [channels, ...s.slice(2).map(() => 1)];
  const eps = float(node, 'epsilon', 1e-5);
  const out = node.outputs[0];
  const asChannels = (e: Entry, name: string): Entry => {
    if (shapeOf(e).length !== 1 || shapeOf(e)[0] !== channels) fail(node, `${name} must be [${channels}], got [${shapeOf(e)}]`);
    return e.kind === 'const'
      ? { kind: 'const', value: { ...e.value, shape: perChannel }, name: `${e.name}:${perChannel.join('x')}` }
      : ctx.op(node, `${out}/${name}`, [e], perChannel, ([p]) => ({ op: 'Reshape', x: p }));
  };
  const meanC = asChannels(mean, 'mean');
  const inv: Entry = { kind: 'const', value: { dataType: DataType.FLOAT, shape: perChannel, data: variance.value.data.map((v) => 1 / Math.sqrt(v + eps)), batch: null }, name: `${node.name}/inv_std` };
  const centred = ctx.op(node, `${out}/centred`, [x, meanC], s, ([p, q]) => ({ op: 'Sub', a: p, b: q }));
  const normalized = ctx.op(node, `${out}/normalized`, [centred, inv], s, ([p, q]) => ({ op: 'Mul', a: p, b: q }));
  const scaled = ctx.op(node, `${out}/scaled`, [normalized, asChannels(scale, 'scale')], s, ([p, q]) => ({ op: 'Mul', a: p, b: q }));
  return ctx.op(node, out, [scaled, asChannels(bias, 'bias')], s, ([p, q]) => ({ op: 'Add', a: p, b: q }));
}
