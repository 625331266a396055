import type { Rng } from '../random';
import { checkPacked, packedOut } from './bits';

/**
 * Sign bit of one float32 given its raw bits: 0 exactly when v < 0 (so +-0 and NaN give 1).
 * Integer-only, so the compiler emits no data-dependent branches: a negative v is sign bit 1,
 * magnitude m in [1, 0x7f800000] (nonzero, at most infinity, not a NaN).
 */
function signBit(x: number): number {
  const m = x & 0x7fffffff;
  return 1 ^ ((x >>> 31) & ((m + 0x7fffffff) >>> 31) & (((0x7f800000 - m) >>> 31) ^ 1));
}

/** Deterministic 1-bit sign: bit = !(v_i < 0), i.e. Sign(0) = Sign(NaN) = +1 (see bits.ts). */
export function packSigns(v: Float32Array, out?: Uint8Array): Uint8Array {
  const d = v.length;
  const bits = packedOut(d, out);
  const raw = new Int32Array(v.buffer, v.byteOffset, d);
  const full = d >>> 3;
  let i = 0;
  for (let b = 0; b < full; b++, i += 8) {
    bits[b] =
      signBit(raw[i]) |
      (signBit(raw[i + 1]) << 1) |
      (signBit(raw[i + 2]) << 2) |
      (signBit(raw[i + 3]) << 3) |
      (signBit(raw[i + 4]) << 4) |
      (signBit(raw[i + 5]) << 5) |
      (signBit(raw[i + 6]) << 6) |
      (signBit(raw[i + 7]) << 7);
  }
  if (i < d) {
    let byte = 0;
    for (let k = 0; i < d; i++, k++) byte |= signBit(raw[i]) << k;
    bits[full] = byte;
  }
  return bits;
}

/** +1 / -1 per coordinate. Rejects a wrong byte count or nonzero padding. */
export function unpackSigns(bits: Uint8Array, d: number, out?: Float32Array): Float32Array {
  checkPacked(bits, d, 'bits');
  if (out !== undefined && out.length !== d) {
    throw new RangeError(`out has ${out.length} elements, expected d = ${d}`);
  }
  const x = out ?? new Float32Array(d);
  for (let i = 0; i < d; i++) x[i] = ((bits[i >>> 3] >>> (i & 7)) & 1) * 2 - 1;
  return x;
}

/**
 * Stochastic sign S_R(v): bit i is +1 with probability (1 + v_i / R) / 2, clipped to [0, 1],
 * so E[S_R(v)] = clip(v, -R, R) / R; v_i = 0 and NaN are fair coins.
 *
 * Coins: bit = u_i < (1 + v_i / R) * 2^31 with u_i a uniform u32, exact up to 2^-32. The
 * comparison clips by itself (|v_i| >= R puts the threshold outside [0, 2^32)), and it is
 * turned into a number with unary +, which compiles to a flag move: a branch (`? 1 : 0`,
 * Math.min/max clipping) on random coins mispredicts and runs 4x slower.
 *
 * The u32s come from a xoshiro128** stream (the generator of core/src/random.ts) whose
 * 128-bit state is four `rng.u32()` draws, stepped inline here: going through `rng` once per
 * coordinate caps the rate near 40 M coords/s. Each call consumes exactly four draws of
 * `rng`, so the same seed gives the same bits on every peer and platform.
 */
export function stochasticSignPack(v: Float32Array, R: number, rng: Rng, out?: Uint8Array): Uint8Array {
  const scale = coinScale(R);
  const bits = packedOut(v.length, out);
  const [a, b, c, e] = coinSeed(rng);
  signsFromCoins(v, scale, a, b, c, e, bits);
  return bits;
}

/**
 * The momentum step and its stochastic sign in one pass: m <- beta m + c g, then the bits
 * stochasticSignPack(m, R, rng) would give, from the same four draws of `rng`. Committed only
 * if every new entry of m is finite (as optim's accumulate): otherwise m is left as it was and
 * the bits are S_R of that m, from the same coins. Returns whether m was updated.
 *
 * One pass instead of three (a finiteness check of g, the update, the signs) takes a third off
 * a worker's vector work per round; the coin stream is stepped inline here too, for the same
 * reason as in signsFromCoins. `scratch` (length d) holds the new m until it is committed.
 */
