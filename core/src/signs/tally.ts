import { checkPacked, packedBytes } from './bits';
import type { Verdict } from './verdict';

/**
 * Counting the votes of n packed ballots without unpacking them.
 *
 * Ballots are read as 32-bit words (32 coordinates each) and added with a bit-sliced
 * vertical counter: plane j holds bit j of every coordinate's count of +1 votes. Sixteen
 * ballots at a time go through a Harley-Seal carry-save adder tree (15 full adders, about
 * 5 word operations per ballot word), and only the "sixteens" carry ripples into the higher
 * planes. The majority is then a word-wide comparison of the planes with floor(n / 2), so
 * majorityVerdict never holds one count per coordinate.
 */

/** The word kernels read byte b of a ballot as bits 8(b & 3).. of word b >> 2. */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Words of 32 coordinates per block: the planes of one block stay in L1. */
const BLOCK_WORDS = 256;

interface WordViews {
  /** per ballot: its full 32-bit words */
  readonly main: Int32Array[];
  /** per ballot: the last 1-3 bytes as one zero-extended word, or null when B % 4 === 0 */
  readonly tail: Int32Array[] | null;
  readonly mainWords: number;
}

function checkBallots(ballots: readonly Uint8Array[], d: number): void {
  if (!Array.isArray(ballots) || ballots.length === 0) {
    throw new RangeError(`need at least one ballot, got ${Array.isArray(ballots) ? 0 : typeof ballots}`);
  }
  for (let j = 0; j < ballots.length; j++) checkPacked(ballots[j], d, `ballot ${j}`);
}

function wordViews(ballots: readonly Uint8Array[], bytes: number): WordViews {
  const mainWords = bytes >>> 2;
  const tailBytes = bytes & 3;
  const main: Int32Array[] = [];
  const tail: Int32Array[] | null = tailBytes === 0 ? null : [];
  for (const b of ballots) {
    if ((b.byteOffset & 3) === 0) {
      main.push(new Int32Array(b.buffer, b.byteOffset, mainWords));
    } else {
      // a ballot sliced out of a larger message at an odd offset: one copy to align it
      const copy = new Uint8Array(mainWords * 4);
      copy.set(b.subarray(0, mainWords * 4));
      main.push(new Int32Array(copy.buffer));
    }
    if (tail !== null) {
      let w = 0;
      for (let k = 0; k < tailBytes; k++) w |= b[mainWords * 4 + k] << (8 * k);
      tail.push(Int32Array.of(w));
    }
  }
  return { main, tail, mainWords };
}

function planeCount(n: number): number {
  return Math.max(4, 32 - Math.clz32(n));
}

/**
 * Bit planes of the +1 counts of words [w0, w1): planes[(w - w0) * K + j] is plane j of word w.
 * Ballots go in groups of 16 through the whole block before the next group, so only 16
 * ballot streams are live at a time (sequential, prefetch friendly) while the block's planes
 * stay in L1; visiting all n ballots per word instead touches n cache lines per word and was
 * 2x slower at n = 1000.
 */
