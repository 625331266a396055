import { RecordError, type RecordPoint, type RecordSnapshot, type SessionRecord, type SessionRecordView } from '../record/record';
import type { PeerContext } from './context';
import type { Replica } from './replica';

/**
 * A peer's side of the session record (docs/session.md, "The session record"): what it reports
 * while it aggregates, and what it learns from the record. One per peer, for its lifetime.
 *
 * Reporting (the aggregator): a point (round, hash) is reported once it is *replicated*, i.e.
 * another member is known to hold it (its ballot or status carries that hash), or no other
 * member is there to hold it. A crash of the aggregator right after a report then cannot leave
 * the record at a state nobody has. One report is in flight at a time, and the next one covers
 * every round replicated meanwhile, so the record costs a few reports a second however short the
 * rounds are; a report never skips a checkpoint round (a resumed session restarts from one), and
 * after the report of a checkpoint round the aggregator stores its snapshot. The last round is
 * reported once a worker confirmed it (its status) or a deadline passed, then its snapshot is
 * stored: late joiners and downloads work after every peer has left.
 */

/** what a refused report means for the term that sent it */
export type Refused = 'superseded' | 'moved' | 'finished';

export interface RecordLinkHooks {
  /** a report was refused: a newer term reported (superseded), the record stands elsewhere (moved) or finished */
  refused(kind: Refused, error: RecordError): void;
}

/** attempts to read a snapshot that is not stored yet (the finishing aggregator may still be uploading it) */
const SNAPSHOT_TRIES = 10;
/**
 * At most one report per this many ms (the last round's is not held back): a few a second per
 * session, whatever the round time, well inside the signaling server's per-socket budget.
 */
const REPORT_GAP_MS = 250;
/** the longest wait between reports after failed sends (the backoff doubles from REPORT_GAP_MS) */
const MAX_BACKOFF_MS = 8000;
/** failed sends (not refusals) in a row before each one is also reported as an error event */
const QUIET_FAILURES = 5;

export class RecordLink {
  /** where the next report starts: the record's head as this term knows it */
  private base: RecordPoint | null = null;
  private term = -1;
  /** the newest replicated point not reported yet */
  private ready: RecordPoint | null = null;
  private inFlight = false;
  private halted = false;
  /** hashes of the points this aggregator passed in this term, to report any of them */
  private readonly passed = new Map<number, string>();
  /** parameters at checkpoint rounds, kept until their report is acknowledged */
  private readonly checkpoints = new Map<number, RecordSnapshot>();
  private hooks: RecordLinkHooks | null = null;
  private lastSentAt = -Infinity;
  private gapTimer: unknown = null;
  private failures = 0;
  /** why the last call to the record failed, when it did (not a refusal: the record was not reached) */
  private unreachable: string | null = null;
  private lastEval: { round: number; loss: number | null; accuracy: number } | null = null;
  /** the end, once this peer's report of it was accepted (kept past its term) */
  private reportedEnd: { term: number; point: RecordPoint } | null = null;

  constructor(
    readonly record: SessionRecord,
    private readonly ctx: Pick<PeerContext, 'config' | 'emit' | 'fail' | 'clock'>,
  ) {}

  /** the session has started by the record (or finished) */
  started(): boolean {
    return this.record.current().status !== 'waiting';
  }

  current(): SessionRecordView {
    return this.record.current();
  }

  /** The record as the authority holds it; on a lost connection, as last heard. */
  async read(): Promise<SessionRecordView> {
    try {
      const v = await this.record.read();
      this.unreachable = null;
      return v;
    } catch (e) {
      if (e instanceof RecordError) throw e;
      this.unreachable = e instanceof Error ? e.message : String(e);
      return this.record.current();
    }
  }

  /** Why the record could not be reached on the last try (a lost connection, the server's store down), or null. */
  unreachableReason(): string | null {
    return this.unreachable;
  }

  // ---- the aggregator's reports ----

  /**
   * A term this peer leads begins reporting from `head` (the record's head as read at the term's
   * start, or null when nothing is committed). Reports of an earlier term still in flight are
   * answered but no longer act.
   */
  beginTerm(term: number, head: RecordPoint | null, hooks: RecordLinkHooks): void {
    this.term = term;
    this.base = head;
    this.ready = null;
    this.halted = false;
    if (this.gapTimer !== null) this.ctx.clock.clearTimeout(this.gapTimer);
    this.gapTimer = null;
    this.passed.clear();
    this.checkpoints.clear();
    this.hooks = hooks;
  }

