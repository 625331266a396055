import { sameShape, staticDim, type GraphBuilder, type Value } from './builder';
import { DataType, type Dim } from './onnx-proto';

/**
 * Ops that move, combine or reduce values (reshape, transpose, concat, reductions, embedding
 * lookup), with their backward rules.
 */

/** Reshape to a static target (one symbolic dim at most); backward reshapes the gradient back */
export function reshape(b: GraphBuilder, x: Value, shape: readonly Dim[]): Value {
  if (sameShape(x.shape, shape)) return x;
  const y = b.reshapeTo(x, shape);
  return b.record([x], y, (g) => [b.reshapeTo(g, x.shape)]);
}

export function transpose(b: GraphBuilder, x: Value, perm: readonly number[]): Value {
  if (perm.length !== x.shape.length || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) throw new RangeError(`transpose: perm [${perm}] does not fit rank ${x.shape.length}`);
  const y = b.emit('Transpose', [x], { perm: [...perm] }, perm.map((p) => x.shape[p]));
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return b.record([x], y, (g) => [b.emit('Transpose', [g], { perm: inverse }, x.shape)]);
}

/** Concat along `axis` (which must be static); backward slices the gradient apart */
export function concat(b: GraphBuilder, xs: readonly Value[], axis: number): Value {
  if (xs.length === 0) throw new RangeError('concat needs at least one value');
  const rank = xs[0].shape.length;
  const sizes = xs.map((v) => {
    if (v.shape.length !== rank || v.shape.some((d, i) => i !== axis && d !== xs[0].shape[i])) throw new RangeError(`concat: [${v.shape}] does not match [${xs[0].shape}] off axis ${axis}`);
    return staticDim(v.shape[axis], 'concat axis');
  });
  const shape = xs[0].shape.map((d, i) => (i === axis ? sizes.reduce((a, s) => a + s, 0) : d));
  const y = b.emit('Concat', xs, { axis }, shape);
  return b.record(xs, y, (g, needs) => {
    let start = 0;
    return xs.map((v, i) => {
      const from = start;
      start += sizes[i];
      if (!needs[i]) return null;
      return b.emit('Slice', [g, b.constInt64([from]), b.constInt64([start]), b.constInt64([axis])], {}, v.shape);
    });
  });
}

/**
 * ReduceSum or ReduceMean over static axes (the batch axis cannot be reduced inside a model:
 * its size is not known when the graph is built). Backward: the gradient, rescaled for the
 * mean, expanded back over the reduced axes.
 */
export function reduce(b: GraphBuilder, x: Value, kind: 'sum' | 'mean', axes: readonly number[], keepdims: boolean): Value {
  const count = axes.reduce((a, i) => a * staticDim(x.shape[i], `reduce${kind} axis ${i}`), 1);
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const shape = keepdims ? kept : x.shape.filter((_, i) => !axes.includes(i));
  const y = kind === 'sum'
    ? b.emit('ReduceSum', [x, b.constInt64([...axes])], { keepdims: keepdims ? 1 : 0 }, shape)
    : b.emit('ReduceMean', [x], { axes: [...axes], keepdims: keepdims ? 1 : 0 }, shape);
  return b.record([x], y, (g) => {
    let back = keepdims ? g : b.reshapeTo(g, kept);
    if (kind === 'mean') back = b.emit('Mul', [back, b.scalar(1 / count)], {}, kept);
    return [b.expandTo(back, x.shape)];
  });
}

/**
 * Embedding lookup: rows of a static table [V, ...] picked by int64 indices of any shape.
 * Backward: the gradient rows summed into a zero table at their indices (ScatterND, add).
 */
export function gatherRows(b: GraphBuilder, table: Value, indices: Value): Value {
  if (indices.type !== DataType.INT64) throw new TypeError('gatherRows: indices must be int64');
  const dims = table.shape.map((d) => staticDim(d, 'embedding table'));
  const y = b.emit('Gather', [table, indices], { axis: 0 }, [...indices.shape, ...table.shape.slice(1)]);
  return b.record([table, indices], y, (g, needs) => {
    if (!needs[0]) return [null, null];
    const zeros = b.emit('ConstantOfShape', [b.constInt64(dims)], {}, table.shape);
    const where = b.emit('Unsqueeze', [indices, b.constInt64([-1])], {}, [...indices.shape, 1], DataType.INT64);
    return [b.emit('ScatterND', [zeros, where, g], { reduction: { string: 'add' } }, table.shape), null];
  });
}
