import { decodeCheckpoint, encodeCheckpoint } from '../session/checkpoint';
import { hashParams } from '../session/hash';
import { EvalHistoryLog, type EvalHistoryState } from './eval-history';
import { RecordError, type ProgressReport, type RecordEval, type RecordPoint, type SessionRecordView } from './record';

/**
 * The authority's side of the session record (record.ts): one session's committed progress,
 * start, end, data shards and stored snapshot, with the rules that keep one session one model.
 * Pure and synchronous; the signaling server keeps one per session, and the in-memory record
 * (memory.ts) one per hub, so simulations obey exactly the server's rules.
 *
 * Rules (docs/session.md, "The session record"):
 * - Only the aggregator of a term (the first member of that membership epoch) may report, only
 *   in a term no older than the last accepted report's, never beyond `rounds`, and only from
 *   where the record stands (compare-and-set); a report that reaches `rounds` finishes the
 *   session, and a finished session accepts nothing new.
 * - The session starts (waiting -> running) when `expectedPeers` members are present, or when
 *   its creator starts it with whoever is there; the shard count is fixed then. When every member
 *   has left it waits for its quorum again, and its next report may start from any point the
 *   record still knows, or from a state beyond its head (a checkpoint saved after the last
 *   report): nobody holds the head any more, and that is how a session resumes from checkpoints
 *   or the stored snapshot.
 * - Shards: a joiner takes the lowest shard no live member holds; a resumed peer asks for its
 *   own; when every shard is held, a joiner shares the one with the fewest holders.
 *
 * Over 400 lines because it is one class on purpose: every rule above reads and changes the same
 * status, head, term, members and shard map, so a report, a join or a snapshot is judged and
 * applied in one synchronous call; its persisted form (toState/fromState) is about 50 lines.
 */

export interface LedgerOptions {
  /** session id: a stored snapshot must name it */
  readonly session: string;
  /** config.rounds: a report reaching it finishes the session */
  readonly rounds: number;
  readonly expectedPeers: number;
  /** config.checkpointEvery: points at these rounds are kept longer (peers resume from them) */
  readonly checkpointEvery: number;
  /** encoded snapshot cap (default 128 MiB) */
  readonly maxSnapshotBytes?: number;
  /** evaluations kept for late joiners' charts (default 512, eval-history.ts) */
  readonly maxEvals?: number;
  readonly now?: () => number;
}

/** points (round -> hash) the record keeps besides its head, recent ones and checkpoint rounds */
const KEEP_POINTS = 1024;
/** epochs whose aggregator is remembered, for reports that arrive after the next epoch */
const KEEP_EPOCHS = 1024;
/** an encoded snapshot is 8 bytes per parameter plus ~200: 128 MiB holds d = 16M (mlp-10m: 80 MB) */
export const DEFAULT_MAX_SNAPSHOT_BYTES = 128 * 1024 * 1024;

interface StoredSnapshot {
  readonly round: number;
  readonly hash: string;
  readonly size: number;
  /** null: the bytes are kept outside the ledger (a Redis key, signaling/src/redis-store.ts) */
  readonly bytes: Uint8Array | null;
}

/**
 * Everything a ledger holds except the snapshot's bytes, as JSON: a signaling server on Redis
 * keeps it there, so any server process can apply the next report (signaling/src/redis-store.ts).
 */
export interface LedgerState {
  readonly status: SessionRecordView['status'];
  readonly round: number;
  readonly hash: string | null;
  readonly term: number;
  readonly shards: number | null;
  readonly startedAt: number | null;
  readonly finished: SessionRecordView['finished'];
  readonly eval: SessionRecordView['eval'];
  readonly snapshot: { readonly round: number; readonly hash: string; readonly size: number } | null;
  readonly evals: EvalHistoryState;
  readonly resumable: boolean;
  readonly updatedAt: number;
  readonly members: string[];
  readonly epoch: number;
  readonly leaders: [number, string][];
  readonly shardOf: [string, number][];
  readonly recent: [number, string][];
  readonly checkpoints: [number, string][];
}