  /**
   * A term this peer leads has reconciled to `replica`'s state, with `rec` as read at its start.
   * Its reports start from the record's head, or (nothing committed yet, or a restart after
   * everyone left) from this state. Returns the reason when this state is known (by the replica's
   * trail) to have left the head at its round: a fork, which must not be reported.
   */
  startTerm(term: number, rec: SessionRecordView, replica: Replica, alone: boolean, hooks: RecordLinkHooks): string | null {
    if (rec.status === 'finished') {
      this.endTerm();
      return null;
    }
    let base: RecordPoint | null = null;
    if (rec.hash !== null && !rec.resumable) {
      base = { round: rec.round, hash: rec.hash };
      const mine = replica.hashAt(base.round);
      if (mine !== undefined && mine !== base.hash) return `this group's state at round ${base.round} is ${mine}; the session record holds ${base.hash}`;
    }
    this.beginTerm(term, base, hooks);
    const here = { round: replica.round, hash: replica.hash };
    this.passedPoint(here, replica);
    if (alone) this.replicated(here);
    return null;
  }

  /**
   * A report was refused because the record moved on (a late report of the previous term): go on
   * from the new head if `replica` passed it. Returns false when it did not (this group forked).
   */
  rebase(term: number, rec: SessionRecordView | undefined, replica: Replica, hooks: RecordLinkHooks): boolean {
    if (rec?.hash == null || rec.status !== 'running' || rec.round > replica.round || replica.hashAt(rec.round) !== rec.hash) return false;
    this.beginTerm(term, { round: rec.round, hash: rec.hash }, hooks);
    this.passedPoint({ round: replica.round, hash: replica.hash }, replica);
    return true;
  }

  /** the term ended (a new epoch) or its aggregator stops: nothing more is reported for it */
  endTerm(): void {
    this.hooks = null;
    this.halted = true;
    if (this.gapTimer !== null) this.ctx.clock.clearTimeout(this.gapTimer);
    this.gapTimer = null;
  }

  /** The aggregator holds `point` (a round applied, or its state at the term's start). */
  passedPoint(point: RecordPoint, state?: RecordSnapshot): void {
    this.passed.set(point.round, point.hash);
    for (const r of this.passed.keys()) if (this.passed.size > 4096) this.passed.delete(r);
    const every = this.ctx.config.checkpointEvery;
    const keep = state !== undefined && (point.round === this.ctx.config.rounds || (every > 0 && point.round % every === 0));
    if (keep) this.checkpoints.set(point.round, { round: state.round, x: new Float32Array(state.x), xPrev: new Float32Array(state.xPrev) });
  }

  /** Another member (or nobody else being there) shows `point` is replicated: report up to it. */
  replicated(point: RecordPoint): void {
    if (this.halted || this.passed.get(point.round) !== point.hash) return;
    if (this.base !== null && point.round <= this.base.round) return;
    if (this.ready === null || point.round > this.ready.round) this.ready = point;
    this.pump();
  }

  private pump(): void {
    if (this.inFlight || this.halted || this.ready === null || this.gapTimer !== null) return;
    const wait = this.lastSentAt + REPORT_GAP_MS - this.ctx.clock.now();
    // the last round and checkpoint rounds are not held back: a restart from checkpoints goes on
    // from a point the record knows
    const k = this.ctx.config.checkpointEvery;
    const urgent = this.ready.round >= this.ctx.config.rounds || (k > 0 && this.base !== null && Math.floor(this.ready.round / k) > Math.floor(this.base.round / k));
    // after failed sends even urgent reports back off: a server that fails at once (its store
    // down) would otherwise be asked again in a loop, and its rate limit then drops this peer
    const backoff = this.failures > 0 ? this.lastSentAt + Math.min(REPORT_GAP_MS * 2 ** (this.failures - 1), MAX_BACKOFF_MS) - this.ctx.clock.now() : 0;
    const hold = Math.max(urgent ? 0 : wait, backoff);
    if (hold > 0) {
      this.gapTimer = this.ctx.clock.setTimeout(() => {
        this.gapTimer = null;
        this.pump();
      }, hold);
      return;
    }
    const from = this.base ?? this.firstPassed();
    if (from === null) return;
    let to = this.ready;
    // never skip a checkpoint round: a resumed session may restart from it
    const every = this.ctx.config.checkpointEvery;
    if (every > 0) {
      const next = (Math.floor(from.round / every) + 1) * every;
      const at = this.passed.get(next);
      if (next < to.round && at !== undefined) to = { round: next, hash: at };
    }
    if (to.round <= from.round) {
      this.ready = null;
      return;
    }
    if (to === this.ready) this.ready = null;
    this.inFlight = true;
    this.lastSentAt = this.ctx.clock.now();
    const term = this.term;
    const last = this.ctx.config.rounds;
    const evaluation = this.lastEval !== null && this.lastEval.round <= to.round ? { eval: this.lastEval } : {};
    this.record
      .report({ term, from, to, ...evaluation })
      .then(
        () => {
          this.failures = 0;
          this.unreachable = null;
          if (this.term !== term) return;
          this.base = to;
          if (to.round === last) this.reportedEnd = { term, point: to };
          this.ctx.emit({ type: 'committed', round: to.round, hash: to.hash, term });
          const state = this.checkpoints.get(to.round);
          for (const r of this.checkpoints.keys()) if (r <= to.round) this.checkpoints.delete(r);
          if (state !== undefined) this.store(state, to.round === last);
        },
        (e: unknown) => {
          if (this.term !== term) return;
          if (!(e instanceof RecordError)) {
            // the connection, not the record (a timeout, the rate limit): try again with the next point
            this.unreachable = e instanceof Error ? e.message : String(e);
            if (++this.failures >= QUIET_FAILURES) this.ctx.fail('reporting progress', e);
            if (this.ready === null || this.ready.round < to.round) this.ready = to;
            return;
          }
          this.halted = true;
          const kind: Refused = e.code === 'finished' ? 'finished' : e.code === 'stale-term' || e.code === 'not-aggregator' || e.code === 'not-member' ? 'superseded' : 'moved';
          this.hooks?.refused(kind, e);
        },
      )
      .finally(() => {
        this.inFlight = false;
        if (this.term === term) this.pump();
      });
  }

