import type { Batch } from '../data/dataset';
import { createRng, type Rng } from '../random';
import { packedBytes } from '../signs';
import type { Ballot, Strategy, WorkerContext, WorkerState } from './strategy';

/**
 * ADVERSARIAL PEERS, FOR TESTS AND RESEARCH ONLY (issue 15; never a default, never chosen by a
 * session config). Each kind wraps an honest peer at the worker-step or data level, so the round
 * machine (core/src/session) runs unchanged and stays honest: an adversary follows the protocol
 * and lies only in what it votes, or in the data it trains on.
 *
 *   kind        sign ballots (1 bit per coordinate)     dense ballots (SGD-M's fp32 momentum)
 *   sign-flip   the honest ballot with every bit        -10 v: the honest ballot negated and scaled
 *               inverted (-Sign(v))                     up (DENSE_FLIP_SCALE). A mean gives one voter
 *                                                       unbounded weight, so a flipper may as well
 *                                                       shout; a plain -v only shrinks the mean to
 *                                                       (1 - 2f) of the honest one (at f = 20%, a
 *                                                       0.6x step that still descends), which a
 *                                                       sign ballot could do just as well
 *   random      fair coins, fresh every round (seeded   N(0, rms(v)^2) noise per coordinate: noise
 *               by session seed, peer and round)
 *                                                       of the honest ballot's scale
 *   collude     one agreed sign vector (from the        rms(v) * s for the same agreed signs s: all
 *               session seed), the same for every        colluders push one direction, at the
 *               adversary and every round                honest ballot's scale
 *   label-flip  honest protocol on poisoned data: every label y of its batches becomes
 *               (classes - 1 - y) (`flipLabels`); the ballot itself is computed honestly
 *   silent      joins, applies every verdict, answers the protocol, never votes: its worker
 *               step never settles (the session tolerates a hung worker step: it keeps
 *               applying verdicts, docs/session.md), so no ballot is ever sent, not even its
 *               own when it aggregates, and it draws no gradients
 *
 * Scaled-sign ballots (EF-signSGD) keep their scale and treat their bits as sign ballots do.
 * The honest ballot is always computed first (except for silent), so an adversary costs what an
 * honest peer costs and its worker memory evolves as an honest one's would.
 */

/** how much louder than an honest ballot a dense sign flipper votes (see the table above) */
export const DENSE_FLIP_SCALE = 10;

export const adversaryKinds = ['sign-flip', 'random', 'collude', 'label-flip', 'silent'] as const;
export type AdversaryKind = (typeof adversaryKinds)[number];

export function isAdversaryKind(x: unknown): x is AdversaryKind {
  return typeof x === 'string' && (adversaryKinds as readonly string[]).includes(x);
}

export interface AdversaryOptions {
  /** the session seed: the colluders' agreed vector derives from it alone, so they agree */
  readonly seed: number;
  /** this adversary's own label (its peer index or id), for its private random stream */
  readonly peer: string | number;
}

/**
 * `strategy` with its worker step replaced by the adversary's (see the table above); aggregate
 * and apply are untouched. label-flip returns the strategy as it is (its poison is in the data:
 * `flipLabels`). Throws on an unknown kind.
 */
export function adversarialStrategy(strategy: Strategy, kind: AdversaryKind, opts: AdversaryOptions): Strategy {
  if (!isAdversaryKind(kind)) throw new RangeError(`unknown adversary kind ${JSON.stringify(kind)} (known: ${adversaryKinds.join(', ')})`);
  if (kind === 'label-flip') return strategy;
  const lie = kind;
  const own = createRng(`adversary-${opts.seed}`).fork(String(opts.peer));
  // one vector for all colluders: a stream of the seed alone, drawn once per length
  let agreed: Uint8Array | null = null;
  const agreedSigns = (d: number): Uint8Array => (agreed ??= randomBits(d, createRng(`collude-${opts.seed}`)));

  async function workerStep(ctx: WorkerContext, state: WorkerState): Promise<Ballot> {
    // pending for good: the worker role runs one step at a time, so this peer never votes again
    if (lie === 'silent') return new Promise<Ballot>(() => {});
    const honest = await strategy.workerStep(ctx, state);
    // a stream of (seed, peer, round): the same lie for the same round, however often it is asked
    return corrupt(honest, lie, state.d, own.fork(ctx.round), agreedSigns);
  }
  return { ...strategy, workerStep };
}