export function momentumStochasticSignPack(
  m: Float32Array,
  g: Float32Array,
  beta: number,
  c: number,
  R: number,
  rng: Rng,
  scratch: Float32Array,
  out?: Uint8Array,
): { bits: Uint8Array; committed: boolean } {
  const d = m.length;
  if (g.length !== d || scratch.length !== d) {
    throw new RangeError(`momentum has length ${d}, gradient ${g.length}, scratch ${scratch.length}`);
  }
  const scale = coinScale(R);
  const bits = packedOut(d, out);
  const [a0, b0, c0, e0] = coinSeed(rng);
  let a = a0, b = b0, cc = c0, e = e0;
  const full = d >>> 3;
  let i = 0, bad = 0;
  for (let byteAt = 0; byteAt <= full; byteAt++) {
    const count = byteAt < full ? 8 : d & 7;
    if (count === 0) break;
    let byte = 0;
    for (let k = 0; k < count; k++, i++) {
      const mm = Math.imul(b, 5);
      const u = Math.imul((mm << 7) | (mm >>> 25), 9) >>> 0;
      const t = b << 9;
      cc ^= a; e ^= b; b ^= cc; a ^= e;
      cc ^= t;
      e = (e << 11) | (e >>> 21);
      const v = Math.fround(beta * m[i] + c * g[i]);
      scratch[i] = v;
      bad |= +(v - v !== 0);
      // a non-finite v makes these bits moot (redrawn from the old m below); NaN from
      // 0 * Infinity (a tiny R) is the fair coin, as in signsFromCoins
      let threshold = 2147483648 + v * scale;
      if (threshold !== threshold) threshold = 2147483648;
      byte |= +(u < threshold) << k;
    }
    bits[byteAt] = byte;
  }
  if (bad !== 0) {
    signsFromCoins(m, scale, a0, b0, c0, e0, bits);
    return { bits, committed: false };
  }
  m.set(scratch);
  return { bits, committed: true };
}

function coinScale(R: number): number {
  if (!(typeof R === 'number' && Number.isFinite(R) && R > 0)) {
    throw new RangeError(`stochastic sign scale R must be finite and > 0, got ${R}`);
  }
  // may be Infinity for a tiny R: then v_i = 0 gives NaN (a fair coin) and all else is clipped
  return 2147483648 / R;
}

/** the 128-bit xoshiro state of one call's coins: four draws of `rng` (never all zero) */
function coinSeed(rng: Rng): [number, number, number, number] {
  const a = rng.u32() | 0, b = rng.u32() | 0, c = rng.u32() | 0, e = rng.u32() | 0;
  return (a | b | c | e) === 0 ? [1, b, c, e] : [a, b, c, e];
}

function signsFromCoins(v: Float32Array, scale: number, a: number, b: number, c: number, e: number, bits: Uint8Array): void {
  const d = v.length;
  const full = d >>> 3;
  let i = 0;
  for (let byteAt = 0; byteAt <= full; byteAt++) {
    // 8 coordinates per byte; the last pass takes the d % 8 leftovers (none if d % 8 === 0)
    const count = byteAt < full ? 8 : d & 7;
    if (count === 0) break;
    let byte = 0;
    for (let k = 0; k < count; k++, i++) {
      const m = Math.imul(b, 5);
      const u = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
      const t = b << 9;
      c ^= a; e ^= b; b ^= c; a ^= e;
      c ^= t;
      e = (e << 11) | (e >>> 21);
      // 2^31 spelled out: a module-level constant that is not a small integer is reloaded
      // from the heap on every use here, which made this loop 5x slower under V8
      let threshold = 2147483648 + v[i] * scale;
      if (threshold !== threshold) threshold = 2147483648;
      byte |= +(u < threshold) << k;
    }
    bits[byteAt] = byte;
  }
}

/** The u32 stream stochasticSignPack draws its coins from after four draws of `rng` (for tests). */
export function stochasticSignStream(rng: Rng): () => number {
  let [a, b, c, e] = coinSeed(rng);
  return () => {
    const m = Math.imul(b, 5);
    const u = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = b << 9;
    c ^= a; e ^= b; b ^= c; a ^= e;
    c ^= t;
    e = (e << 11) | (e >>> 21);
    return u;
  };
}
