import type { Rng } from '../random';

/**
 * The algorithms of the paper behind one small interface (DESIGN.md "Algorithms").
 *
 * - `workerStep` runs on every peer: gradients -> the message it sends up (a ballot).
 * - `aggregate` runs on the elected aggregator: the ballots that arrived -> one update.
 *   It is a pure function of the ballots, so a new aggregator needs no hand-over.
 * - `apply` runs on every peer, the aggregator included, with the same update, so all
 *   peers keep identical parameters.
 */

/** What one worker sends up for one round. */
export type Ballot =
  /** 1 bit per coordinate, packed (core/src/signs) */
  | { readonly kind: 'signs'; readonly bits: Uint8Array }
  /** fp32 per coordinate (SGD-M baseline) */
  | { readonly kind: 'dense'; readonly values: Float32Array }
  /** magnitude + packed signs (EF-signSGD) */
  | { readonly kind: 'scaled-signs'; readonly scale: number; readonly bits: Uint8Array };

/** What the aggregator broadcasts for one round. */
export type Update =
  /** majority vote in three states (+1, -1, 0 on a tie), see core/src/signs */
  | { readonly kind: 'verdict'; readonly signs: Uint8Array; readonly ties: Uint8Array | null }
  /** fp32 step direction (SGD-M mean, EF-signSGD mean of scaled signs) */
  | { readonly kind: 'dense'; readonly values: Float32Array };

/** Draws a fresh mini-batch of this peer's shard and returns the gradient at `at`. */
export type GradientFn = (at: Float32Array) => Promise<Float32Array>;

export interface WorkerContext {
  /** current parameters x^t (read only) */
  readonly x: Float32Array;
  /** parameters of the previous round x^{t-1} (equal to x at round 0) */
  readonly xPrev: Float32Array;
  /** 0-based round number t */
  readonly round: number;
  readonly gradient: GradientFn;
  /** this peer's stream for stochastic signs */
  readonly rng: Rng;
}