function countPlanes(words: Int32Array[], w0: number, w1: number, K: number, planes: Int32Array): void {
  const n = words.length;
  planes.fill(0, 0, (w1 - w0) * K);
  let j = 0;
  for (; j + 16 <= n; j += 16) {
    const x0 = words[j], x1 = words[j + 1], x2 = words[j + 2], x3 = words[j + 3];
    const x4 = words[j + 4], x5 = words[j + 5], x6 = words[j + 6], x7 = words[j + 7];
    const x8 = words[j + 8], x9 = words[j + 9], x10 = words[j + 10], x11 = words[j + 11];
    const x12 = words[j + 12], x13 = words[j + 13], x14 = words[j + 14], x15 = words[j + 15];
    for (let w = w0, p = 0; w < w1; w++, p += K) {
      let ones = planes[p], twos = planes[p + 1], fours = planes[p + 2], eights = planes[p + 3];
      // full adder CSA(a, b, c) -> carry (a&b)|(u&c), sum u^c with u = a^b
      let a = x0[w], b = x1[w];
      let u = ones ^ a;
      let twosA = (ones & a) | (u & b);
      ones = u ^ b;
      a = x2[w]; b = x3[w];
      u = ones ^ a;
      let twosB = (ones & a) | (u & b);
      ones = u ^ b;
      u = twos ^ twosA;
      const foursA = (twos & twosA) | (u & twosB);
      twos = u ^ twosB;

      a = x4[w]; b = x5[w];
      u = ones ^ a;
      twosA = (ones & a) | (u & b);
      ones = u ^ b;
      a = x6[w]; b = x7[w];
      u = ones ^ a;
      twosB = (ones & a) | (u & b);
      ones = u ^ b;
      u = twos ^ twosA;
      let foursB = (twos & twosA) | (u & twosB);
      twos = u ^ twosB;

      u = fours ^ foursA;
      const eightsA = (fours & foursA) | (u & foursB);
      fours = u ^ foursB;

      a = x8[w]; b = x9[w];
      u = ones ^ a;
      twosA = (ones & a) | (u & b);
      ones = u ^ b;
      a = x10[w]; b = x11[w];
      u = ones ^ a;
      twosB = (ones & a) | (u & b);
      ones = u ^ b;
      u = twos ^ twosA;
      const foursC = (twos & twosA) | (u & twosB);
      twos = u ^ twosB;

      a = x12[w]; b = x13[w];
      u = ones ^ a;
      twosA = (ones & a) | (u & b);
      ones = u ^ b;
      a = x14[w]; b = x15[w];
      u = ones ^ a;
      twosB = (ones & a) | (u & b);
      ones = u ^ b;
      u = twos ^ twosA;
      foursB = (twos & twosA) | (u & twosB);
      twos = u ^ twosB;

      u = fours ^ foursC;
      const eightsB = (fours & foursC) | (u & foursB);
      fours = u ^ foursB;

      u = eights ^ eightsA;
      let carry = (eights & eightsA) | (u & eightsB);
      eights = u ^ eightsB;

      planes[p] = ones;
      planes[p + 1] = twos;
      planes[p + 2] = fours;
      planes[p + 3] = eights;
      // the count stays below 2^K, so the carry dies before running past plane K - 1
      for (let h = p + 4; carry !== 0; h++) {
        const t = planes[h] & carry;
        planes[h] ^= carry;
        carry = t;
      }
    }
  }
  for (; j < n; j++) {
    const xs = words[j];
    for (let w = w0, p = 0; w < w1; w++, p += K) {
      for (let h = p, x = xs[w]; x !== 0; h++) {
        const t = planes[h] & x;
        planes[h] ^= x;
        x = t;
      }
    }
  }
}

/** Runs `visit(planes, firstWord, wordCount)` over blocks of words, the tail word last. */
function forEachBlock(
  ballots: readonly Uint8Array[],
  d: number,
  visit: (planes: Int32Array, firstWord: number, count: number) => void,
): void {
  if (!LITTLE_ENDIAN) throw new Error('signs: the tally kernel needs a little-endian host');
  const bytes = packedBytes(d);
  const views = wordViews(ballots, bytes);
  const K = planeCount(ballots.length);
  const planes = new Int32Array(BLOCK_WORDS * K);
  for (let w0 = 0; w0 < views.mainWords; w0 += BLOCK_WORDS) {
    const w1 = Math.min(views.mainWords, w0 + BLOCK_WORDS);
    countPlanes(views.main, w0, w1, K, planes);
    visit(planes, w0, w1 - w0);
  }
  if (views.tail !== null) {
    countPlanes(views.tail, 0, 1, K, planes);
    visit(planes, views.mainWords, 1);
  }
}

/**
 * SPREAD[4b + m] puts bits 2m and 2m + 1 of byte b into the low bit of two 16-bit lanes, so
 * OR-ing SPREAD[...] << j over the planes j builds eight counts at once (K <= 16).
 */
