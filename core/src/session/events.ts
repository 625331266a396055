import type { PeerId } from '../transport/transport';

/**
 * What a session reports to UIs, CLIs and experiment runners.
 *
 * Vocabulary of a term's duties (docs/session.md, "Vote shards"):
 *   role        'aggregator': member 0 of the term, which keeps the term's duties (opens rounds,
 *               catch-up, snapshots, reports to the session record); 'worker': every other member.
 *   vote shard  with k > 1 vote shards, members 0 .. k-1 each tally one range of the coordinates
 *               ("aggregator of range j/k"); a worker can tally a range too. With k = 1 the
 *               term's aggregator tallies the one range, [0, d).
 */
export type Role = 'aggregator' | 'worker';

/**
 * How a term splits the vote: `k` ranges in effect, `asked` the session's `voteShards`, and what
 * held k below it. k = min(asked, members, ceil(d/8)); `limit` is 'members' when the members
 * bound it (at most one range per member), 'coordinates' when d did (a range holds at least one
 * byte of packed signs, 8 coordinates), null when k = asked. Both bounds equal: 'members'.
 */
export interface VoteSplit {
  readonly k: number;
  readonly asked: number;
  readonly limit: 'members' | 'coordinates' | null;
}

/** The range a peer tallies in a term: vote shard `index` of `of` (= k), coordinates [start, end). */
export interface TalliedRange {
  readonly index: number;
  readonly of: number;
  readonly start: number;
  readonly end: number;
}

/** Why an incoming message was dropped (each reason has a counter in `SessionPeer.stats()`). */
export type DropReason =
  | 'too-large'
  | 'malformed'
  | 'version'
  | 'unknown-type'
  | 'invalid'
  | 'wrong-session'
  | 'not-member'
  | 'stale-term'
  | 'stale-round'
  | 'future-overflow'
  | 'not-aggregator'
  | 'hash-mismatch'
  | 'bad-payload'
  | 'duplicate'
  | 'unexpected';

export type SessionEvent =
  | {
      readonly type: 'round';
      /** the round just applied (the parameters are now at round + 1) */
      readonly round: number;
      readonly term: number;
      /** this peer's role in `term` (the term's aggregator keeps the term's duties; see `Role`) */
      readonly role: Role;
      /** how `term` splits the vote */
      readonly split: VoteSplit;
      /** the range this peer tallies in `term`; null when it tallies none (a worker beyond the first k members) */
      readonly voteShard: TalliedRange | null;
      /** this peer's mean training loss in the round (from the gradient hook; NaN: it did not vote) */
      readonly loss: number;
      /**
       * an evaluation of the parameters after this round has started (every `evalEvery` rounds);
       * an `evaluation` event for this round follows, after later rounds if it takes longer
       */
      readonly evaluating: boolean;
      /** parameter hash after applying */
      readonly hash: string;
      /** encoded bytes this peer sent / received since the previous round event */
      readonly bytesUp: number;
      readonly bytesDown: number;
      /** wall time since the previous round event (or since the round opened) */
      readonly ms: number;
      /** ballots tallied into this verdict, and whether ours was one of them */
      readonly counted: number;
      readonly mine: boolean;
      /**
       * the peers whose ballots were tallied, in join order; empty when this peer did not see the
       * membership of the term that decided the verdict (it joined later)
       */
      readonly voters: readonly PeerId[];
      /**
       * per voter, ms from the round's opening at the aggregator to the arrival of its ballot
       * (carried in the verdict, so every peer knows every voter's); `{}` when unknown
       */
      readonly latencies: Readonly<Record<PeerId, number>>;
      /**
       * per voter of this verdict, the moving average (weight 0.1 on the newest) of the share of
       * coordinates on which its ballots agreed with the verdicts, in [0, 1], as this peer has
       * seen them (carried in the verdict: docs/session.md "Vote agreement"); `{}` when unknown
       */
      readonly agreement: Readonly<Record<PeerId, number>>;
    }
  | {
      readonly type: 'evaluation';
      /** the round whose parameters were evaluated (as in its `round` event) */
      readonly round: number;
      /**
       * test loss and accuracy, and the wall ms from start to result; null when a later
       * evaluation became due before this one started, which then took its place
       */
      readonly result: { readonly loss: number; readonly accuracy: number; readonly ms: number } | null;
    }
  /** a new term: its members in join order, its aggregator (member 0), and how it splits the vote */
  | { readonly type: 'term'; readonly term: number; readonly peers: readonly PeerId[]; readonly aggregator: PeerId; readonly split: VoteSplit; readonly voteShard: TalliedRange | null }
  | { readonly type: 'aggregator'; readonly term: number; readonly aggregator: PeerId; readonly previous: PeerId | null }
  | { readonly type: 'waiting'; readonly term: number; readonly have: number; readonly need: number }
  | { readonly type: 'resync'; readonly round: number; readonly from: PeerId; readonly hash: string }
  | { readonly type: 'drop'; readonly reason: DropReason; readonly from: PeerId; readonly detail: string }
  | { readonly type: 'finished'; readonly round: number; readonly hash: string }
  /** the aggregator's report was accepted: the session record holds this round and hash */
  | { readonly type: 'committed'; readonly round: number; readonly hash: string; readonly term: number }
  /**
   * this peer's ballots were not counted for `rounds` rounds in a row (`reason` says why: its
   * ballots came too late, or it has no link to the aggregator and the session went on without it)
   */
  | { readonly type: 'not-counted'; readonly rounds: number; readonly reason: string }
  /**
   * this peer gives up: `diverged` it cannot reach the state the session record holds; `dropped`
   * it was not counted for too long; `failed` its worker step failed three times in a row (a
   * gradient that cannot be computed here: its input, its engine). `finished` then rejects with
   * a SessionEndedError.
   */
  | { readonly type: 'gave-up'; readonly kind: GiveUpKind; readonly reason: string }
  | { readonly type: 'error'; readonly error: string };

/** Why a peer gave up (the `gave-up` event). */
export type GiveUpKind = 'diverged' | 'dropped' | 'failed';

/** Why `SessionPeer.finished` rejected (the `gave-up` event). */
export class SessionEndedError extends Error {
  constructor(
    readonly kind: GiveUpKind,
    message: string,
  ) {
    super(message);
    this.name = 'SessionEndedError';
  }
}
