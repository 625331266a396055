import { checkPacked } from './bits';
import { checkVerdict, type Verdict } from './verdict';

/**
 * Parameter updates straight from packed signs, never unpacking to a float vector:
 * x_i <- x_i - gamma * (s_i + weightDecay * x_i), with s_i in {-1, 0, +1}.
 * Every peer runs this same function on the same bytes, so all copies of x stay bit-identical.
 */

function checkStep(gamma: number, weightDecay: number): void {
  if (!Number.isFinite(gamma)) throw new RangeError(`learning rate gamma must be finite, got ${gamma}`);
  if (!Number.isFinite(weightDecay)) throw new RangeError(`weightDecay must be finite, got ${weightDecay}`);
}

export function applyVerdict(x: Float32Array, v: Verdict, gamma: number, weightDecay = 0): void {
  const d = x.length;
  checkVerdict(v, d);
  checkStep(gamma, weightDecay);
  if (v.ties === null) stepSigns(x, v.signs, gamma, weightDecay);
  else stepVerdict(x, v.signs, v.ties, gamma, weightDecay);
}

/** The one-ballot case (signSGD, Signum): every coordinate is +1 or -1. */
export function applySigns(x: Float32Array, bits: Uint8Array, gamma: number, weightDecay = 0): void {
  checkPacked(bits, x.length, 'bits');
  checkStep(gamma, weightDecay);
  stepSigns(x, bits, gamma, weightDecay);
}

/*
 * The kernels below are unrolled by hand, 8 coordinates per byte of bits: V8 does not unroll
 * the inner loop itself, and unrolled it runs about 1.5x faster. They hold no branch on the
 * bits (random signs would mispredict half the time). One formula for every case, so that
 * weightDecay = 0 gives bit-for-bit x - gamma * s.
 */

function stepSigns(x: Float32Array, signs: Uint8Array, gamma: number, weightDecay: number): void {
  const d = x.length;
  const full = d >>> 3;
  let i = 0;
  for (let b = 0; b < full; b++, i += 8) {
    const sb = signs[b];
    x[i + 0] = x[i + 0] - gamma * (((sb >>> 0) & 1) * 2 - 1 + weightDecay * x[i + 0]);
    x[i + 1] = x[i + 1] - gamma * (((sb >>> 1) & 1) * 2 - 1 + weightDecay * x[i + 1]);
    x[i + 2] = x[i + 2] - gamma * (((sb >>> 2) & 1) * 2 - 1 + weightDecay * x[i + 2]);
    x[i + 3] = x[i + 3] - gamma * (((sb >>> 3) & 1) * 2 - 1 + weightDecay * x[i + 3]);
    x[i + 4] = x[i + 4] - gamma * (((sb >>> 4) & 1) * 2 - 1 + weightDecay * x[i + 4]);
    x[i + 5] = x[i + 5] - gamma * (((sb >>> 5) & 1) * 2 - 1 + weightDecay * x[i + 5]);
    x[i + 6] = x[i + 6] - gamma * (((sb >>> 6) & 1) * 2 - 1 + weightDecay * x[i + 6]);
    x[i + 7] = x[i + 7] - gamma * (((sb >>> 7) & 1) * 2 - 1 + weightDecay * x[i + 7]);
  }
  for (let k = 0; i < d; i++, k++) {
    const sb = signs[full];
    x[i] = x[i] - gamma * (((sb >>> k) & 1) * 2 - 1 + weightDecay * x[i]);
  }
}

/** A tie has sign bit 0 (checkVerdict enforces it), so s = 2 * sign - 1 + tie is -1, +1 or 0. */
function stepVerdict(x: Float32Array, signs: Uint8Array, ties: Uint8Array, gamma: number, weightDecay: number): void {
  const d = x.length;
  const full = d >>> 3;
  let i = 0;
  for (let b = 0; b < full; b++, i += 8) {
    const sb = signs[b], tb = ties[b];
    x[i + 0] = x[i + 0] - gamma * (((sb >>> 0) & 1) * 2 - 1 + ((tb >>> 0) & 1) + weightDecay * x[i + 0]);
    x[i + 1] = x[i + 1] - gamma * (((sb >>> 1) & 1) * 2 - 1 + ((tb >>> 1) & 1) + weightDecay * x[i + 1]);
    x[i + 2] = x[i + 2] - gamma * (((sb >>> 2) & 1) * 2 - 1 + ((tb >>> 2) & 1) + weightDecay * x[i + 2]);
    x[i + 3] = x[i + 3] - gamma * (((sb >>> 3) & 1) * 2 - 1 + ((tb >>> 3) & 1) + weightDecay * x[i + 3]);
    x[i + 4] = x[i + 4] - gamma * (((sb >>> 4) & 1) * 2 - 1 + ((tb >>> 4) & 1) + weightDecay * x[i + 4]);
    x[i + 5] = x[i + 5] - gamma * (((sb >>> 5) & 1) * 2 - 1 + ((tb >>> 5) & 1) + weightDecay * x[i + 5]);
    x[i + 6] = x[i + 6] - gamma * (((sb >>> 6) & 1) * 2 - 1 + ((tb >>> 6) & 1) + weightDecay * x[i + 6]);
    x[i + 7] = x[i + 7] - gamma * (((sb >>> 7) & 1) * 2 - 1 + ((tb >>> 7) & 1) + weightDecay * x[i + 7]);
  }
  for (let k = 0; i < d; i++, k++) {
    const sb = signs[full], tb = ties[full];
    x[i] = x[i] - gamma * (((sb >>> k) & 1) * 2 - 1 + ((tb >>> k) & 1) + weightDecay * x[i]);
  }
}

/** Number of NaN or +-Infinity entries (a peer should not vote with a poisoned vector). */
export function countNonFinite(v: Float32Array): number {
  let bad = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x - x !== 0) bad++;
  }
  return bad;
}
