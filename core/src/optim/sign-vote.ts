import type { AlgorithmConfig, AlgorithmName } from '../config';
import { createRng } from '../random';
import { applyVerdict, majorityVerdict, momentumStochasticSignPack, packSigns, stochasticSignPack } from '../signs';
import { ballotBytes, updateBytes } from './codec';
import { lrAt } from './schedule';
import type { Ballot, Strategy, Tally, TrustedUpdate, WorkerContext, WorkerState } from './strategy';
import { accumulate, ballotsOf, checkContext, createState, drawGradient, drawUncheckedGradient, extrapolate, scratchFor, updateOf } from './worker';

/**
 * Every algorithm whose ballot is one bit per coordinate. They differ only in the vector a
 * worker signs and in how it signs it:
 *
 *   name                     vector v           gradient taken at                       sign
 *   signsgd, mv-signsgd      g                  x                                       Sign
 *   signsgd-sim (Alg. 1)     m                  x                                       Sign
 *   double-momentum (eq. 4)  m                  y = x + theta/(1-theta) (x - x_prev)    Sign
 *   mv-sto-signsgd           g                  x                                       S_R
 *   mv-sto-signsgd-sim (2)   m                  y = x + alpha (x - x_prev)              S_R
 *   fed-mv-sto-signsgd-sim   m                  z^K: K local SGD steps (eta) from y     S_R
 *
 * with m <- theta m + (1 - theta) g. Sign is 1-bit with a fair coin for an exact 0 (packSigns),
 * so a coordinate with no gradient votes no direction in expectation, as the paper's Sign(0) = 0;
 * S_R is the stochastic sign. The aggregator takes Sign(sum of ballots) (majority
 * vote, ties -> 0); with one ballot that is the ballot itself, so the single-node algorithms
 * (signSGD, Alg. 1, eq. 4) are the n = 1 case of the same code. Every peer then applies
 * x <- x - gamma_t (verdict + weightDecay x).
 */

export interface SignVoteSpec {
  readonly momentum: boolean;
  readonly stochastic: boolean;
  /** extrapolation coefficient for y (0: gradient at x) */
  readonly alpha: number;
  /** local SGD steps before the momentum gradient (Alg. 3), 0 otherwise */
  readonly localSteps: number;
}

function signVoteSpec(config: AlgorithmConfig): SignVoteSpec {
  const { theta, alpha, K } = config;
  switch (config.name) {
    case 'signsgd':
    case 'mv-signsgd':
      return { momentum: false, stochastic: false, alpha: 0, localSteps: 0 };
    case 'signsgd-sim':
      return { momentum: true, stochastic: false, alpha: 0, localSteps: 0 };
    case 'double-momentum':
      return { momentum: true, stochastic: false, alpha: theta / (1 - theta), localSteps: 0 };
    case 'mv-sto-signsgd':
      return { momentum: false, stochastic: true, alpha: 0, localSteps: 0 };
    case 'mv-sto-signsgd-sim':
      return { momentum: true, stochastic: true, alpha, localSteps: 0 };
    case 'fed-mv-sto-signsgd-sim':
      return { momentum: true, stochastic: true, alpha, localSteps: K };
    default:
      throw new RangeError(`'${config.name}' does not vote with sign ballots`);
  }
}