export class RecordLedger {
  private status: SessionRecordView['status'] = 'waiting';
  private round = 0;
  private hash: string | null = null;
  private term = 0;
  private shards: number | null = null;
  private startedAt: number | null = null;
  private finished: SessionRecordView['finished'] = null;
  private evaluation: SessionRecordView['eval'] = null;
  private snapshot: StoredSnapshot | null = null;
  private evals: EvalHistoryLog;
  private resumable = false;
  private updatedAt: number;

  /** live members in join order */
  private members: string[] = [];
  private epoch = 0;
  /** epoch -> its aggregator (first member) */
  private readonly leaders = new Map<number, string>();
  private readonly shardOf = new Map<string, number>();
  private readonly recent = new Map<number, string>();
  private readonly checkpoints = new Map<number, string>();
  private readonly listeners = new Set<(view: SessionRecordView) => void>();
  private readonly now: () => number;
  private readonly maxSnapshotBytes: number;

  constructor(private readonly options: LedgerOptions) {
    this.now = options.now ?? Date.now;
    this.maxSnapshotBytes = options.maxSnapshotBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES;
    this.updatedAt = this.now();
    this.evals = new EvalHistoryLog(options.maxEvals);
  }

  /** the reported evaluations, round ascending, bounded (eval-history.ts): a late joiner's charts */
  evalHistory(): RecordEval[] {
    return this.evals.list();
  }

