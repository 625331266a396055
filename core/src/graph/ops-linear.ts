import { broadcastInto, broadcastShape, expectRank, staticDim, type AttrValue, type GraphBuilder, type Value } from './builder';
import type { Dim } from './onnx-proto';

/** Matrix products (Gemm, MatMul) and their backward rules, each gradient one Gemm or MatMul. */

export interface GemmOptions {
  readonly transA?: boolean;
  readonly transB?: boolean;
  readonly alpha?: number;
  readonly beta?: number;
}

/**
 * alpha * op(a) @ op(b) + beta * c (ONNX Gemm): a [M, K] (or [K, M] with transA), b [K, N]
 * (or [N, K] with transB), c broadcastable to [M, N] or null. Attributes at their defaults
 * are left out, so the plain x @ w + bias node is written as it always was.
 */
export function gemm(b: GraphBuilder, a: Value, w: Value, c: Value | null, options: GemmOptions = {}): Value {
  const { transA = false, transB = false, alpha = 1, beta = 1 } = options;
  const [a0, a1] = expectRank(a, 2, 'gemm a');
  const [b0, b1] = expectRank(w, 2, 'gemm b');
  const [m, k] = transA ? [a1, a0] : [a0, a1];
  const [k2, n] = transB ? [b1, b0] : [b0, b1];
  if (k !== k2) throw new RangeError(`gemm: inner dims differ (${k} vs ${k2})`);
  const out: Dim[] = [m, n];
  if (c) broadcastInto(c.shape, out, 'gemm c');
  const attrs: Record<string, AttrValue> = {};
  if (transA) attrs.transA = 1;
  if (transB) attrs.transB = 1;
  if (alpha !== 1) attrs.alpha = { float: alpha };
  if (beta !== 1) attrs.beta = { float: beta };
  const y = b.emit('Gemm', c ? [a, w, c] : [a, w], attrs, out);
  const scaled = (extra: Record<string, AttrValue>): Record<string, AttrValue> => (alpha !== 1 ? { ...extra, alpha: { float: alpha } } : extra);
  return b.record(c ? [a, w, c] : [a, w], y, (g, needs) => {
    // d op(a) = g op(b)^T and d op(b) = op(a)^T g, each written as one Gemm
    const da = !needs[0] ? null : transA
      ? b.emit('Gemm', [w, g], scaled({ ...(transB ? { transA: 1 } : {}), transB: 1 }), a.shape)
      : b.emit('Gemm', [g, w], scaled(transB ? {} : { transB: 1 }), a.shape);
    const db = !needs[1] ? null : transB
      ? b.emit('Gemm', [g, a], scaled({ transA: 1, ...(transA ? { transB: 1 } : {}) }), w.shape)
      : b.emit('Gemm', [a, g], scaled(transA ? {} : { transA: 1 }), w.shape);
    let dc: Value | null = null;
    if (c && needs[2]) {
      const gc = beta === 1 ? g : b.emit('Mul', [g, b.scalar(beta)], {}, g.shape);
      // a bias row [N] is the common case: one ReduceSum straight to its shape
      dc = c.shape.length === 1 && c.shape[0] === n ? b.reduceSum(gc, [0], false) : b.unbroadcast(gc, c.shape);
    }
    return [da, db, dc];
  });
}

/**
 * a @ w, numpy matmul semantics for ranks >= 2 (batch dims broadcast). A 2-D weight under a
 * batched input gets its gradient as one Gemm over the flattened batch.
 */
export function matmul(b: GraphBuilder, a: Value, w: Value): Value {
  if (a.shape.length === 2 && w.shape.length === 2) return matmul2d(b, a, w);
  if (a.shape.length < 2 || w.shape.length < 2) throw new RangeError(`matmul: 1-D operands are not supported ([${a.shape}] @ [${w.shape}])`);
  const [m, k] = a.shape.slice(-2), [k2, n] = w.shape.slice(-2);
  if (k !== k2) throw new RangeError(`matmul: inner dims differ (${k} vs ${k2})`);
  const batch = broadcastShape(a.shape.slice(0, -2), w.shape.slice(0, -2));
  const y = b.emit('MatMul', [a, w], {}, [...batch, m, n]);
  const swap = (v: Value): Value => {
    const r = v.shape.length;
    const perm = [...Array(r - 2).keys(), r - 1, r - 2];
    return b.emit('Transpose', [v], { perm }, perm.map((p) => v.shape[p]));
  };
  return b.record([a, w], y, (g, needs) => {
    const da = needs[0] ? b.unbroadcast(b.emit('MatMul', [g, swap(w)], {}, [...batch, m, k]), a.shape) : null;
    let dw: Value | null = null;
    if (needs[1] && w.shape.length === 2) {
      const rows = `${a.shape.slice(0, -1).join('*')}`;
      const a2 = b.emit('Reshape', [a, b.constInt64([-1, staticDim(k, 'matmul inner')])], {}, [rows, k]);
      const g2 = b.emit('Reshape', [g, b.constInt64([-1, staticDim(n, 'matmul columns')])], {}, [rows, n]);
      dw = b.emit('Gemm', [a2, g2], { transA: 1 }, w.shape);
    } else if (needs[1]) dw = b.unbroadcast(b.emit('MatMul', [swap(a), g], {}, [...batch, k, n]), w.shape);
    return [da, dw];
  });
}

/** a @ w for 2-D a [M, K] and w [K, N]: backward as two Gemms */
function matmul2d(b: GraphBuilder, a: Value, w: Value): Value {
  const [m, k] = expectRank(a, 2, 'matmul a');
  const [k2, n] = expectRank(w, 2, 'matmul b');
  if (k !== k2) throw new RangeError(`matmul: inner dims differ (${k} vs ${k2})`);
  const y = b.emit('MatMul', [a, w], {}, [m, n]);
  return b.record([a, w], y, (g, needs) => [
    needs[0] ? b.emit('Gemm', [g, w], { transB: 1 }, a.shape) : null,
    needs[1] ? b.emit('Gemm', [a, g], { transA: 1 }, w.shape) : null,
  ]);
}
