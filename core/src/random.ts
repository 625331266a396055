/**
 * Seeded pseudo-random numbers shared by every module (init, sampling, stochastic signs,
 * partitions). xoshiro128** (Blackman & Vigna): 32-bit state words so it stays fast in JS
 * without BigInt, and a 2^128 - 1 period. Seeds are expanded with splitmix32 so nearby seeds
 * give unrelated streams.
 */
export interface Rng {
  /** uniform integer in [0, 2^32) */
  u32(): number;
  /** uniform float in [0, 1) with 32 random bits */
  float(): number;
  /** uniform integer in [0, n) */
  int(n: number): number;
  /** standard normal (Box-Muller, one value per call) */
  normal(): number;
  /** Gamma(shape, 1), Marsaglia-Tsang; shape > 0 */
  gamma(shape: number): number;
  /** independent child stream, deterministic in (this seed, label) */
  fork(label: string | number): Rng;
  /** fill with uniform u32s (the hot path of stochastic signs) */
  fillU32(out: Uint32Array): Uint32Array;
  /** where the stream stands: restoreRng(state) continues it draw for draw (checkpoints) */
  state(): RngState;
}

/** A stream's position: xoshiro's four words, the seed its forks derive from, a cached normal. */
export interface RngState {
  readonly words: readonly [number, number, number, number];
  readonly base: number;
  readonly spare: number | null;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashLabel(label: string | number, base: number): number {
  const text = String(label);
  let h = (base ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function createRng(seed: number | string): Rng {
  if (typeof seed === 'number' && !Number.isFinite(seed)) throw new RangeError(`seed must be finite, got ${seed}`);
  const base = typeof seed === 'number' ? (Math.floor(seed) >>> 0) ^ Math.floor(seed / 2 ** 32) : hashLabel(seed, 0);
  const mix = splitmix32(base);
  return rngAt({ words: [mix(), mix(), mix(), mix()], base, spare: null });
}

/** The stream `state` was taken from, at that point. Throws on a state no stream can be in. */
export function restoreRng(state: RngState): Rng {
  const { words, base, spare } = state ?? {};
  const u32 = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
  if (!Array.isArray(words) || words.length !== 4 || !words.every(u32) || words.every((w) => w === 0)) {
    throw new RangeError('rng state needs four 32-bit words, not all zero');
  }
  if (!u32(base)) throw new RangeError('rng state base must be a 32-bit word');
  if (spare !== null && !(typeof spare === 'number' && Number.isFinite(spare))) throw new RangeError('rng state spare must be a finite number or null');
  return rngAt({ words: [words[0], words[1], words[2], words[3]], base, spare });
}

function rngAt(start: RngState): Rng {
  const base = start.base;
  let [a, b, c, d] = start.words;
  if ((a | b | c | d) === 0) a = 1;

  const u32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a; d ^= b; b ^= c; a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  const float = (): number => u32() / 4294967296;
  let spare: number | null = start.spare;
  const normal = (): number => {
    if (spare !== null) { const v = spare; spare = null; return v; }
    let u = 0;
    while (u === 0) u = float();
    const v = float();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  const gamma = (shape: number): number => {
    if (!(shape > 0)) throw new RangeError(`gamma shape must be > 0, got ${shape}`);
    if (shape < 1) return gamma(shape + 1) * Math.pow(float() || Number.MIN_VALUE, 1 / shape);
    const dd = shape - 1 / 3;
    const cc = 1 / Math.sqrt(9 * dd);
    for (;;) {
      let x: number, v: number;
      do { x = normal(); v = 1 + cc * x; } while (v <= 0);
      v = v * v * v;
      const u = float();
      if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + dd * (1 - v + Math.log(v))) return dd * v;
    }
  };
  return {
    u32,
    float,
    int: (n) => {
      if (!(n > 0 && Number.isInteger(n) && n <= 2 ** 32)) throw new RangeError(`int(n) needs an integer 0 < n <= 2^32, got ${n}`);
      return Math.floor(float() * n);
    },
    normal,
    gamma,
    fork: (label) => createRng(hashLabel(label, base ^ 0x5bd1e995)),
    fillU32: (out) => {
      for (let i = 0; i < out.length; i++) out[i] = u32();
      return out;
    },
    state: () => ({ words: [a >>> 0, b >>> 0, c >>> 0, d >>> 0], base: base >>> 0, spare }),
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