  /** the latest evaluation, sent with the next report (the record keeps the session's final numbers) */
  evaluated(round: number, loss: number, accuracy: number): void {
    if (this.lastEval === null || round >= this.lastEval.round) this.lastEval = { round, loss: Number.isFinite(loss) ? loss : null, accuracy };
    // this peer reported the end before its evaluation finished: report the end again, with it
    const end = this.reportedEnd;
    if (end !== null && round === end.point.round) {
      this.record.report({ term: end.term, from: end.point, to: end.point, eval: this.lastEval }).catch(() => {
        // the final numbers are a courtesy; the end itself is recorded
      });
    }
  }

  private firstPassed(): RecordPoint | null {
    let first: RecordPoint | null = null;
    for (const [round, hash] of this.passed) if (first === null || round < first.round) first = { round, hash };
    return first;
  }

  /** Stores the parameters of a committed round; the last round's are worth a few tries. */
  private store(state: RecordSnapshot, last: boolean): void {
    const attempt = (left: number): void => {
      this.record.storeSnapshot(state).catch((e: unknown) => {
        if (e instanceof RecordError || left <= 1) return this.ctx.fail(`storing the snapshot of round ${state.round}`, e);
        this.ctx.clock.setTimeout(() => attempt(left - 1), 1000);
      });
    };
    attempt(last ? 5 : 1);
  }

  /** Any peer that holds the finished state stores it when the record has none (the aggregator left first). */
  storeFinal(state: RecordSnapshot): void {
    const r = this.record.current();
    if (r.finished && r.finished.round === state.round && (r.snapshot === null || r.snapshot.round < state.round)) {
      this.record.storeSnapshot(state).catch(() => {
        // another peer stored it first, or the server refused: the record says which
      });
    }
  }

  // ---- reading what the record holds ----

  /**
   * The stored snapshot if it is at `point`; retried a few times a deadline apart while none is
   * stored or an older one is (a finishing aggregator stores its last one right after reporting).
   */
  async snapshotAt(point: RecordPoint, isStopped: () => boolean): Promise<RecordSnapshot | null> {
    for (let i = 0; i < SNAPSHOT_TRIES && !isStopped(); i++) {
      try {
        const s = await this.record.readSnapshot();
        if (s !== null && s.round === point.round) return s;
        if (s !== null && s.round > point.round) return null;
      } catch (e) {
        this.ctx.fail('reading the stored snapshot', e);
      }
      await new Promise<void>((r) => this.ctx.clock.setTimeout(r, Math.min(this.ctx.config.deadlineMs, 2000)));
    }
    return null;
  }

  /**
   * Resolves with the record once it says the session finished (pushed, or read every deadline),
   * or with null after `limitMs`.
   */
  whenFinished(limitMs: number, isStopped: () => boolean): Promise<SessionRecordView | null> {
    const now = this.record.current();
    if (now.status === 'finished') return Promise.resolve(now);
    return new Promise((resolve) => {
      let done = false;
      const started = this.ctx.clock.now();
      const finish = (v: SessionRecordView | null): void => {
        if (done) return;
        done = true;
        unsubscribe();
        resolve(v);
      };
      const unsubscribe = this.record.subscribe((v) => {
        if (v.status === 'finished') finish(v);
      });
      const poll = (): void => {
        if (done) return;
        if (isStopped() || this.ctx.clock.now() - started >= limitMs) return finish(null);
        void this.read().then(
          (v) => (v.status === 'finished' ? finish(v) : this.ctx.clock.setTimeout(poll, this.ctx.config.deadlineMs)),
          () => this.ctx.clock.setTimeout(poll, this.ctx.config.deadlineMs),
        );
      };
      this.ctx.clock.setTimeout(poll, Math.min(this.ctx.config.deadlineMs, 1000));
    });
  }
}
