import { z } from 'zod';
import { paramHashPattern } from '../session/hash';

/**
 * The session record: what a session has committed, kept outside its peers (docs/session.md,
 * "The session record"). Peers alone cannot remember a session: when the peers that held round t
 * leave, the rest could re-decide t differently, and a finished session could start again. The
 * membership authority (the signaling server, or the in-memory hub's ledger in simulations) also
 * keeps, per session, the committed round, its parameter hash and the term that reported it, the
 * session's start (how many data shards) and end (finished at R with hash H), and the latest
 * snapshot. It stays off the round's data path: a report is a few dozen bytes, sent a few times a
 * second at most, and a snapshot every `checkpointEvery` rounds and at the end.
 *
 * Everything here crosses a process boundary (socket.io, HTTP), so it is a zod schema.
 */

const round = z.number().int().nonnegative().max(1_000_000);
const term = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
export const recordHashSchema = z.string().regex(paramHashPattern, 'must be 16 hex digits');
const instant = z.number().nonnegative();

/** A parameter state named by its round (rounds applied: the parameters are x^round) and hash. */
export const recordPointSchema = z.object({ round, hash: recordHashSchema });
export type RecordPoint = z.infer<typeof recordPointSchema>;

export const recordEvalSchema = z.object({
  /** rounds applied when the parameters were evaluated */
  round,
  loss: z.number().nullable(),
  /** test accuracy in [0, 1] */
  accuracy: z.number().min(0).max(1),
});
export type RecordEval = z.infer<typeof recordEvalSchema>;

export const recordStatusSchema = z.enum(['waiting', 'running', 'finished']);
export type RecordStatus = z.infer<typeof recordStatusSchema>;

/** What every peer (and anyone holding the token) can read of a session's record. */
export const sessionRecordViewSchema = z.object({
  /**
   * waiting: no round may be decided (not started yet, or every peer left and it waits for its
   * quorum again); running: rounds are being decided; finished: nobody trains it again
   */
  status: recordStatusSchema,
  /** committed: rounds applied (the parameters are x^round) */
  round,
  /** parameter hash (hashParams of x) after `round` rounds; null until the first report */
  hash: recordHashSchema.nullable(),
  /** term of the last accepted report (0: none yet) */
  term,
  /** data shards the training set is split into; fixed when the session starts, null before */
  shards: z.number().int().positive().max(4096).nullable(),
  /** ms since the Unix epoch */
  startedAt: instant.nullable(),
  finished: z.object({ round, hash: recordHashSchema, at: instant }).nullable(),
  /** the latest evaluation the aggregator reported */
  eval: recordEvalSchema.nullable(),
  /** the stored snapshot (parameters x, x_prev at `round`); `bytes` is its encoded size */
  snapshot: z.object({ round, hash: recordHashSchema, bytes: z.number().int().nonnegative() }).nullable(),
  /**
   * true while every peer has left since the last report: the next report may then start from
   * any point the record still knows (a restart from checkpoints or the stored snapshot), not
   * only from its head, because nobody holds the head any more
   */
  resumable: z.boolean(),
  updatedAt: instant,
});
export type SessionRecordView = z.infer<typeof sessionRecordViewSchema>;

/**
 * An aggregator's report: the rounds its term decided since the parameters were at `from` now
 * leave them at `to`. A compare-and-set: refused unless `from` is where the record stands (or,
 * when `resumable`, a point it knows), so two groups can never both extend it, and a group that
 * decided rounds from another state learns it at once. `to.round = config.rounds` finishes the
 * session.
 */
export const progressReportSchema = z.object({
  term,
  from: recordPointSchema,
  to: recordPointSchema,
  eval: recordEvalSchema.optional(),
});
export type ProgressReport = z.infer<typeof progressReportSchema>;

/** Why the record refused something; stable codes so peers can react without parsing messages. */
export const recordRefusals = [
  'not-member',
  'not-aggregator',
  'stale-term',
  'future-term',
  'not-started',
  'already-started',
  'finished',
  'conflict',
  'backwards',
  'beyond-end',
  'nobody-here',
  'snapshot-mismatch',
  'snapshot-too-large',
  'snapshot-full',
  'no-snapshot',
] as const;
export type RecordRefusal = (typeof recordRefusals)[number];

export class RecordError extends Error {
  constructor(
    readonly code: RecordRefusal,
    message: string,
    /** the record as it stands, so the refused peer can see why without another read */
    readonly record?: SessionRecordView,
  ) {
    super(message);
    this.name = 'RecordError';
  }
}

/** A snapshot as the record stores it: the shared parameters at a committed round. */
export interface RecordSnapshot {
  readonly round: number;
  readonly x: Float32Array;
  readonly xPrev: Float32Array;
}

/** This peer's data shard, once the session has started and fixed the shard count. */
export interface ShardAssignment {
  readonly shard: number;
  readonly shards: number;
}

/**
 * The port the round machine talks to (one per peer): the signaling client implements it for
 * real peers, `createMemoryRecord` for peers on the in-memory hub. What the record refuses
 * rejects with a `RecordError`; anything else (a lost connection) with a plain Error.
 */
export interface SessionRecord {
  /** the record as this peer last heard it (join, pushes, acks, reads) */
  current(): SessionRecordView;
  /** this peer's shard and the shard count; null before the session started */
  assignment(): ShardAssignment | null;
  /** the record as the authority holds it now */
  read(): Promise<SessionRecordView>;
  /** extend the committed progress; resolves with the new record */
  report(report: ProgressReport): Promise<SessionRecordView>;
  /** store the parameters at a committed round (they must hash to the record's hash for it) */
  storeSnapshot(snapshot: RecordSnapshot): Promise<SessionRecordView>;
  /** the stored snapshot, hash-checked; null when none is stored */
  readSnapshot(): Promise<RecordSnapshot | null>;
  /** every change of status (start, finish, everyone left) is pushed; returns the unsubscribe */
  subscribe(listener: (record: SessionRecordView) => void): () => void;
}
