import { poolDivisors, windowOutput, type Window2d } from '../graph/ops-spatial';

/**
 * Plain float64 tensor kernels with ONNX semantics, written as loops for clarity, not speed:
 * the reference forward pass (reference.ts) and the importer's constant folding use them. They
 * share nothing with the ONNX graph path except the window arithmetic (output sizes and
 * AveragePool divisors), which ORT's own shapes and the loss comparison check.
 */
export interface T64 {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, d) => a * d, 1);

function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

/** numpy broadcasting of two static shapes */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const da = a[a.length - rank + i] ?? 1, db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new RangeError(`cannot broadcast [${a}] with [${b}]`);
    return da === 1 ? db : da;
  });
}

/** strides of `shape` read as `out` (0 on broadcast axes) */
function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const own = stridesOf(shape);
  const lead = out.length - shape.length;
  return out.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : own[i - lead]));
}

/** calls fn(outIndex, offsets...) for every element of `out`, offsets following each stride set */
function walk(out: readonly number[], strides: readonly number[][], fn: (i: number, offsets: number[]) => void): void {
  const total = sizeOf(out);
  const rank = out.length;
  const idx = new Array<number>(rank).fill(0);
  const offsets = strides.map(() => 0);
  for (let i = 0; i < total; i++) {
    fn(i, offsets);
    for (let ax = rank - 1; ax >= 0; ax--) {
      idx[ax]++;
      for (let k = 0; k < strides.length; k++) offsets[k] += strides[k][ax];
      if (idx[ax] < out[ax]) break;
      for (let k = 0; k < strides.length; k++) offsets[k] -= strides[k][ax] * out[ax];
      idx[ax] = 0;
    }
  }
}

export function binary(a: T64, b: T64, fn: (x: number, y: number) => number): T64 {
  const shape = broadcastShapes(a.shape, b.shape);
  const data = new Float64Array(sizeOf(shape));
  walk(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)], (i, [oa, ob]) => { data[i] = fn(a.data[oa], b.data[ob]); });
  return { shape, data };
}

export function map(a: T64, fn: (x: number) => number): T64 {
  return { shape: a.shape, data: a.data.map(fn) };
}

export function transpose(x: T64, perm: readonly number[]): T64 {
  const shape = perm.map((p) => x.shape[p]);
  const own = stridesOf(x.shape);
  const data = new Float64Array(x.data.length);
  walk(shape, [perm.map((p) => own[p])], (i, [o]) => { data[i] = x.data[o]; });
  return { shape, data };
}

/** numpy matmul for ranks >= 2, batch dims broadcast */
export function matmul(a: T64, b: T64): T64 {
  const [m, k] = a.shape.slice(-2), [k2, n] = b.shape.slice(-2);
  if (k !== k2) throw new RangeError(`matmul: inner dims differ (${k} vs ${k2})`);
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, m, n];
  const data = new Float64Array(sizeOf(shape));
  const sa = broadcastStrides(a.shape.slice(0, -2), batch).map((s) => s * m * k);
  const sb = broadcastStrides(b.shape.slice(0, -2), batch).map((s) => s * k * n);
  const ad = a.data, bd = b.data;
  let block = 0;
  walk(batch, [sa, sb], (_, [oa, ob]) => {
    const base = block++ * m * n;
    for (let i = 0; i < m; i++) {
      for (let p = 0; p < k; p++) {
        const av = ad[oa + i * k + p];
        if (av === 0) continue;
        for (let j = 0; j < n; j++) data[base + i * n + j] += av * bd[ob + p * n + j];
      }
    }
  });
  return { shape, data };
}

export function gemm(a: T64, b: T64, c: T64 | null, o: { transA: boolean; transB: boolean; alpha: number; beta: number }): T64 {
  const at = o.transA ? transpose(a, [1, 0]) : a;
  const bt = o.transB ? transpose(b, [1, 0]) : b;
  const prod = map(matmul(at, bt), (v) => v * o.alpha);
  return c ? binary(prod, c, (p, q) => p + o.beta * q) : prod;
}

export function softmax(x: T64, axis: number, log: boolean): T64 {
  const n = x.shape[axis];
  const inner = sizeOf(x.shape.slice(axis + 1));
  const outer = sizeOf(x.shape.slice(0, axis));
  const data = new Float64Array(x.data.length);
  for (let o = 0; o < outer; o++) {
    for (let r = 0; r < inner; r++) {
      const at = (j: number) => o * n * inner + j * inner + r;
      let max = -Infinity;
      for (let j = 0; j < n; j++) max = Math.max(max, x.data[at(j)]);
      let sum = 0;
      for (let j = 0; j < n; j++) sum += Math.exp(x.data[at(j)] - max);
      for (let j = 0; j < n; j++) data[at(j)] = log ? x.data[at(j)] - max - Math.log(sum) : Math.exp(x.data[at(j)] - max) / sum;
    }
  }
  return { shape: x.shape, data };
}

