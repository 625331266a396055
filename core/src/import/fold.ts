import { DataType, dataTypeNames } from '../graph/onnx-proto';
import { broadcastShapes, sizeOf } from '../models/tensor64';
import { ModelImportError } from './errors';
import type { OnnxNode, OnnxTensor } from './onnx-read';

/**
 * Constant values and the folding of the small integer sub-graphs exporters write to compute
 * shapes (`x.view(x.size(0), -1)` becomes Shape -> Gather -> Unsqueeze -> Concat -> Reshape).
 * The batch size is not known at import, so a constant element may stand for it: `batch`
 * marks those elements; they may be moved around (gathered, concatenated, sliced, cast) but
 * not computed with, and Reshape reads them as the batch dimension.
 */
export interface ConstValue {
  /** ONNX TensorProto.DataType */
  readonly dataType: number;
  readonly shape: readonly number[];
  readonly data: Float64Array;
  /** 1 where the element is the batch size; null when none is */
  readonly batch: Uint8Array | null;
}

export const isFloat = (c: ConstValue): boolean => c.dataType === DataType.FLOAT;

export function constFromTensor(t: OnnxTensor, where: string): ConstValue {
  const data = t.float ? Float64Array.from(t.float) : t.ints;
  if (!data) throw new ModelImportError('bad-weights', `${where} ${t.name || ''} has type ${dataTypeNames[t.dataType]}; only FLOAT (32-bit) and integer tensors are supported`.replace('  ', ' '));
  return { dataType: t.dataType, shape: t.dims, data, batch: null };
}

export const scalarConst = (value: number, dataType: number = DataType.FLOAT): ConstValue => ({ dataType, shape: [], data: Float64Array.of(value), batch: null });

/** ops folded here (with batch-size tracking); other all-constant nodes are evaluated as program ops */
export const FOLDABLE = new Set(['Constant', 'Identity', 'Cast', 'Gather', 'Unsqueeze', 'Squeeze', 'Reshape', 'Flatten', 'Concat', 'Slice', 'ConstantOfShape', 'Range', 'Expand', 'Equal', 'Where', 'Add', 'Sub', 'Mul', 'Div', 'Neg']);

const INTEGER_TYPES = new Set<number>([2, 3, 4, 5, DataType.INT32, DataType.INT64, 12, 13]);

function fail(node: OnnxNode, message: string): never {
  throw new ModelImportError('bad-graph', `node ${node.name} (${node.opType}): ${message}`);
}

function batchFree(node: OnnxNode, ...cs: ConstValue[]): void {
  if (cs.some((c) => c.batch?.some((b) => b === 1))) {
    throw new ModelImportError('unsupported-op', `node ${node.name} (${node.opType}) computes with the batch size; only moving it into a Reshape target is supported`);
  }
}

/** `index` along an axis of `size`, negative counting from the end */
function axisOf(node: OnnxNode, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!(Number.isInteger(a) && a >= 0 && a < rank)) fail(node, `axis ${axis} is outside rank ${rank}`);
  return a;
}

function ints(node: OnnxNode, c: ConstValue | null, what: string): number[] {
  if (!c) fail(node, `${what} must be a constant`);
  batchFree(node, c);
  return Array.from(c.data);
}

/** picks elements (and their batch marks) by flat index */
function pick(c: ConstValue, shape: readonly number[], source: (i: number) => number): ConstValue {
  const n = sizeOf(shape);
  const data = new Float64Array(n);
  const batch = c.batch ? new Uint8Array(n) : null;
  for (let i = 0; i < n; i++) {
    const j = source(i);
    data[i] = c.data[j];
    if (batch) batch[i] = c.batch![j];
  }
  return { dataType: c.dataType, shape, data, batch };
}

/** numpy-broadcast map over any number of constants */
function elementwise(node: OnnxNode, operands: readonly ConstValue[], fn: (...v: number[]) => number, dataType = operands[operands.length - 1].dataType): ConstValue {
  batchFree(node, ...operands);
  const shape = operands.map((c) => c.shape).reduce<readonly number[]>((s, t) => broadcastShapes(s, t), []);
  const at = (c: ConstValue, i: number): number => {
    // index of output element i in a broadcast operand
    let j = 0, rest = i, stride = 1;
    const lead = shape.length - c.shape.length;
    for (let ax = shape.length - 1; ax >= 0; ax--) {
      const coord = rest % shape[ax];
      rest = Math.floor(rest / shape[ax]);
      if (ax >= lead && c.shape[ax - lead] !== 1) j += coord * stride;
      if (ax >= lead) stride *= c.shape[ax - lead];
    }
    return j;
  };
  const data = Float64Array.from({ length: sizeOf(shape) }, (_, i) => fn(...operands.map((c) => c.data[at(c, i)])));
  return { dataType, shape, data, batch: null };
}

