import type { Rng } from '../random';
import type { AlgorithmConfig, AlgorithmName } from '../config';

/**
 * The algorithms of the paper behind one small interface (DESIGN.md "Algorithms").
 *
 * - `workerStep` runs on every peer: gradients -> the message it sends up (a ballot).
 * - `aggregate` runs on the elected aggregator: the tally of a round (the ballots that arrived,
 *   and who was expected and did not vote, as in Flower's `aggregate_fit(results, failures)`)
 *   -> one update. It is a pure function of the tally, so a new aggregator needs no hand-over
 *   (any n >= 1 ballots works).
 * - `apply` runs on every peer, the aggregator included, with the same update, so all
 *   peers keep identical parameters. It is stateless (a function of x, the update and the
 *   round number), so a new aggregator or a late joiner needs only a snapshot of x.
 *
 * Wire forms of ballots and updates live in ./codec (`encodeBallot` ... `decodeUpdate`);
 * `bytesUp` / `bytesDown` are the exact sizes of those encodings. Ballots and updates are
 * checked once, where they enter: the decoders (or `trustBallot` / `trustUpdate` for ones built
 * in-process) return `Trusted` values, and `aggregate` and `apply` take only those and check
 * nothing again.
 */

/** What one worker sends up for one round. */
export type Ballot =
  /** 1 bit per coordinate, packed (core/src/signs) */
  | { readonly kind: 'signs'; readonly bits: Uint8Array }
  /** fp32 per coordinate (SGD-M baseline) */
  | { readonly kind: 'dense'; readonly values: Float32Array }
  /** magnitude + packed signs (EF-signSGD): the vector scale * (2 bit - 1) */
  | { readonly kind: 'scaled-signs'; readonly scale: number; readonly bits: Uint8Array };

export type BallotKind = Ballot['kind'];

/** What the aggregator broadcasts for one round. */
export type Update =
  /** majority vote in three states (+1, -1, 0 on a tie), see core/src/signs */
  | { readonly kind: 'verdict'; readonly signs: Uint8Array; readonly ties: Uint8Array | null }
  /** fp32 step direction (SGD-M mean momentum, EF-signSGD mean of scaled signs) */
  | { readonly kind: 'dense'; readonly values: Float32Array };

export type UpdateKind = Update['kind'];

declare const checked: unique symbol;
/**
 * A ballot or update known to be well-formed for the session's d: the right lengths, zero
 * padding bits, finite floats. Only the codec's decoders and `trustBallot` / `trustUpdate`
 * (./codec) make one, and `aggregate` makes its update from trusted ballots.
 */
export type Trusted<T extends Ballot | Update> = T & { readonly [checked]: true };
export type TrustedBallot = Trusted<Ballot>;
export type TrustedUpdate = Trusted<Update>;

/**
 * One round's tally, as Flower's `aggregate_fit(results, failures)` sees it: the ballots that
 * arrived and the members that were expected and did not vote.
 */
export interface Tally {
  /** the ballots that arrived, in join order (so a float mean does not depend on arrival order), n >= 1 */
  readonly ballots: readonly TrustedBallot[];
  /** the peer id of each ballot's voter, index for index */
  readonly voters: readonly string[];
  /**
   * members of the term that did not vote (join order): their ballot was late, lost or computed
   * on other parameters, or they were hung or being resynced
   */
  readonly absent: readonly string[];
}

/** Draws a fresh mini-batch of this peer's shard and returns the gradient at `at` (length d). */
export type GradientFn = (at: Float32Array) => Promise<Float32Array>;

export interface WorkerContext {
  /** current parameters x^t (read only) */
  readonly x: Float32Array;
  /** parameters of the previous round x^{t-1} (equal to x at round 0) */
  readonly xPrev: Float32Array;
  /** 0-based round number t */
  readonly round: number;
  readonly gradient: GradientFn;
  /** this peer's stream for stochastic signs and the coins of Sign(0) (docs/signs.md) */
  readonly rng: Rng;
}

/**
 * What a worker keeps between rounds. Only the worker's own memory lives here; the shared
 * parameters x and x^{t-1} come in through the WorkerContext.
 */
export interface WorkerState {
  readonly d: number;
  /** m (momentum algorithms and SGD-M), null for memoryless ones */
  readonly momentum: Float32Array | null;
  /** e, the error-feedback residual (EF-signSGD only), else null */
  readonly error: Float32Array | null;
  /**
   * Gradients (including Alg. 3's local-step gradients) that had a NaN or +-Inf entry and
   * were therefore dropped whole; see docs/algorithms.md "NaN policy".
   */
  nonFiniteGradients: number;
  /** gradient evaluations requested so far (K + 1 per round for Alg. 3, 1 otherwise) */
  gradientCalls: number;
}

export interface Strategy {
  readonly name: AlgorithmName;
  /** the validated config, defaults filled in */
  readonly config: AlgorithmConfig;
  readonly ballotKind: BallotKind;
  readonly updateKind: UpdateKind;
  /** fresh per-peer memory (zero momentum / zero residual) for a d-parameter model */
  createWorkerState(d: number): WorkerState;
  /** one round on one peer: draw gradients, update its memory, return its ballot */
  workerStep(ctx: WorkerContext, state: WorkerState): Promise<Ballot>;
  /**
   * pure: the tally of `round` (n >= 1 ballots, all of `ballotKind` and length d) -> update.
   * Any randomness (tie coins) is seeded by the round, so every aggregator, a new one after
   * failover or a resumed one included, decides a round the same way. Throws on n = 0 or a
   * ballot of another kind (a caller's bug: the session decodes ballots with `ballotKind`).
   *
   * Every strategy is coordinate-wise: the update's coordinate i depends only on the ballots'
   * coordinate i (and a ballot's scalar, EF-signSGD's scale). So a vote shard can aggregate
   * coordinates [offset, offset + d) of the model alone, from ballots cut to that range
   * (./vote-shards.ts), and get exactly those coordinates of the whole vote; `offset` (a
   * multiple of 8, default 0) places the range, so the tie coin of coordinate i is the same
   * whichever range holds it.
   */
  aggregate(tally: Tally, d: number, round: number, offset?: number): TrustedUpdate;
  /**
   * x <- x - step(update, round); identical on every peer, stateless. Throws on an update of
   * another kind or length than x (a caller's bug: the session decodes with `updateKind`).
   */
  apply(x: Float32Array, update: TrustedUpdate, round: number): void;
  /** exact encoded ballot size in bytes (./codec) */
  bytesUp(d: number): number;
  /**
   * Exact encoded update size in bytes when the verdict has no tie (always so for an odd
   * number of ballots); a verdict with ties is larger, see `encodedUpdateBytes` in ./codec.
   */
  bytesDown(d: number): number;
}