  /** status changes (start, finish, everyone left): for pushing to the members */
  subscribe(listener: (view: SessionRecordView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  view(): SessionRecordView {
    return {
      status: this.status,
      round: this.round,
      hash: this.hash,
      term: this.term,
      shards: this.shards,
      startedAt: this.startedAt,
      finished: this.finished,
      eval: this.evaluation,
      snapshot: this.snapshot ? { round: this.snapshot.round, hash: this.snapshot.hash, bytes: this.snapshot.size } : null,
      resumable: this.resumable,
      updatedAt: this.updatedAt,
    };
  }

  get isFinished(): boolean {
    return this.status === 'finished';
  }

  /** the shard `peer` trains, or null if it is not a member */
  shard(peer: string): number | null {
    return this.shardOf.get(peer) ?? null;
  }

  /** this peer's assignment once the shard count is fixed (running or finished) */
  assignment(peer: string): { shard: number; shards: number } | null {
    const shard = this.shardOf.get(peer);
    return shard === undefined || this.shards === null ? null : { shard, shards: this.shards };
  }

  /**
   * A new member (before the epoch that names it is published): gets a shard. `preferred` is a
   * resumed peer's own shard, granted when it is within the shard count, even if someone holds it.
   */
  join(peer: string, preferred?: number): number {
    if (this.shardOf.has(peer)) return this.shardOf.get(peer)!;
    const count = this.shards ?? this.options.expectedPeers;
    const shard = preferred !== undefined && preferred < count ? preferred : this.freeShard(count);
    this.members.push(peer);
    this.shardOf.set(peer, shard);
    return shard;
  }

  leave(peer: string): void {
    if (!this.shardOf.delete(peer)) return;
    this.members = this.members.filter((p) => p !== peer);
  }

  /**
   * The authority published epoch `epoch` with these live peers (join order). Members it does
   * not know yet join without a preference; missing ones leave. Returns true when this epoch
   * started the session (the quorum is present).
   */
  membership(epoch: number, peers: readonly string[]): boolean {
    const live = new Set(peers);
    for (const p of [...this.members]) if (!live.has(p)) this.leave(p);
    for (const p of peers) if (!this.shardOf.has(p)) this.join(p);
    this.members = [...peers];
    if (epoch > this.epoch) this.epoch = epoch;
    if (peers.length > 0) {
      this.leaders.set(epoch, peers[0]);
      for (const e of this.leaders.keys()) if (this.leaders.size > KEEP_EPOCHS) this.leaders.delete(e);
    }
    if (peers.length === 0 && this.status === 'running') {
      // nobody holds the head any more: wait for a quorum again, and let it resume from what it has
      this.status = 'waiting';
      this.shards = null;
      this.resumable = true;
      this.touch(true);
      return false;
    }
    if (this.status === 'waiting' && peers.length >= this.options.expectedPeers) {
      this.begin();
      return true;
    }
    return false;
  }

  /**
   * The creator starts the session with the members present (fewer than expectedPeers): the
   * shard count becomes their number. The caller publishes a new epoch (the shards changed).
   */
  start(): SessionRecordView {
    if (this.status === 'finished') throw this.refuse('finished', this.finishedMessage());
    if (this.status === 'running') throw this.refuse('already-started', `the session is running already (${this.shards} shards)`);
    if (this.members.length === 0) throw this.refuse('nobody-here', 'no peer has joined the session yet: start it once at least one is there');
    this.begin();
    return this.view();
  }

  /** Validate and apply an aggregator's report (module comment); throws RecordError. */
  report(reporter: string, r: ProgressReport): SessionRecordView {
    const rounds = this.options.rounds;
    if (this.status === 'finished') {
      if (this.finished && r.to.round === this.finished.round && r.to.hash === this.finished.hash) {
        // the end again, with the evaluation of the final parameters that finished after it
        if (r.eval !== undefined && r.eval.round <= this.finished.round && r.eval.round >= (this.evaluation?.round ?? 0)) {
          this.evaluation = r.eval;
          this.evals.add(r.eval);
          this.touch(false);
        }
        return this.view();
      }
      throw this.refuse('finished', this.finishedMessage());
    }
    if (!this.shardOf.has(reporter)) throw this.refuse('not-member', `peer ${reporter} is not a member of the session`);
    if (this.status !== 'running') throw this.refuse('not-started', 'the session has not started: no round may be decided yet');
    if (r.term > this.epoch) throw this.refuse('future-term', `term ${r.term} has not begun (the latest is ${this.epoch})`);
    if (r.term < this.term) throw this.refuse('stale-term', `term ${r.term} is older than term ${this.term}, which reported last`);
    const leader = this.leaders.get(r.term);
    if (leader === undefined) throw this.refuse('stale-term', `term ${r.term} is unknown here (too old, or nobody was in it)`);
    if (leader !== reporter) throw this.refuse('not-aggregator', `peer ${reporter} is not the aggregator of term ${r.term} (${leader} is)`);
    if (r.to.round > rounds) throw this.refuse('beyond-end', `round ${r.to.round} is beyond the session's ${rounds} rounds`);
    if (this.hash !== null && r.to.round === this.round && r.to.hash === this.hash) return this.view();
    if (r.to.round <= r.from.round) throw this.refuse('backwards', `a report goes forward: from round ${r.from.round} to round ${r.to.round}`);
    const atHead = this.hash === null || (r.from.round === this.round && r.from.hash === this.hash);
    const rewind = !atHead && this.resumable && this.knows(r.from);
    // after everyone left, a checkpoint saved after the last report is beyond the head
    const beyond = !atHead && this.resumable && r.from.round > this.round;
    if (!atHead && !rewind && !beyond) {
      if (r.to.round < this.round) {
        throw this.refuse('backwards', `round ${this.round} is committed already (hash ${this.hash}); this report ends at round ${r.to.round}`);
      }
      throw this.refuse(
        'conflict',
        `the record is at round ${this.round} (hash ${this.hash}, term ${this.term}); this report starts from round ${r.from.round} (hash ${r.from.hash})`,
      );
    }
    if (rewind) this.forgetAfter(r.from.round);
    this.remember(r.from);
    this.remember(r.to);
    this.round = r.to.round;
    this.hash = r.to.hash;
    this.term = r.term;
    this.resumable = false;
    if (r.eval !== undefined && r.eval.round <= r.to.round) {
      this.evaluation = r.eval;
      this.evals.add(r.eval);
    }
    if (this.round === rounds) {
      this.status = 'finished';
      this.finished = { round: this.round, hash: r.to.hash, at: this.now() };
      this.touch(true);
    } else {
      this.touch(false);
    }
    return this.view();
  }

  /**
   * Store an encoded checkpoint (session/checkpoint.ts) as the session's snapshot. It must name
   * this session, be within the size cap, hash to what the record knows for its round, and not
   * be older than the snapshot stored. Worker memory in it is dropped: the snapshot is the shared
   * parameters only. Throws RecordError.
   */
  storeSnapshot(bytes: Uint8Array): SessionRecordView {
    if (bytes.byteLength > this.maxSnapshotBytes) {
      throw this.refuse('snapshot-too-large', `a snapshot of ${bytes.byteLength} bytes exceeds this server's cap of ${this.maxSnapshotBytes}`);
    }
    let cp;
    try {
      cp = decodeCheckpoint(bytes);
    } catch (e) {
      throw this.refuse('snapshot-mismatch', `unreadable snapshot: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (cp.session !== this.options.session) throw this.refuse('snapshot-mismatch', `the snapshot is of session ${cp.session}, not ${this.options.session}`);
    const hash = hashParams(cp.x);
    const known = this.hashAt(cp.round);
    if (known === undefined) throw this.refuse('snapshot-mismatch', `round ${cp.round} is not a committed point of the record (it stands at round ${this.round})`);
    if (known !== hash) throw this.refuse('snapshot-mismatch', `the parameters at round ${cp.round} hash to ${hash}; the record has ${known}`);
    if (this.snapshot !== null && this.snapshot.round > cp.round) {
      throw this.refuse('backwards', `a newer snapshot (round ${this.snapshot.round}) is stored already`);
    }
    if (this.snapshot !== null && this.snapshot.round === cp.round) return this.view();
    const clean = encodeCheckpoint({ session: cp.session, round: cp.round, x: cp.x, xPrev: cp.xPrev, hash: cp.hash, savedAt: cp.savedAt });
    this.snapshot = { round: cp.round, hash, size: clean.byteLength, bytes: clean };
    this.touch(false);
    return this.view();
  }

  /**
   * the stored snapshot's encoded bytes (a checkpoint without worker memory), or null; also null
   * in a ledger restored with `fromState`, whose snapshot bytes are kept by its owner
   */
  snapshotBytes(): Uint8Array | null {
    return this.snapshot?.bytes ?? null;
  }

  /** drop the stored snapshot (the server's memory cap); returns the bytes freed */
  evictSnapshot(): number {
    const freed = this.snapshot?.size ?? 0;
    this.snapshot = null;
    return freed;
  }

  /** the ledger as JSON, without the snapshot's bytes (LedgerState) */
  toState(): LedgerState {
    return {
      status: this.status,
      round: this.round,
      hash: this.hash,
      term: this.term,
      shards: this.shards,
      startedAt: this.startedAt,
      finished: this.finished,
      eval: this.evaluation,
      snapshot: this.snapshot ? { round: this.snapshot.round, hash: this.snapshot.hash, size: this.snapshot.size } : null,
      evals: this.evals.toState(),
      resumable: this.resumable,
      updatedAt: this.updatedAt,
      members: [...this.members],
      epoch: this.epoch,
      leaders: [...this.leaders],
      shardOf: [...this.shardOf],
      recent: [...this.recent],
      checkpoints: [...this.checkpoints],
    };
  }

  /** a ledger as `toState` left it; its snapshot's bytes stay with the caller (snapshotBytes() is null) */
  static fromState(options: LedgerOptions, state: LedgerState): RecordLedger {
    const l = new RecordLedger(options);
    l.status = state.status;
    l.round = state.round;
    l.hash = state.hash;
    l.term = state.term;
    l.shards = state.shards;
    l.startedAt = state.startedAt;
    l.finished = state.finished;
    l.evaluation = state.eval;
    l.snapshot = state.snapshot ? { ...state.snapshot, bytes: null } : null;
    l.evals = EvalHistoryLog.fromState(state.evals, options.maxEvals);
    l.resumable = state.resumable;
    l.updatedAt = state.updatedAt;
    l.members = [...state.members];
    l.epoch = state.epoch;
    for (const [e, p] of state.leaders) l.leaders.set(e, p);
    for (const [p, s] of state.shardOf) l.shardOf.set(p, s);
    for (const [r, h] of state.recent) l.recent.set(r, h);
    for (const [r, h] of state.checkpoints) l.checkpoints.set(r, h);
    return l;
  }

  // ---- internals ----

  private begin(): void {
    this.status = 'running';
    this.shards = Math.max(1, this.members.length);
    this.startedAt = this.now();
    this.reassignShards(this.shards);
    this.touch(true);
  }

  /** After the count is fixed: keep each shard < count held first in join order, fill the rest. */
  private reassignShards(count: number): void {
    const taken = new Set<number>();
    const moving: string[] = [];
    for (const p of this.members) {
      const s = this.shardOf.get(p)!;
      if (s < count && !taken.has(s)) taken.add(s);
      else moving.push(p);
    }
    for (const p of moving) {
      let s = 0;
      while (taken.has(s) && s < count) s++;
      if (s >= count) s = this.freeShard(count);
      taken.add(s);
      this.shardOf.set(p, s);
    }
  }

  /** the lowest shard nobody holds; when all are held, the one with the fewest holders */
  private freeShard(count: number): number {
    const holders = new Array<number>(count).fill(0);
    for (const s of this.shardOf.values()) if (s < count) holders[s]++;
    let best = 0;
    for (let s = 0; s < count; s++) {
      if (holders[s] === 0) return s;
      if (holders[s] < holders[best]) best = s;
    }
    return best;
  }

  private knows(p: RecordPoint): boolean {
    return this.hashAt(p.round) === p.hash;
  }

  private hashAt(round: number): string | undefined {
    if (this.hash !== null && round === this.round) return this.hash;
    return this.recent.get(round) ?? this.checkpoints.get(round) ?? (this.snapshot?.round === round ? this.snapshot.hash : undefined);
  }

  private remember(p: RecordPoint): void {
    const every = this.options.checkpointEvery;
    const keep = every > 0 && p.round % every === 0 ? this.checkpoints : this.recent;
    keep.delete(p.round);
    keep.set(p.round, p.hash);
    if (keep.size > KEEP_POINTS) keep.delete(keep.keys().next().value!);
  }

  /** a rewind abandons the branch after `round`: its points and a snapshot on it are no longer the record */
  private forgetAfter(round: number): void {
    for (const m of [this.recent, this.checkpoints]) for (const r of [...m.keys()]) if (r > round) m.delete(r);
    if (this.snapshot !== null && this.snapshot.round > round) this.snapshot = null;
    this.evals.forgetAfter(round);
  }

  private finishedMessage(): string {
    const f = this.finished!;
    return `the session finished at round ${f.round} with parameters ${f.hash}; nobody trains it again`;
  }

  private refuse(code: RecordError['code'], message: string): RecordError {
    return new RecordError(code, message, this.view());
  }

  private touch(statusChanged: boolean): void {
    this.updatedAt = this.now();
    if (!statusChanged) return;
    const v = this.view();
    for (const l of this.listeners) {
      try {
        l(v);
      } catch {
        // one listener's failure must not stop the others
      }
    }
  }
}
