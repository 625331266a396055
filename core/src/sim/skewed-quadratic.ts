import { createRng, type Rng } from '../random';
import type { GradientFn } from '../optim/strategy';

/**
 * A seeded noisy quadratic whose gradient noise is zero-mean but ASYMMETRIC and HEAVY-TAILED:
 * the regime where signSGD without momentum is biased at small batch (the paper's point,
 * sections 1-2), while momentum or large batches fix it.
 *
 *   f(x) = 1/n sum_i f_i(x),  f_i(x) = 1/2 sum_j h_j (x_j - c_ij)^2,  mean_i c_ij = c_j
 *
 * Curvatures h_j are log-uniform in [hMin, hMax]; c ~ N(0, scale^2); c_ij = c + a per-peer
 * offset (heterogeneity, non-IID; zero by default) whose peer mean is exactly zero, so the
 * minimiser of f is c. A sample of peer i's stochastic gradient at x is
 *
 *   h (x - c_i) + o * sigma * xi,  xi = J P / (p E[P]) - 1,  J ~ Bernoulli(p), P ~ Pareto(tail)
 *
 * with a fixed random orientation o_j in {-1, +1}. E[xi] = 0, but xi = -1 with probability
 * 1 - p: a mini-batch of B samples (their mean) has median -sigma while (1 - p)^B > 1/2
 * (B <= 13 at p = 0.05), so Sign(g) points the wrong way until h |x - c| ~ sigma, i.e.
 * signSGD settles about sigma / h away from the optimum in every coordinate.
 */
export interface SkewedQuadraticOptions {
  /** dimension (default 100) */
  readonly d?: number;
  readonly seed?: number;
  /** noise scale sigma (default 1) */
  readonly noise?: number;
  /** spike probability p (default 0.05) */
  readonly spikeProb?: number;
  /** Pareto tail index of the spike size, > 1 (default 2.5: finite variance, heavy tail) */
  readonly tail?: number;
  /** scale of the optimum c ~ N(0, scale^2) (default 1.5) */
  readonly scale?: number;
  /** curvature range (default [0.5, 2]) */
  readonly hMin?: number;
  readonly hMax?: number;
  /** per-peer optimum offsets ~ N(0, heterogeneity^2), centred over peers (default 0) */
  readonly heterogeneity?: number;
  /** number of peers (only needed with heterogeneity > 0; default 1) */
  readonly peers?: number;
}

export interface SyntheticProblem {
  readonly name: string;
  readonly d: number;
  /** starting point (zeros, as in Alg. 1-3) */
  readonly x0: Float32Array;
  /** the minimiser of f */
  readonly optimum: Float32Array;
  /** f(x) - min f, exact (no sampling noise) */
  loss(x: Float32Array): number;
  /**
   * Peer `peer`'s stochastic gradient oracle: every call draws a fresh mini-batch of `batch`
   * samples (their mean) from its own stream, deterministic in (problem seed, peer, stream).
   */
  gradient(peer: number, batch: number, stream?: number | string): GradientFn;
}

