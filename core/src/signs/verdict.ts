import { DecodeError, decodeCheck } from '../decode-error';
import { bitAt, checkLength, checkPacked, packedBytes } from './bits';

/**
 * A majority verdict in three states. `signs` uses the ballot layout (bit 1 = +1); `ties`
 * marks coordinates whose vote was even (value 0), with their sign bit kept at 0 so one
 * verdict has one byte form. `ties` is null exactly when there is no tie, which is always
 * the case for an odd number of ballots. Same fields as Update 'verdict' (optim/strategy.ts).
 */
export interface Verdict {
  readonly signs: Uint8Array;
  readonly ties: Uint8Array | null;
}

export function verdictValue(verdict: Verdict, i: number): -1 | 0 | 1 {
  if (!(Number.isInteger(i) && i >= 0 && i < verdict.signs.length * 8)) {
    throw new RangeError(`coordinate ${i} is outside a verdict of ${verdict.signs.length} bytes`);
  }
  if (verdict.ties !== null && bitAt(verdict.ties, i) === 1) return 0;
  return bitAt(verdict.signs, i) === 1 ? 1 : -1;
}

/** Verdict of per-coordinate vote counts (#plus - #minus): >0 -> +1, <0 -> -1, 0 -> tie. */
export function verdictFromTally(counts: Int32Array): Verdict {
  const d = counts.length;
  const bytes = packedBytes(d);
  const signs = new Uint8Array(bytes);
  const ties = new Uint8Array(bytes);
  let anyTie = 0;
  for (let b = 0, i = 0; b < bytes; b++) {
    let s = 0, t = 0;
    const end = Math.min(d, i + 8);
    for (let k = 0; i < end; i++, k++) {
      const c = counts[i];
      s |= (c > 0 ? 1 : 0) << k;
      t |= (c === 0 ? 1 : 0) << k;
    }
    signs[b] = s;
    ties[b] = t;
    anyTie |= t;
  }
  return { signs, ties: anyTie === 0 ? null : ties };
}

/**
 * Wire form, byte 0 is the form tag, then the d sign bits (B = ceil(d/8) bytes):
 * - 0 "no ties":     1 + B bytes;
 * - 1 "tie bitmap":  1 + B + B bytes, the tie bitmap follows the signs;
 * - 2 "tie list":    1 + B + 4 + 4k bytes: u32 LE k >= 1, then k strictly increasing u32 LE
 *                    tie indices; chosen whenever 4 + 4k < B (few ties in a large vector).
 * The encoder always picks the smallest form, so equal verdicts have equal bytes.
 */
const VERDICT_NO_TIES = 0;
const VERDICT_TIE_BITMAP = 1;
const VERDICT_TIE_LIST = 2;

export function encodedVerdictBytes(d: number, tieCount: number): number {
  const B = packedBytes(d);
  if (tieCount === 0) return 1 + B;
  return 4 + 4 * tieCount < B ? 1 + B + 4 + 4 * tieCount : 1 + 2 * B;
}

export function checkVerdict(v: Verdict, d: number, what = 'verdict'): void {
  checkPacked(v.signs, d, `${what} signs`);
  if (v.ties === null) return;
  checkPacked(v.ties, d, `${what} ties`);
  for (let b = 0; b < v.ties.length; b++) {
    if ((v.ties[b] & v.signs[b]) !== 0) throw new RangeError(`${what} has a sign bit set on a tie in byte ${b}`);
  }
}

export function encodeVerdict(v: Verdict, d: number): Uint8Array {
  checkVerdict(v, d);
  const B = packedBytes(d);
  const ties = v.ties;
  let tieCount = 0;
  if (ties !== null) for (let b = 0; b < B; b++) tieCount += popcount8(ties[b]);
  const out = new Uint8Array(encodedVerdictBytes(d, tieCount));
  out.set(v.signs, 1);
  if (ties === null || tieCount === 0) {
    out[0] = VERDICT_NO_TIES;
  } else if (out.length === 1 + 2 * B) {
    out[0] = VERDICT_TIE_BITMAP;
    out.set(ties, 1 + B);
  } else {
    out[0] = VERDICT_TIE_LIST;
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    view.setUint32(1 + B, tieCount, true);
    let at = 1 + B + 4;
    for (let b = 0; b < B; b++) {
      for (let bits = ties[b]; bits !== 0; bits &= bits - 1) {
        view.setUint32(at, b * 8 + (31 - Math.clz32(bits & -bits)), true);
        at += 4;
      }
    }
  }
  return out;
}

/** Inverse of encodeVerdict; throws a DecodeError naming the problem on any malformed input. */
export function decodeVerdict(bytes: Uint8Array, d: number): Verdict {
  checkLength(d);
  if (!(bytes instanceof Uint8Array)) throw new DecodeError('encoded verdict must be a Uint8Array');
  const B = packedBytes(d);
  if (bytes.length < 1 + B) {
    throw new DecodeError(`encoded verdict has ${bytes.length} bytes, expected at least ${1 + B} for d = ${d}`);
  }
  const tag = bytes[0];
  const signs = bytes.slice(1, 1 + B);
  decodeCheck(() => checkPacked(signs, d, 'verdict signs'));
  let ties: Uint8Array | null = null;
  if (tag === VERDICT_NO_TIES) {
    if (bytes.length !== 1 + B) {
      throw new DecodeError(`encoded verdict without ties has ${bytes.length} bytes, expected ${1 + B} for d = ${d}`);
    }
  } else if (tag === VERDICT_TIE_BITMAP) {
    if (bytes.length !== 1 + 2 * B) {
      throw new DecodeError(`encoded verdict with a tie bitmap has ${bytes.length} bytes, expected ${1 + 2 * B} for d = ${d}`);
    }
    const bitmap = bytes.slice(1 + B);
    decodeCheck(() => checkPacked(bitmap, d, 'verdict ties'));
    let any = 0;
    for (let b = 0; b < B; b++) any |= bitmap[b];
    if (any === 0) throw new DecodeError('encoded verdict has an empty tie bitmap (should use the no-ties form)');
    ties = bitmap;
  } else if (tag === VERDICT_TIE_LIST) {
    if (bytes.length < 1 + B + 4) {
      throw new DecodeError(`encoded verdict with a tie list has ${bytes.length} bytes, expected at least ${1 + B + 4}`);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const k = view.getUint32(1 + B, true);
    if (k === 0) throw new DecodeError('encoded verdict has an empty tie list (should use the no-ties form)');
    const expected = 1 + B + 4 + 4 * k;
    if (bytes.length !== expected) {
      throw new DecodeError(`encoded verdict with ${k} listed ties has ${bytes.length} bytes, expected ${expected}`);
    }
    ties = new Uint8Array(B);
    let prev = -1;
    for (let j = 0, at = 1 + B + 4; j < k; j++, at += 4) {
      const i = view.getUint32(at, true);
      if (i >= d) throw new DecodeError(`encoded verdict lists tie index ${i}, outside d = ${d}`);
      if (i <= prev) throw new DecodeError(`encoded verdict tie indices must be strictly increasing (${i} after ${prev})`);
      prev = i;
      ties[i >>> 3] |= 1 << (i & 7);
    }
  } else {
    throw new DecodeError(`encoded verdict has unknown form tag ${tag}`);
  }
  const verdict: Verdict = { signs, ties };
  decodeCheck(() => checkVerdict(verdict, d));
  return verdict;
}

function popcount8(b: number): number {
  b = b - ((b >>> 1) & 0x55);
  b = (b & 0x33) + ((b >>> 2) & 0x33);
  return (b + (b >>> 4)) & 0x0f;
}