export function createSignVoteStrategy(config: AlgorithmConfig): Strategy {
  const spec = signVoteSpec(config);
  const name: AlgorithmName = config.name;

  async function workerStep(ctx: WorkerContext, state: WorkerState): Promise<Ballot> {
    checkContext(ctx, state);
    let at = extrapolate(ctx.x, ctx.xPrev, spec.alpha);
    if (spec.localSteps > 0) at = await localSteps(ctx, state, at, spec.localSteps, config.eta);
    if (spec.momentum && spec.stochastic) {
      // the common case (Alg. 2 and 3) in one pass: a non-finite g or an overflowing m is
      // dropped and counted as below, and the worker votes S_R of its unchanged m
      const g = await drawUncheckedGradient(ctx, state, at);
      const { bits, committed } = momentumStochasticSignPack(state.momentum!, g, config.theta, 1 - config.theta, config.R, ctx.rng, scratchFor(state.d));
      if (!committed) state.nonFiniteGradients++;
      return { kind: 'signs', bits };
    }
    const g = await drawGradient(ctx, state, at);
    let v: Float32Array | null = g;
    if (spec.momentum) {
      const m = state.momentum!;
      if (g !== null) accumulate(m, g, config.theta, 1 - config.theta, state);
      // a dropped gradient leaves m as it was, and the worker still votes with it
      v = m;
    }
    // S_R(0) and Sign(0) are fair coins, which is also the neutral vote for a dropped gradient
    const w = v ?? new Float32Array(state.d);
    return { kind: 'signs', bits: spec.stochastic ? stochasticSignPack(w, config.R, ctx.rng) : packSigns(w, ctx.rng) };
  }

  // Only the aggregator draws these, but from a stream of the round: whichever peer decides a
  // round (after a failover, or in a resumed session) breaks its ties the same way.
  const tieCoins = createRng('tie-break');

  function aggregate(tally: Tally, d: number, round: number, offset = 0): TrustedUpdate {
    if (!(Number.isInteger(offset) && offset >= 0 && offset % 8 === 0)) throw new RangeError(`offset must be a multiple of 8 >= 0, got ${offset}`);
    const ballots = ballotsOf(tally, 'signs', name);
    const verdict = majorityVerdict(
      ballots.map((b) => b.bits),
      d,
    );
    // a majority of well-formed sign vectors is a well-formed verdict: trusted as built
    if (config.ties === 'coin' && verdict.ties) return { kind: 'verdict', signs: breakTies(verdict.signs, verdict.ties, tieCoins.fork(round).u32(), offset >>> 3), ties: null } as TrustedUpdate;
    return { kind: 'verdict', signs: verdict.signs, ties: verdict.ties } as TrustedUpdate;
  }

  function apply(x: Float32Array, update: TrustedUpdate, round: number): void {
    // applyVerdict (core/src/signs) checks the verdict's lengths against x itself
    applyVerdict(x, updateOf(update, 'verdict', name), lrAt(config.schedule, config.lr, round), config.weightDecay);
  }

  return {
    name,
    config,
    ballotKind: 'signs',
    updateKind: 'verdict',
    createWorkerState: (d) => createState(d, { momentum: spec.momentum }),
    workerStep,
    aggregate,
    apply,
    bytesUp: (d) => ballotBytes('signs', d),
    bytesDown: (d) => updateBytes('verdict', d),
  };
}

/**
 * Alg. 3 step 2: z^{k+1} = z^k - eta grad f_i(z^k) on a local copy, K times from z^0 = y.
 * A non-finite local gradient skips its step (the local point does not move).
 */
async function localSteps(ctx: WorkerContext, state: WorkerState, y: Float32Array, K: number, eta: number): Promise<Float32Array> {
  const z = Float32Array.from(y);
  for (let k = 0; k < K; k++) {
    const g = await drawGradient(ctx, state, z);
    // z + (-eta) g: the same float32 values as z - eta g, all or nothing, counted when dropped
    if (g !== null) accumulate(z, g, 1, -eta, state);
  }
  return z;
}

/**
 * Resolves every tied coordinate to +1 or -1 with a fair coin (the tie bits are zero in
 * `signs`). The coins of byte i of the model (`firstByte` + the index here) are a hash of
 * (the round's seed, i), not the next draws of a stream: so they do not depend on how many
 * tied bytes come before, and a vote shard that decides a range of the model alone flips the
 * coins the whole vote would (docs/session.md, "Vote shards").
 */
function breakTies(signs: Uint8Array, ties: Uint8Array, seed: number, firstByte: number): Uint8Array {
  const out = Uint8Array.from(signs);
  for (let i = 0; i < ties.length; i++) {
    if (ties[i] !== 0) out[i] |= ties[i] & coinByte(seed, firstByte + i);
  }
  return out;
}

/** 32 well-mixed bits of (seed, index): splitmix32's finaliser over a Weyl step (index < 2^29). */
function coinByte(seed: number, index: number): number {
  let z = (seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