const SPREAD = new Int32Array(1024);
for (let b = 0; b < 256; b++) {
  for (let m = 0; m < 4; m++) SPREAD[4 * b + m] = ((b >>> (2 * m)) & 1) | (((b >>> (2 * m + 1)) & 1) << 16);
}

/** Per-coordinate #plus - #minus over n >= 1 packed ballots of d signs. */
export function tally(ballots: readonly Uint8Array[], d: number): Int32Array {
  checkBallots(ballots, d);
  const n = ballots.length;
  const K = planeCount(n);
  const counts = new Int32Array(d);
  forEachBlock(ballots, d, (planes, firstWord, count) => {
    for (let w = 0, p = 0; w < count; w++, p += K) {
      const base = (firstWord + w) * 32;
      const end = Math.min(32, d - base);
      if (K <= 16 && end === 32) {
        for (let shift = 0, i = base; shift < 32; shift += 8, i += 8) {
          let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
          for (let j = 0; j < K; j++) {
            const o = ((planes[p + j] >>> shift) & 255) << 2;
            a0 |= SPREAD[o] << j;
            a1 |= SPREAD[o + 1] << j;
            a2 |= SPREAD[o + 2] << j;
            a3 |= SPREAD[o + 3] << j;
          }
          counts[i] = 2 * (a0 & 0xffff) - n;
          counts[i + 1] = 2 * (a0 >>> 16) - n;
          counts[i + 2] = 2 * (a1 & 0xffff) - n;
          counts[i + 3] = 2 * (a1 >>> 16) - n;
          counts[i + 4] = 2 * (a2 & 0xffff) - n;
          counts[i + 5] = 2 * (a2 >>> 16) - n;
          counts[i + 6] = 2 * (a3 & 0xffff) - n;
          counts[i + 7] = 2 * (a3 >>> 16) - n;
        }
        continue;
      }
      for (let bit = 0; bit < end; bit++) {
        let plus = 0;
        for (let j = K - 1; j >= 0; j--) plus = (plus << 1) | ((planes[p + j] >>> bit) & 1);
        counts[base + bit] = 2 * plus - n;
      }
    }
  });
  return counts;
}

/** Majority verdict of n >= 1 packed ballots: Sign(sum), with ties (only for even n) as 0. */
export function majorityVerdict(ballots: readonly Uint8Array[], d: number): Verdict {
  checkBallots(ballots, d);
  const n = ballots.length;
  const bytes = packedBytes(d);
  if (n === 1) return { signs: ballots[0].slice(), ties: null };
  const K = planeCount(n);
  const half = n >>> 1;
  const even = (n & 1) === 0;
  const signs = new Uint8Array(bytes);
  const ties = even ? new Uint8Array(bytes) : null;
  const mainWords = bytes >>> 2;
  const signWords = new Int32Array(signs.buffer, 0, mainWords);
  const tieWords = ties === null ? null : new Int32Array(ties.buffer, 0, mainWords);
  let anyTie = 0;
  forEachBlock(ballots, d, (planes, firstWord, count) => {
    for (let w = 0, p = 0; w < count; w++, p += K) {
      // count > half and count == half, decided from the top plane down
      let gt = 0, eq = -1;
      for (let j = K - 1; j >= 0; j--) {
        const c = planes[p + j];
        if (((half >>> j) & 1) === 1) eq &= c;
        else {
          gt |= eq & c;
          eq &= ~c;
        }
      }
      const at = firstWord + w;
      if (at < mainWords) {
        signWords[at] = gt;
        if (tieWords !== null) {
          tieWords[at] = eq;
          anyTie |= eq;
        }
      } else {
        // tail word: padding coordinates counted 0 votes, which is neither > half nor
        // (for even n >= 2) == half, so their bits come out zero
        for (let k = 0; at * 4 + k < bytes; k++) {
          signs[at * 4 + k] = (gt >>> (8 * k)) & 0xff;
          if (ties !== null) {
            const t = (eq >>> (8 * k)) & 0xff;
            ties[at * 4 + k] = t;
            anyTie |= t;
          }
        }
      }
    }
  });
  return { signs, ties: anyTie === 0 ? null : ties };
}