/** Evaluates one all-constant node of FOLDABLE. */
export function fold(node: OnnxNode, inputs: readonly (ConstValue | null)[]): ConstValue {
  const [x, y] = inputs;
  const attr = node.attributes;
  const need = (c: ConstValue | null, what: string): ConstValue => c ?? fail(node, `${what} is missing`);
  switch (node.opType) {
    case 'Constant': {
      const a = attr.get('value') ?? attr.get('value_float') ?? attr.get('value_floats') ?? attr.get('value_int') ?? attr.get('value_ints');
      if (!a) fail(node, `only value, value_float(s) and value_int(s) constants are supported (got ${[...attr.keys()].join(', ') || 'none'})`);
      if (a.t) return constFromTensor(a.t, `constant of node ${node.name}`);
      if (a.name === 'value_float') return scalarConst(a.f ?? 0);
      if (a.name === 'value_int') return scalarConst(a.i ?? 0, DataType.INT64);
      const list = a.name === 'value_floats' ? a.floats ?? [] : a.ints ?? [];
      return { dataType: a.name === 'value_floats' ? DataType.FLOAT : DataType.INT64, shape: [list.length], data: Float64Array.from(list), batch: null };
    }
    case 'Identity': return need(x, 'input');
    case 'Cast': {
      const c = need(x, 'input');
      const to = attr.get('to')?.i ?? 0;
      if (to === DataType.FLOAT) { batchFree(node, c); return { ...c, dataType: to }; }
      if (INTEGER_TYPES.has(to)) return { ...c, dataType: to, data: c.data.map(Math.trunc) };
      if (to === DataType.BOOL) { batchFree(node, c); return { ...c, dataType: to, data: c.data.map((v) => (v !== 0 ? 1 : 0)) }; }
      return fail(node, `cast to ${dataTypeNames[to] ?? to} is not supported`);
    }
    case 'Gather': {
      const data = need(x, 'data');
      const idx = ints(node, y, 'indices');
      const axis = axisOf(node, attr.get('axis')?.i ?? 0, data.shape.length);
      const n = data.shape[axis];
      const inner = sizeOf(data.shape.slice(axis + 1));
      const shape = [...data.shape.slice(0, axis), ...need(y, 'indices').shape, ...data.shape.slice(axis + 1)];
      const rows = idx.map((i) => {
        const r = i < 0 ? i + n : i;
        if (!(r >= 0 && r < n)) fail(node, `index ${i} is outside an axis of ${n}`);
        return r;
      });
      return pick(data, shape, (i) => {
        const within = i % inner, rest = Math.floor(i / inner);
        const k = rest % rows.length, outer = Math.floor(rest / rows.length);
        return (outer * n + rows[k]) * inner + within;
      });
    }
    case 'Unsqueeze': {
      const c = need(x, 'input');
      const axes = node.inputs.length > 1 ? ints(node, y, 'axes') : attr.get('axes')?.ints ?? [];
      const rank = c.shape.length + axes.length;
      const at = axes.map((a) => axisOf(node, a, rank));
      const shape: number[] = [];
      for (let i = 0, j = 0; i < rank; i++) shape.push(at.includes(i) ? 1 : c.shape[j++]);
      return { ...c, shape };
    }
    case 'Squeeze': {
      const c = need(x, 'input');
      const axes = node.inputs.length > 1 && node.inputs[1] ? ints(node, y, 'axes').map((a) => axisOf(node, a, c.shape.length)) : c.shape.flatMap((d, i) => (d === 1 ? [i] : []));
      return { ...c, shape: c.shape.filter((_, i) => !axes.includes(i)) };
    }
    case 'Reshape': {
      const c = need(x, 'input');
      const target = ints(node, y, 'shape');
      const known = target.reduce((a, d, i) => a * (d === -1 ? 1 : d === 0 ? c.shape[i] : d), 1);
      const shape = target.map((d, i) => (d === -1 ? sizeOf(c.shape) / known : d === 0 ? c.shape[i] : d));
      if (sizeOf(shape) !== sizeOf(c.shape) || shape.some((d) => !Number.isInteger(d))) fail(node, `cannot reshape [${c.shape}] to [${target}]`);
      return { ...c, shape };
    }
    case 'Flatten': {
      const c = need(x, 'input');
      const axis = axisOf(node, attr.get('axis')?.i ?? 1, c.shape.length + 1);
      return { ...c, shape: [sizeOf(c.shape.slice(0, axis)), sizeOf(c.shape.slice(axis))] };
    }
    case 'Concat': {
      const cs = inputs.map((c, i) => need(c, `input ${i}`));
      const axis = axisOf(node, attr.get('axis')?.i ?? 0, cs[0].shape.length);
      const outer = sizeOf(cs[0].shape.slice(0, axis));
      const inner = sizeOf(cs[0].shape.slice(axis + 1));
      const shape = cs[0].shape.map((d, i) => (i === axis ? cs.reduce((a, c) => a + c.shape[axis], 0) : d));
      const data: number[] = [], batch: number[] = [];
      for (let o = 0; o < outer; o++) {
        for (const c of cs) {
          const chunk = c.shape[axis] * inner;
          for (let k = 0; k < chunk; k++) { data.push(c.data[o * chunk + k]); batch.push(c.batch?.[o * chunk + k] ?? 0); }
        }
      }
      return { dataType: cs[0].dataType, shape, data: Float64Array.from(data), batch: batch.some((b) => b) ? Uint8Array.from(batch) : null };
    }
    case 'Slice': {
      const c = need(x, 'input');
      const starts = ints(node, y, 'starts'), ends = ints(node, inputs[2] ?? null, 'ends');
      const axes = inputs[3] ? ints(node, inputs[3], 'axes').map((a) => axisOf(node, a, c.shape.length)) : starts.map((_, i) => i);
      const steps = inputs[4] ? ints(node, inputs[4], 'steps') : starts.map(() => 1);
      const ranges = c.shape.map((d) => ({ start: 0, step: 1, count: d }));
      axes.forEach((a, k) => {
        const d = c.shape[a], step = steps[k];
        if (step === 0) fail(node, 'a Slice step of 0');
        const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
        const start = step > 0 ? clamp(starts[k], 0, d) : clamp(starts[k], -1, d - 1);
        const end = step > 0 ? clamp(ends[k], 0, d) : clamp(ends[k], -1, d - 1);
        ranges[a] = { start, step, count: Math.max(0, Math.ceil((end - start) / step)) };
      });
      const shape = ranges.map((r) => r.count);
      return pick(c, shape, (i) => {
        let j = 0, rest = i, stride = 1;
        for (let a = shape.length - 1; a >= 0; a--) {
          const coord = rest % shape[a];
          rest = Math.floor(rest / shape[a]);
          j += (ranges[a].start + coord * ranges[a].step) * stride;
          stride *= c.shape[a];
        }
        return j;
      });
    }
    case 'ConstantOfShape': {
      const shape = ints(node, x, 'shape');
      const v = attr.get('value')?.t;
      const fill = v ? constFromTensor(v, `value of node ${node.name}`) : scalarConst(0);
      return { dataType: fill.dataType, shape, data: new Float64Array(sizeOf(shape)).fill(fill.data[0] ?? 0), batch: null };
    }
    case 'Range': {
      const [start] = ints(node, x, 'start'), [limit] = ints(node, y, 'limit'), [delta] = ints(node, inputs[2] ?? null, 'delta');
      const n = Math.max(Math.ceil((limit - start) / delta), 0);
      return { dataType: need(x, 'start').dataType, shape: [n], data: Float64Array.from({ length: n }, (_, i) => start + i * delta), batch: null };
    }
    case 'Expand': {
      const c = need(x, 'input');
      batchFree(node, c);
      const shape = ints(node, y, 'shape');
      return elementwise(node, [c, { dataType: c.dataType, shape, data: new Float64Array(sizeOf(shape)), batch: null }], (v) => v, c.dataType);
    }
    case 'Equal': return elementwise(node, [need(x, 'A'), need(y, 'B')], (p, q) => (p === q ? 1 : 0), DataType.BOOL);
    case 'Where': return elementwise(node, [need(x, 'condition'), need(y, 'X'), need(inputs[2] ?? null, 'Y')], (c, p, q) => (c ? p : q));
    case 'Add': return elementwise(node, [need(x, 'A'), need(y, 'B')], (p, q) => p + q);
    case 'Sub': return elementwise(node, [need(x, 'A'), need(y, 'B')], (p, q) => p - q);
    case 'Mul': return elementwise(node, [need(x, 'A'), need(y, 'B')], (p, q) => p * q);
    case 'Div': {
      const a = need(x, 'A');
      return elementwise(node, [a, need(y, 'B')], isFloat(a) ? (p, q) => p / q : (p, q) => Math.trunc(p / q));
    }
    case 'Neg': { const c = need(x, 'X'); batchFree(node, c); return { ...c, data: c.data.map((v) => -v) }; }
    default: return fail(node, 'cannot be folded');
  }
}