export function reduce(x: T64, axes: readonly number[], keepdims: boolean, mean: boolean): T64 {
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const data = new Float64Array(sizeOf(kept));
  walk(x.shape, [broadcastStrides(kept, x.shape)], (i, [o]) => { data[o] += x.data[i]; });
  if (mean) {
    const count = axes.reduce((a, i) => a * x.shape[i], 1);
    for (let i = 0; i < data.length; i++) data[i] /= count;
  }
  return { shape: keepdims ? kept : x.shape.filter((_, i) => !axes.includes(i)), data };
}

export function concat(xs: readonly T64[], axis: number): T64 {
  const shape = xs[0].shape.map((d, i) => (i === axis ? xs.reduce((a, t) => a + t.shape[axis], 0) : d));
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  const data = new Float64Array(sizeOf(shape));
  let at = 0;
  for (let o = 0; o < outer; o++) {
    for (const t of xs) {
      const chunk = t.shape[axis] * inner;
      data.set(t.data.subarray(o * chunk, (o + 1) * chunk), at);
      at += chunk;
    }
  }
  return { shape, data };
}

/** rows of table [V, ...] at integer indices (negative ones count from the end, as in ONNX) */
export function gatherRows(table: T64, indices: T64): T64 {
  const v = table.shape[0];
  const row = sizeOf(table.shape.slice(1));
  const shape = [...indices.shape, ...table.shape.slice(1)];
  const data = new Float64Array(sizeOf(shape));
  indices.data.forEach((raw, i) => {
    const r = raw < 0 ? raw + v : raw;
    if (!(Number.isInteger(r) && r >= 0 && r < v)) throw new RangeError(`index ${raw} is outside a table of ${v} rows`);
    data.set(table.data.subarray(r * row, (r + 1) * row), i * row);
  });
  return { shape, data };
}

export function conv2d(x: T64, w: T64, bias: T64 | null, win: Window2d, group: number): T64 {
  const [n, c, h, wd] = x.shape;
  const [o, cg, kh, kw] = w.shape;
  const oh = windowOutput(h, 0, win), ow = windowOutput(wd, 1, win);
  const [sh, sw] = win.strides, [dh, dw] = win.dilations, [pt, pl] = win.pads;
  const xs = x.data, ws = w.data;
  const perGroup = o / group;
  const data = new Float64Array(n * o * oh * ow);
  for (let b = 0; b < n; b++) {
    for (let f = 0; f < o; f++) {
      const c0 = Math.floor(f / perGroup) * cg;
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let s = bias ? bias.data[f] : 0;
          for (let ci = 0; ci < cg; ci++) {
            const plane = (b * c + c0 + ci) * h;
            const kernel = (f * cg + ci) * kh;
            for (let di = 0; di < kh; di++) {
              const r = i * sh + di * dh - pt;
              if (r < 0 || r >= h) continue;
              for (let dj = 0; dj < kw; dj++) {
                const q = j * sw + dj * dw - pl;
                if (q < 0 || q >= wd) continue;
                s += xs[(plane + r) * wd + q] * ws[(kernel + di) * kw + dj];
              }
            }
          }
          data[((b * o + f) * oh + i) * ow + j] = s;
        }
      }
    }
  }
  return { shape: [n, o, oh, ow], data };
}

/** max or average over each window; padding never counts for max, and for average as the divisors say */
export function pool2d(x: T64, win: Window2d, ceil: boolean, kind: 'max' | { countIncludePad: boolean }): T64 {
  const [n, c, h, wd] = x.shape;
  const oh = windowOutput(h, 0, win, ceil), ow = windowOutput(wd, 1, win, ceil);
  const divisors = kind === 'max' ? null : poolDivisors([h, wd], [oh, ow], win, kind.countIncludePad);
  const [kh, kw] = win.kernel, [sh, sw] = win.strides, [dh, dw] = win.dilations, [pt, pl] = win.pads;
  const xs = x.data;
  const data = new Float64Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let acc = divisors ? 0 : -Infinity;
        for (let di = 0; di < kh; di++) {
          const r = i * sh + di * dh - pt;
          if (r < 0 || r >= h) continue;
          for (let dj = 0; dj < kw; dj++) {
            const q = j * sw + dj * dw - pl;
            if (q < 0 || q >= wd) continue;
            const v = xs[(p * h + r) * wd + q];
            acc = divisors ? acc + v : Math.max(acc, v);
          }
        }
        data[(p * oh + i) * ow + j] = divisors ? acc / divisors[i * ow + j] : acc;
      }
    }
  }
  return { shape: [n, c, oh, ow], data };
}

/**
 * erf to ~1e-15: its Maclaurin series below 2.5 (terms shrink fast enough there that the
 * alternating sum loses < 4 digits), the continued fraction of erfc beyond.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let term = x, sum = x;
    for (let k = 1; k < 80; k++) {
      term *= (-x * x) / k;
      const add = term / (2 * k + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), evaluated bottom-up
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}
