/**
 * Parameter hash: 64 bits from two independent 32-bit lanes over the raw fp32 words.
 *
 * Peers compare hashes every round (each ballot carries one), so this must be cheap for
 * d ~ 10^5..10^6: one pass over 32-bit words, two murmur3-style lanes with different seeds
 * and constants, each finalised with murmur3's avalanche. It detects divergence (a missed or
 * doubled update, a corrupted buffer), it is not a cryptographic commitment. Bits are hashed as
 * they are, so -0 and +0 differ, which is right: identical updates give identical bits.
 */

const SEED_A = 0x9747b28c;
const SEED_B = 0x5bd1e995;

export type ParamHash = string;

/** 16 lowercase hex digits */
export const paramHashPattern = /^[0-9a-f]{16}$/;

export function hashParams(x: Float32Array): ParamHash {
  const words = new Uint32Array(x.buffer, x.byteOffset, x.length);
  let a = SEED_A ^ words.length;
  let b = SEED_B ^ Math.imul(words.length, 0x27d4eb2f);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    let k = Math.imul(w, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    a ^= k;
    a = (a << 13) | (a >>> 19);
    a = (Math.imul(a, 5) + 0xe6546b64) | 0;

    let j = Math.imul(w ^ (w >>> 16), 0x85ebca77);
    j = (j << 17) | (j >>> 15);
    j = Math.imul(j, 0xc2b2ae3d);
    b ^= j;
    b = (b << 11) | (b >>> 21);
    b = (Math.imul(b, 9) + 0x165667b1) | 0;
  }
  return hex32(fmix(a)) + hex32(fmix(b ^ a));
}

/** Hash of two vectors at once (a snapshot's x and x_prev). */
export function hashPair(x: Float32Array, xPrev: Float32Array): ParamHash {
  const hx = hashParams(x);
  const hp = hashParams(xPrev);
  let a = parseInt(hx.slice(0, 8), 16) ^ Math.imul(parseInt(hp.slice(0, 8), 16), 0x85ebca6b);
  let b = parseInt(hx.slice(8), 16) ^ Math.imul(parseInt(hp.slice(8), 16), 0xc2b2ae35);
  a = fmix(a);
  b = fmix(b ^ a);
  return hex32(a) + hex32(b);
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}
