/**
 * Packed sign vectors: the one bit layout every ballot, verdict and wire message shares.
 *
 * Layout (see docs/signs.md):
 * - coordinate i lives in byte i >> 3 at bit position i & 7 (LSB first), so a vector of d
 *   signs takes ceil(d / 8) bytes; on little-endian hosts (every browser and Node target)
 *   this is also bit i & 31 of 32-bit word i >> 5, which the word-wide kernels rely on;
 * - bit 1 means +1, bit 0 means -1;
 * - an exact 0 (and NaN) has no direction: one bit has no room for the paper's Sign(0) = 0, so
 *   packSigns draws a seeded fair coin for it, whose expectation is 0 (see pack.ts);
 * - the padding bits of the last byte are zero; readers reject vectors whose padding is not.
 */

export function packedBytes(d: number): number {
  checkLength(d);
  return (d + 7) >>> 3;
}

export function checkLength(d: number): void {
  if (!(Number.isInteger(d) && d >= 0 && d <= 0x7fffffff)) {
    throw new RangeError(`vector length d must be an integer in [0, 2^31), got ${d}`);
  }
}

/** Throws unless `bits` is a well-formed packed vector of d signs (`what` names it in the error). */
export function checkPacked(bits: Uint8Array, d: number, what = 'packed signs'): void {
  const bytes = packedBytes(d);
  if (!(bits instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  if (bits.length !== bytes) {
    throw new RangeError(`${what} has ${bits.length} bytes, expected ${bytes} for d = ${d}`);
  }
  const used = d & 7;
  if (used !== 0 && (bits[bytes - 1] >>> used) !== 0) {
    throw new RangeError(`${what} has nonzero padding bits after coordinate ${d - 1}`);
  }
}

/** `out` if given (checked to be exactly ceil(d/8) bytes), else a fresh zeroed buffer. */
export function packedOut(d: number, out: Uint8Array | undefined, what = 'out'): Uint8Array {
  const bytes = packedBytes(d);
  if (out === undefined) return new Uint8Array(bytes);
  if (out.length !== bytes) throw new RangeError(`${what} has ${out.length} bytes, expected ${bytes} for d = ${d}`);
  return out;
}

/** Sign bit of coordinate i (1 = +1). No bounds check: callers index within d. */
export function bitAt(bits: Uint8Array, i: number): number {
  return (bits[i >>> 3] >>> (i & 7)) & 1;
}
