import type { AlgorithmConfig } from '../config';
import { ballotBytes, updateBytes } from './codec';
import { lrAt } from './schedule';
import type { Ballot, Strategy, Tally, TrustedUpdate, WorkerContext, WorkerState } from './strategy';
import { accumulate, ballotsOf, checkContext, checkLength, createState, drawGradient, updateOf } from './worker';

/**
 * SGD with heavy-ball momentum, the uncompressed baseline (32 bits per coordinate each way).
 *
 * Worker: m_i <- theta m_i + g_i (PyTorch's convention, as in the paper's baseline code),
 * sends m_i. Aggregator: the mean of the momenta that arrived. Every peer: x <- x - gamma_t
 * (mean + weightDecay x).
 *
 * Momentum lives on the workers rather than on the aggregator so that `apply` stays stateless
 * (no momentum to hand over when the aggregator changes, none for a late joiner to fetch).
 * Since mean_i m_i^t = theta mean_i m_i^{t-1} + mean_i g_i^t, this is exactly momentum on
 * the mean gradient whenever every peer votes; a peer that misses a round only drops its own
 * contribution from that round's mean.
 */
export function createSgdMomentumStrategy(config: AlgorithmConfig): Strategy {
  const name = config.name;

  async function workerStep(ctx: WorkerContext, state: WorkerState): Promise<Ballot> {
    checkContext(ctx, state);
    const m = state.momentum!;
    const g = await drawGradient(ctx, state, ctx.x);
    if (g !== null) accumulate(m, g, config.theta, 1, state);
    return { kind: 'dense', values: m.slice() };
  }

  function aggregate(tally: Tally, d: number): TrustedUpdate {
    const ballots = ballotsOf(tally, 'dense', name);
    // the mean of finite float32 vectors, summed in float64, is finite: trusted as built
    return { kind: 'dense', values: meanOf(ballots.map((b) => b.values), d) } as TrustedUpdate;
  }

  function apply(x: Float32Array, update: TrustedUpdate, round: number): void {
    const u = updateOf(update, 'dense', name).values;
    checkLength(u, x.length, name);
    const gamma = lrAt(config.schedule, config.lr, round);
    const wd = config.weightDecay;
    for (let i = 0; i < x.length; i++) x[i] -= gamma * (u[i] + wd * x[i]);
  }

  return {
    name,
    config,
    ballotKind: 'dense',
    updateKind: 'dense',
    createWorkerState: (d) => createState(d, { momentum: true }),
    workerStep,
    aggregate,
    apply,
    bytesUp: (d) => ballotBytes('dense', d),
    bytesDown: (d) => updateBytes('dense', d),
  };
}

/** Coordinate-wise mean, summed in float64 so the order of arrival does not change the result much. */
function meanOf(vectors: readonly Float32Array[], d: number): Float32Array {
  const sum = new Float64Array(d);
  for (const v of vectors) for (let i = 0; i < d; i++) sum[i] += v[i];
  const out = new Float32Array(d);
  const n = vectors.length;
  for (let i = 0; i < d; i++) out[i] = sum[i] / n;
  return out;
}
