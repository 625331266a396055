import type { Rng } from '../random';
import { checkPacked, packedOut } from './bits';

/**
 * 1-bit sign with no direction for an exact zero: bit i = 1 for v_i > 0, 0 for v_i < 0, and a
 * fair coin for v_i = +-0 and NaN, so E[2 bit - 1] = Sign(v_i) with the paper's Sign(0) = 0
 * (docs/signs.md: a deterministic Sign(0) = +1 drifted every always-zero coordinate by -gamma
 * a round). The coins come from the stochastic sign's stream design: four draws of `rng` seed an
 * inline xoshiro128**, whose k-th u32 gives the coins of coordinates 32k..32k+31 (bit i & 31),
 * drawn for every word whatever v holds. So each call consumes exactly four draws of `rng`, and a
 * coordinate's coin does not depend on the other coordinates.
 *
 * Per coordinate two float comparisons made numbers with unary + (flag moves, no branches):
 * v > 0 gives the bit, and neither v > 0 nor v < 0 (zero or NaN) takes the coin. This runs at
 * 0.9-1x the speed of the one-comparison Sign(0) = +1 it replaces (docs/signs.md, Benchmarks).
 */
export function packSigns(v: Float32Array, rng: Rng, out?: Uint8Array): Uint8Array {
  const d = v.length;
  const bits = packedOut(d, out);
  let [a, b, c, e] = coinSeed(rng);
  let i = 0, at = 0;
  for (; i + 32 <= d; i += 32, at += 4) {
    const mm = Math.imul(b, 5);
    const u = Math.imul((mm << 7) | (mm >>> 25), 9);
    const t = b << 9;
    c ^= a; e ^= b; b ^= c; a ^= e;
    c ^= t;
    e = (e << 11) | (e >>> 21);
    bits[at] = eightSigns(v, i, u);
    bits[at + 1] = eightSigns(v, i + 8, u >>> 8);
    bits[at + 2] = eightSigns(v, i + 16, u >>> 16);
    bits[at + 3] = eightSigns(v, i + 24, u >>> 24);
  }
  if (i < d) {
    // the last d % 32 coordinates take one more word of coins; padding bits stay zero
    const mm = Math.imul(b, 5);
    const u = Math.imul((mm << 7) | (mm >>> 25), 9);
    bits.fill(0, at); // `out` may hold an older vector
    for (let k = 0; i < d; i++, k++) {
      const plus = +(v[i] > 0), minus = +(v[i] < 0);
      bits[at + (k >>> 3)] |= (plus | ((u >>> k) & 1 & ~(plus | minus))) << (k & 7);
    }
  }
  return bits;
}

/** packed byte of v[i..i+8): the sign bits, and the low byte of `coins` where v is 0 or NaN */
function eightSigns(v: Float32Array, i: number, coins: number): number {
  const plus =
    +(v[i] > 0) | (+(v[i + 1] > 0) << 1) | (+(v[i + 2] > 0) << 2) | (+(v[i + 3] > 0) << 3) |
    (+(v[i + 4] > 0) << 4) | (+(v[i + 5] > 0) << 5) | (+(v[i + 6] > 0) << 6) | (+(v[i + 7] > 0) << 7);
  const minus =
    +(v[i] < 0) | (+(v[i + 1] < 0) << 1) | (+(v[i + 2] < 0) << 2) | (+(v[i + 3] < 0) << 3) |
    (+(v[i + 4] < 0) << 4) | (+(v[i + 5] < 0) << 5) | (+(v[i + 6] < 0) << 6) | (+(v[i + 7] < 0) << 7);
  return plus | (coins & ~(plus | minus) & 0xff);
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