function checkPositive(name: string, v: number): void {
  if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} must be finite and > 0, got ${v}`);
}

export function createSkewedQuadratic(options: SkewedQuadraticOptions = {}): SyntheticProblem {
  const d = options.d ?? 100;
  const seed = options.seed ?? 1;
  const sigma = options.noise ?? 1;
  const p = options.spikeProb ?? 0.05;
  const tail = options.tail ?? 2.5;
  const scale = options.scale ?? 1.5;
  const hMin = options.hMin ?? 0.5;
  const hMax = options.hMax ?? 2;
  const heterogeneity = options.heterogeneity ?? 0;
  const peers = options.peers ?? 1;
  if (!(Number.isInteger(d) && d >= 1 && d <= 1 << 26)) throw new RangeError(`d must be an integer in [1, 2^26], got ${d}`);
  if (!(Number.isFinite(sigma) && sigma >= 0)) throw new RangeError(`noise must be finite and >= 0, got ${sigma}`);
  if (!(p > 0 && p <= 1)) throw new RangeError(`spikeProb must be in (0, 1], got ${p}`);
  if (!(Number.isFinite(tail) && tail > 1)) throw new RangeError(`tail index must be > 1 (finite mean), got ${tail}`);
  checkPositive('scale', scale);
  checkPositive('hMin', hMin);
  if (!(Number.isFinite(hMax) && hMax >= hMin)) throw new RangeError(`hMax must be >= hMin, got ${hMax}`);
  if (!(Number.isFinite(heterogeneity) && heterogeneity >= 0)) throw new RangeError(`heterogeneity must be >= 0, got ${heterogeneity}`);
  if (!(Number.isInteger(peers) && peers >= 1)) throw new RangeError(`peers must be an integer >= 1, got ${peers}`);

  const rng = createRng(seed).fork('skewed-quadratic');
  const h = new Float64Array(d);
  const c = new Float32Array(d);
  const orient = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    h[j] = hMin * Math.pow(hMax / hMin, rng.float());
    c[j] = scale * rng.normal();
    orient[j] = rng.float() < 0.5 ? -1 : 1;
  }
  // per-peer optima, centred so that f's minimiser stays c
  const centres: Float64Array[] = [];
  if (heterogeneity > 0) {
    const mean = new Float64Array(d);
    for (let i = 0; i < peers; i++) {
      const off = new Float64Array(d);
      for (let j = 0; j < d; j++) mean[j] += (off[j] = heterogeneity * rng.normal()) / peers;
      centres.push(off);
    }
    for (const off of centres) for (let j = 0; j < d; j++) off[j] = c[j] + off[j] - mean[j];
  }
  const centreOf = (peer: number): ArrayLike<number> => (heterogeneity > 0 ? centres[peer] : c);
  const spikeMean = tail / (tail - 1);
  const spikeUnit = 1 / (p * spikeMean);

  function loss(x: Float32Array): number {
    if (x.length !== d) throw new RangeError(`x has length ${x.length}, expected d = ${d}`);
    let f = 0;
    for (let j = 0; j < d; j++) {
      const r = x[j] - c[j];
      f += 0.5 * h[j] * r * r;
    }
    // the peers' offsets add a constant (their variance) to f that no x can remove
    return f;
  }

  /** sum of `batch` draws of xi, for one coordinate */
  function noiseSum(r: Rng, batch: number): number {
    let s = -batch;
    for (let k = 0; k < batch; k++) {
      if (r.float() < p) s += spikeUnit * Math.pow(1 - r.float(), -1 / tail);
    }
    return s;
  }

  function gradient(peer: number, batch: number, stream: number | string = 0): GradientFn {
    if (!(Number.isInteger(peer) && peer >= 0 && (heterogeneity === 0 || peer < peers))) {
      throw new RangeError(`peer must be an integer in [0, ${heterogeneity > 0 ? peers : 'inf'}), got ${peer}`);
    }
    if (!(Number.isInteger(batch) && batch >= 1)) throw new RangeError(`batch size must be an integer >= 1, got ${batch}`);
    const r = createRng(seed).fork('skewed-quadratic/peer').fork(peer).fork(stream);
    const centre = centreOf(peer);
    return async (at: Float32Array): Promise<Float32Array> => {
      if (!(at instanceof Float32Array) || at.length !== d) {
        throw new RangeError(`gradient point has length ${at?.length}, expected d = ${d}`);
      }
      const g = new Float32Array(d);
      const w = sigma / batch;
      for (let j = 0; j < d; j++) g[j] = h[j] * (at[j] - centre[j]) + orient[j] * w * noiseSum(r, batch);
      return g;
    };
  }

  return {
    name: `skewed-quadratic(d=${d}, sigma=${sigma}, p=${p}, tail=${tail})`,
    d,
    x0: new Float32Array(d),
    optimum: c,
    loss,
    gradient,
  };
}