function corrupt(b: Ballot, kind: 'sign-flip' | 'random' | 'collude', d: number, rng: Rng, agreed: (d: number) => Uint8Array): Ballot {
  switch (b.kind) {
    case 'signs':
      return { kind: 'signs', bits: corruptBits(b.bits, kind, d, rng, agreed) };
    case 'scaled-signs':
      return { kind: 'scaled-signs', scale: b.scale, bits: corruptBits(b.bits, kind, d, rng, agreed) };
    case 'dense': {
      const v = b.values;
      const out = new Float32Array(d);
      if (kind === 'sign-flip') {
        for (let i = 0; i < d; i++) out[i] = -DENSE_FLIP_SCALE * v[i];
        return { kind: 'dense', values: out };
      }
      const scale = rms(v);
      if (kind === 'random') {
        for (let i = 0; i < d; i++) out[i] = scale * rng.normal();
      } else {
        const s = agreed(d);
        for (let i = 0; i < d; i++) out[i] = ((s[i >>> 3] >>> (i & 7)) & 1) === 1 ? scale : -scale;
      }
      return { kind: 'dense', values: out };
    }
  }
}

function corruptBits(bits: Uint8Array, kind: 'sign-flip' | 'random' | 'collude', d: number, rng: Rng, agreed: (d: number) => Uint8Array): Uint8Array {
  if (kind === 'random') return randomBits(d, rng);
  if (kind === 'collude') return agreed(d).slice();
  const out = new Uint8Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = ~bits[i] & 0xff;
  clearPadding(out, d);
  return out;
}

function randomBits(d: number, rng: Rng): Uint8Array {
  const out = new Uint8Array(packedBytes(d));
  for (let i = 0; i < out.length; i++) out[i] = rng.u32() & 0xff;
  clearPadding(out, d);
  return out;
}

/** the padding bits after coordinate d - 1 must stay zero (core/src/signs/bits.ts) */
function clearPadding(bits: Uint8Array, d: number): void {
  const used = d & 7;
  if (used !== 0) bits[bits.length - 1] &= (1 << used) - 1;
}

function rms(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return v.length > 0 ? Math.sqrt(s / v.length) : 0;
}

/** label-flip's poison: the batch with every label y replaced by classes - 1 - y (a copy). */
export function flipLabels(batch: Batch, classes: number): Batch {
  if (!(Number.isInteger(classes) && classes >= 2 && classes <= 256)) throw new RangeError(`classes must be an integer in [2, 256], got ${classes}`);
  const labels = new Uint8Array(batch.labels.length);
  for (let i = 0; i < labels.length; i++) labels[i] = classes - 1 - batch.labels[i];
  return { inputs: batch.inputs, labels, size: batch.size };
}

/**
 * Which of n peers are adversaries: round(fraction * n) of peers 1..n-1, a seeded choice (the
 * same for every algorithm of one seed). Peer 0 is never one: it is the first term's aggregator,
 * and this threat model trusts the aggregator (majority vote does not protect against a lying
 * tally). Throws when the fraction asks for more than n - 1 peers.
 */
export function chooseAdversaries(n: number, fraction: number, seed: number): Set<number> {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`peer count must be a positive integer, got ${n}`);
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`adversary fraction must be in [0, 1), got ${fraction}`);
  const count = Math.round(fraction * n);
  if (count > n - 1) throw new RangeError(`${count} adversaries of ${n} peers: peer 0 (the aggregator) is always honest`);
  const rng = createRng(`adversaries-${seed}`);
  const pool = Array.from({ length: n - 1 }, (_, i) => i + 1);
  // partial Fisher-Yates: the first `count` of a seeded shuffle
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(pool.length - i);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return new Set(pool.slice(0, count));
}
