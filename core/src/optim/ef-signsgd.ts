import type { AlgorithmConfig } from '../config';
import { packSigns } from '../signs';
import { ballotBytes, updateBytes } from './codec';
import { lrAt } from './schedule';
import type { Ballot, Strategy, Tally, TrustedUpdate, WorkerContext, WorkerState } from './strategy';
import { accumulate, ballotsOf, checkContext, checkLength, createState, drawGradient, updateOf } from './worker';

/**
 * EF-signSGD (Karimireddy et al. 2019, Alg. 1 with error feedback), distributed by averaging.
 *
 * Worker: p = gamma_t g + e; delta = (||p||_1 / d) Sign(p); e <- p - delta; sends the scale
 * ||p||_1 / d (float32) and Sign(p) (1 bit each). Aggregator: the mean of the n vectors
 * delta_i. Every peer: x <- x - mean - gamma_t weightDecay x (the learning rate is already
 * inside p, as in the paper).
 *
 * The residual is computed from the scale exactly as sent (rounded to float32) and from the
 * packed sign as sent (an exact 0 is a fair coin, docs/signs.md), so e holds precisely what the
 * wire lost.
 */
export function createEfSignSgdStrategy(config: AlgorithmConfig): Strategy {
  const name = config.name;

  async function workerStep(ctx: WorkerContext, state: WorkerState): Promise<Ballot> {
    checkContext(ctx, state);
    const e = state.error!;
    const gamma = lrAt(config.schedule, config.lr, ctx.round);
    const g = await drawGradient(ctx, state, ctx.x);
    // p = gamma g + e, kept in e; a dropped gradient means p = e
    if (g !== null) accumulate(e, g, 1, gamma, state);
    let l1 = 0;
    for (let i = 0; i < e.length; i++) l1 += Math.abs(e[i]);
    const scale = Math.fround(l1 / e.length);
    const bits = packSigns(e, ctx.rng);
    // from the bits as sent: an exact 0 went as a coin flip, and e keeps what that cost
    for (let i = 0; i < e.length; i++) e[i] -= ((bits[i >>> 3] >>> (i & 7)) & 1) === 1 ? scale : -scale;
    return { kind: 'scaled-signs', scale, bits };
  }

  function aggregate(tally: Tally, d: number): TrustedUpdate {
    const ballots = ballotsOf(tally, 'scaled-signs', name);
    const sum = new Float64Array(d);
    for (const { scale, bits } of ballots) {
      for (let i = 0; i < d; i++) sum[i] += ((bits[i >>> 3] >>> (i & 7)) & 1) === 1 ? scale : -scale;
    }
    const values = new Float32Array(d);
    for (let i = 0; i < d; i++) values[i] = sum[i] / ballots.length;
    // a mean of finite scales: trusted as built
    return { kind: 'dense', values } as TrustedUpdate;
  }

  function apply(x: Float32Array, update: TrustedUpdate, round: number): void {
    const u = updateOf(update, 'dense', name).values;
    checkLength(u, x.length, name);
    const decay = lrAt(config.schedule, config.lr, round) * config.weightDecay;
    for (let i = 0; i < x.length; i++) x[i] -= u[i] + decay * x[i];
  }

  return {
    name,
    config,
    ballotKind: 'scaled-signs',
    updateKind: 'dense',
    createWorkerState: (d) => createState(d, { error: true }),
    workerStep,
    aggregate,
    apply,
    bytesUp: (d) => ballotBytes('scaled-signs', d),
    bytesDown: (d) => updateBytes('dense', d),
  };
}
