import type { SessionConfig } from '../config';
import type { Strategy } from '../optim/strategy';
import type { Message, VerdictMessage } from '../protocol/messages';
import type { PeerId } from '../transport/transport';
import type { DropReason, GiveUpKind, SessionEvent } from './events';
import type { RecordLink } from './record-link';
import type { Replica, VerdictRecord } from './replica';
import type { RoundReport } from './round-report';
import type { VerdictPart, VoteShardPlan } from './vote-shard';

/** What the roles of one peer share, and how they reach the network (peer.ts builds it). */

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => (typeof performance !== 'undefined' ? performance.now() : Date.now()),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** A message as a role writes it: peer.ts adds the protocol version, the session and the current term. */
export type Outgoing = Message extends infer M ? (M extends Message ? Omit<M, 'v' | 'session' | 'term'> : never) : never;

/** What this peer knows of the session now; peer.ts updates it on every epoch, the roles read it. */
export interface SessionView {
  /** the current term: the number of the last membership epoch this peer entered */
  term: number;
  /** that epoch's members in join order */
  peers: readonly PeerId[];
  /** peers[0] of the last epoch that included this peer (null before the first) */
  aggregator: PeerId | null;
  /**
   * Whether this peer has seen the live session start: a membership of `expectedPeers`, an
   * `open` or a fresh verdict from an aggregator, or a status saying so. Never taken from a
   * checkpoint or a snapshot: a session resumed after every peer stopped waits for its quorum
   * again, while a running one goes on when peers leave (docs/session.md, "Starting").
   */
  started: boolean;
  /** the term's vote shards (k = 1: the aggregator tallies whole ballots) */
  plan: VoteShardPlan;
}

export interface PeerContext {
  readonly self: PeerId;
  readonly config: SessionConfig;
  readonly strategy: Strategy;
  readonly clock: Clock;
  /** this peer's parameters and verdict log: the one copy every role reads and applies to */
  readonly replica: Replica;
  readonly report: RoundReport;
  /** the session record, when the session has one (real peers; the hub with a memory record) */
  readonly record: RecordLink | null;
  readonly view: SessionView;
  emit(e: SessionEvent): void;
  send(to: PeerId, body: Outgoing): void;
  /** to every other member of the term: encoded once, the same bytes to each */
  broadcast(body: Outgoing): void;
  /** x ‖ x_prev in pieces, once per (term, round, hash) and peer */
  sendSnapshot(to: PeerId): void;
  /** asks `from` for a snapshot (a `sync` with this peer's round and hash) and accepts one from it */
  requestSnapshot(from: PeerId): void;
  /** accepts a snapshot from `from` (besides the aggregator) without asking */
  acceptSnapshotFrom(from: PeerId): void;
  drop(reason: DropReason, from: PeerId, detail: string): void;
  fail(where: string, e: unknown): void;
  /** runs fn, reporting what it throws as an `error` event */
  guard(where: string, fn: () => void): void;
  /** the round event, evaluation and checkpoint of a verdict just applied here */
  roundApplied(record: VerdictRecord): void;
  /** the worker role: vote in `round` (the aggregator role opens its rounds with it) */
  vote(round: number): void;
  /** the aggregator role: this peer's own ballot, without the wire */
  acceptOwnBallot(round: number, hash: string, payload: Uint8Array): void;
  /** the tally of vote shard `shard` on this peer: this peer's own ballot cut to its range */
  acceptOwnSlice(shard: number, round: number, hash: string, payload: Uint8Array): void;
  /** this peer's tally of vote shard `shard` decided its part of a round */
  partDecided(shard: number, part: VerdictPart): void;
  /** this peer votes in `round` (its own tally of a vote shard, if any, opens it) */
  opening(round: number): void;
  /** the term's aggregator applied a round assembled from its vote shards' parts */
  assembledApplied(): void;
  /** installs the session record's stored snapshot at `point`: the reason it cannot, or null */
  takeFromRecord(point: { readonly round: number; readonly hash: string }): Promise<string | null>;
  /** this peer gives up: it cannot reach the record's state (diverged) or is not counted (dropped) */
  giveUp(kind: GiveUpKind, reason: string): void;
  isStopped(): boolean;
}

/**
 * The verdict message of a record: as decided (`replay` false: the aggregator sends it before
 * applying it, so without a result hash) or as replayed from the log (with the hash its result
 * has here). The wire keeps its field names: `origin` is the deciding term, `base` the hash
 * the verdict applies to.
 */
export function verdictBody(rec: Omit<VerdictRecord, 'hashAfter'> & { hashAfter?: string }, replay: boolean): Outgoing {
  const body: Omit<VerdictMessage, 'v' | 'session' | 'term'> = {
    type: 'verdict',
    round: rec.round,
    origin: rec.decidedInTerm,
    base: rec.hashBefore,
    counted: rec.counted,
    payload: rec.payload,
  };
  const withAgreement = rec.agreement === undefined ? body : { ...body, agreement: rec.agreement };
  const timed = rec.latencies === undefined ? withAgreement : { ...withAgreement, latencies: rec.latencies };
  return replay ? { ...timed, hash: rec.hashAfter! } : timed;
}
