import { agreementByte, agreementOf } from '../optim/agreement';
import { decodeBallot, encodeUpdate } from '../optim/codec';
import type { TrustedBallot } from '../optim/strategy';
import type { StatusMessage, VerdictMessage } from '../protocol/messages';
import type { RecordError, RecordPoint, SessionRecordView } from '../record/record';
import type { PeerId } from '../transport/transport';
import { verdictBody, type PeerContext } from './context';
import type { Refused } from './record-link';
import { termStart } from './term-start';
import { ShardTally } from './vote-shard';
import { applyVerdict } from './worker-role';

/**
 * The aggregator of one term: created when an epoch names this peer (the first member in join
 * order) and disposed whole when the next epoch arrives, so nothing of it outlives its term.
 *
 * Over 400 lines because a term's stages share one state (the statuses, the stage, its one
 * timer, the open round's ballots) and the session record's rules act on those same stages; what
 * the record itself decides is in term-start.ts (where a term starts) and record-link.ts (reports).
 *
 * A term at a glance:
 *
 *   gather    every member reports `status { round, hash, oldest }` (or the deadline passes);
 *   catchup   the most advanced round M wins (among its holders, the hash most hold); if this
 *             peer is behind it fetches verdicts [own round, M) from the earliest-joined holder,
 *             or a snapshot when that peer no longer holds them or does not answer in time;
 *   waiting   every member present holds the newest state, but the session has not started
 *             (fewer than `expectedPeers` ever present at once): no round is decided;
 *   running   round t is open. Each member's ballot counts once, only for round t and only at
 *             this peer's parameter hash (else the member gets a snapshot). The round closes
 *             when every live member voted (members being resynced, or that let the last two
 *             deadlines pass, are not waited for) or at the deadline with at least one ballot:
 *             the tally, in join order, goes to `strategy.aggregate`; verdict t is broadcast,
 *             then applied here, and round t + 1 opens;
 *   done      the last round is applied; members that report later still get the final state;
 *   halted    the session record refused this term's report (a newer term reported, or the record
 *             stands elsewhere): no more rounds in this term.
 *
 * With a session record (docs/session.md, "The session record") the term also reads the record
 * while it gathers, and the state it opens rounds from must fit it: a finished record's final
 * state, else its committed head or a state ahead of it. A group behind the record catches up
 * from a member that holds the record's state or from the stored snapshot, and never re-decides
 * a committed round; when neither is there, this peer gives up (diverged). Applied rounds are
 * reported to the record once another member holds them (record-link.ts).
 *
 * Before it opens a round, every member is brought up to this peer's state: the verdicts it
 * lacks when this peer holds them and they apply to its hash, else a snapshot.
 *
 * With k > 1 vote shards (vote-shard.ts) the term is the same, but 'running' tallies only
 * range 0, in a ShardTally with this role's duties as hooks (a ballot at another hash gets its
 * voter a snapshot; a counted one is a replicated point); the other ranges are tallied by
 * members 1 .. k-1. The round is applied when the worker role holds all k parts
 * (`onAssembled`), and the next one opens then.
 */

/**
 * A member that let this many round deadlines in a row pass without a ballot is not waited for
 * until it sends one again: a hung peer (a tab stopped at a breakpoint, a frozen process) whose
 * WebRTC threads still answer the connection checks would otherwise cost every round a deadline.
 */
const STALL_AFTER = 2;

type Stage = 'gather' | 'catchup' | 'waiting' | 'running' | 'done' | 'halted';

interface PeerStatus {
  readonly round: number;
  readonly hash: string;
  /** the oldest round from which it holds every verdict up to `round` */
  readonly oldest: number;
}

export class AggregatorRole {
  private stage: Stage = 'gather';
  private readonly statuses = new Map<PeerId, PeerStatus>();
  /** the one pending timer of the stage: the gather deadline, the catch-up fallback or the round deadline */
  private timer: unknown = null;
  /** the peer this one catches up from (stage 'catchup') */
  private catchUpSource: PeerId | null = null;
  /** the round whose ballots are being collected, -1 when none is open */
  private votingRound = -1;
  private openedAt = 0;
  private ballots = new Map<PeerId, TrustedBallot>();
  /** ms from the round's opening to each accepted ballot */
  private arrivals = new Map<PeerId, number>();
  /** members sent a snapshot: not waited for until they vote again */
  private resyncing = new Set<PeerId>();
  /** deadlines in a row each member let pass without a ballot (any ballot of theirs resets it) */
  private readonly missedDeadlines = new Map<PeerId, number>();
  /** the session record as read at the term's start (null: no record, or not read yet) */
  private recordAtStart: SessionRecordView | null = null;
  private recordRead: boolean;
  /** every status is in, or the gather deadline passed */
  private gathered = false;
  /** the gather deadline passed once with members missing that might hold the record's state */
  private gatherRetried = false;
  private disposed = false;
  /** k > 1 vote shards: the tally of range 0 (null: k = 1, this role tallies whole ballots) */
  private readonly tally: ShardTally | null;
  /**
   * k > 1: members whose status says they applied the last round while this peer still waits for
   * one of its parts; checked once this peer has applied it too
   */
  private readonly aheadAtEnd = new Map<PeerId, StatusMessage>();

  constructor(private readonly ctx: PeerContext) {
    this.recordRead = ctx.record === null;
    const plan = ctx.view.plan;
    this.tally =
      plan.k > 1
        ? new ShardTally(ctx, 0, plan.ranges[0], (part) => ctx.partDecided(0, part), {
            mismatch: (from, detail) => {
              this.ctx.drop('hash-mismatch', from, detail);
              this.ctx.sendSnapshot(from);
              this.resyncing.add(from);
              return true;
            },
            accepted: (from, round, hash) => {
              this.resyncing.delete(from);
              this.missedDeadlines.delete(from);
              if (from !== ctx.self) ctx.record?.replicated({ round, hash });
            },
            skip: (p) => this.resyncing.has(p),
          })
        : null;
  }

  /** Gathers the members' statuses (this peer's own first) until all are in or the deadline passes. */
  start(): void {
    const { replica, self, config, record } = this.ctx;
    this.statuses.set(self, { round: replica.round, hash: replica.hash, oldest: replica.oldestHeld() });
    if (record !== null) {
      void record
        .read()
        .catch(() => record.current())
        .then((v) => {
          if (this.disposed) return;
          this.recordAtStart = v;
          this.recordRead = true;
          if (this.gathered && this.stage === 'gather') this.ctx.guard('reconcile', () => this.reconcile());
        });
    }
    this.arm(config.deadlineMs, () => this.gatherDeadline());
    this.reconcileIfAllReported();
  }

  private gatherDeadline(): void {
    if (this.stage !== 'gather') return;
    this.gathered = true;
    if (this.recordRead) this.ctx.guard('reconcile', () => this.reconcile());
  }

  dispose(): void {
    this.disposed = true;
    this.tally?.dispose();
    if (this.timer !== null) this.ctx.clock.clearTimeout(this.timer);
    this.timer = null;
    this.ctx.record?.endTerm();
  }

  /** The session record says the session started (pushed): a waiting term opens its round. */
  onStarted(): void {
    if (this.stage === 'waiting' && this.ctx.view.started) this.openVoting(this.ctx.replica.round, true);
  }

  onStatus(from: PeerId, msg: StatusMessage): void {
    const { view, replica } = this.ctx;
    this.statuses.set(from, { round: msg.round, hash: msg.hash, oldest: msg.oldest });
    // a session record alone says whether the session runs; without one, any member may
    if (msg.started === true && this.ctx.record === null) view.started = true;
    if (this.tally !== null && this.stage === 'running' && msg.round === replica.round + 1 && msg.round >= this.ctx.config.rounds) {
      // k > 1: the member got every part of the last round before this peer did (each part
      // comes from its own range's aggregator). It is ahead, not astray: a snapshot of this
      // peer's older state would only take it back, and the end from the record after that
      this.aheadAtEnd.set(from, msg);
      return;
    }
    // the member holds this state: it is safe to report it
    if (this.stage === 'running' || this.stage === 'done') this.ctx.record?.replicated({ round: msg.round, hash: msg.hash });
    if (this.stage === 'gather') this.reconcileIfAllReported();
    else if (this.stage === 'running' || this.stage === 'waiting' || this.stage === 'done') this.bringUp(from, msg.round, msg.hash);
    // a status that arrived after the gather deadline can be what says the session runs
    if (this.stage === 'waiting' && view.started) this.openVoting(replica.round, true);
  }

  /** whether a verdict from `from` is a catch-up replay this aggregator asked for */
  isCatchUpSource(from: PeerId): boolean {
    return this.stage === 'catchup' && from === this.catchUpSource;
  }

  onCatchUpVerdict(from: PeerId, msg: VerdictMessage): void {
    if (!applyVerdict(this.ctx, from, msg, () => this.ctx.requestSnapshot(from))) return;
    const top = this.statuses.get(from)?.round ?? this.ctx.replica.round;
    if (this.ctx.replica.round >= top) this.caughtUp();
  }

  /** A snapshot this peer asked for was installed. */
  onSnapshotInstalled(): void {
    if (this.stage === 'catchup') this.caughtUp();
  }

  /**
   * A member asks for a snapshot: it is not waited for until it votes again. While a round is
   * open it gets the snapshot and the round at once (true); otherwise the caller serves it.
   */
  onSync(from: PeerId): boolean {
    this.resyncing.add(from);
    if (this.votingRound < 0) return false;
    this.ctx.sendSnapshot(from);
    this.ctx.send(from, { type: 'open', round: this.votingRound, hash: this.ctx.replica.hash });
    return true;
  }

  /** A ballot, from a member over the wire or from this peer itself. */
  acceptBallot(from: PeerId, round: number, ballotHash: string, payload: Uint8Array): void {
    // k > 1: a slice of range 0, kept by the tally until its round opens if it is early
    if (this.tally !== null) return this.tally.accept(from, round, ballotHash, payload);
    const { replica, strategy, clock } = this.ctx;
    // alive, even if too late for this round: wait for it again
    this.missedDeadlines.delete(from);
    if (this.stage !== 'running' || round !== this.votingRound) {
      return this.ctx.drop('stale-round', from, `ballot for round ${round}, open round is ${this.votingRound}`);
    }
    if (this.ballots.has(from)) return this.ctx.drop('duplicate', from, `second ballot for round ${round}`);
    if (ballotHash !== replica.hash) {
      this.ctx.drop('hash-mismatch', from, `ballot at parameters ${ballotHash}, round ${round} is at ${replica.hash}`);
      this.ctx.sendSnapshot(from);
      this.resyncing.add(from);
      return this.closeIfAllVoted();
    }
    let ballot: TrustedBallot;
    try {
      ballot = decodeBallot(payload, replica.d, strategy.ballotKind);
    } catch (e) {
      return this.ctx.drop('bad-payload', from, e instanceof Error ? e.message : String(e));
    }
    this.resyncing.delete(from);
    this.ballots.set(from, ballot);
    // another member holds the state of this round: it may be reported to the record
    if (from !== this.ctx.self) this.ctx.record?.replicated({ round, hash: ballotHash });
    this.arrivals.set(from, Math.min(0xffffffff, Math.max(0, Math.round(clock.now() - this.openedAt))));
    this.closeIfAllVoted();
  }

  // ---- reconcile a new term ----

  private reconcileIfAllReported(): void {
    if (!this.ctx.view.peers.every((p) => this.statuses.has(p))) return;
    this.gathered = true;
    if (this.recordRead) this.reconcile();
  }

  /**
   * The most advanced state wins; among peers at that round, the hash most of them hold. With a
   * session record, the state must fit the record (term-start.ts).
   */
  private reconcile(): void {
    if (this.stage !== 'gather') return;
    const { view, replica, config } = this.ctx;
    this.clearTimer();
    let top = -1;
    for (const s of this.statuses.values()) top = Math.max(top, s.round);
    const holdersOf = new Map<string, PeerId[]>();
    for (const p of view.peers) {
      const s = this.statuses.get(p);
      if (s && s.round === top) holdersOf.set(s.hash, [...(holdersOf.get(s.hash) ?? []), p]);
    }
    let bestHash = '', holders: PeerId[] = [];
    for (const [h, ps] of holdersOf) if (ps.length > holders.length) [bestHash, holders] = [h, ps];
    const target = termStart(this.recordAtStart, { kind: 'peer', round: top, hash: bestHash, holders }, view.peers, (p) => this.statuses.get(p));
    if (target.kind === 'fail') {
      // a member that holds the record's state may not have answered yet: one more gather period
      if (!this.gatherRetried && !view.peers.every((p) => this.statuses.has(p))) {
        this.gatherRetried = true;
        this.gathered = false;
        this.arm(config.deadlineMs, () => this.gatherDeadline());
        return;
      }
      this.stage = 'halted';
      return this.ctx.giveUp('diverged', target.reason);
    }
    if (target.kind === 'record') return this.catchUpFromRecord(target.point);
    if (replica.round === target.round && replica.hash === target.hash) return this.distribute();
    // behind (or diverged): catch up from the earliest-joined holder of the winning state
    top = target.round;
    const source = target.holders[0];
    const s = this.statuses.get(source)!;
    this.stage = 'catchup';
    this.catchUpSource = source;
    this.ctx.acceptSnapshotFrom(source);
    if (replica.round < top && s.oldest <= replica.round) {
      this.ctx.send(source, { type: 'fetch', from: replica.round, to: top });
    } else {
      this.ctx.requestSnapshot(source);
    }
    this.arm(config.deadlineMs, () => {
      // the source did not deliver in time: fall back to a full snapshot
      if (this.stage === 'catchup' && this.catchUpSource !== null) this.ctx.requestSnapshot(this.catchUpSource);
    });
  }

  /** Takes the state at `point` from the session record's stored snapshot, then goes on as caught up. */
  private catchUpFromRecord(point: RecordPoint): void {
    this.stage = 'catchup';
    this.catchUpSource = null;
    void this.ctx.takeFromRecord(point).then((why) => {
      if (this.disposed || this.stage !== 'catchup') return;
      if (why === null) return this.caughtUp();
      this.stage = 'halted';
      this.ctx.giveUp('diverged', why);
    });
  }

  private caughtUp(): void {
    if (this.stage !== 'catchup') return;
    this.clearTimer();
    this.catchUpSource = null;
    this.distribute();
  }

  /** This peer holds the winning state: bring every member to it, then open the next round. */
  private distribute(): void {
    const { view, replica, self, config } = this.ctx;
    this.statuses.set(self, { round: replica.round, hash: replica.hash, oldest: replica.oldestHeld() });
    for (const p of view.peers) {
      if (p === self) continue;
      const s = this.statuses.get(p);
      if (s) this.bringUp(p, s.round, s.hash, false);
    }
    if (!this.beginReporting()) return;
    if (replica.round >= config.rounds) {
      this.stage = 'done';
      this.reportLastRound();
      return;
    }
    if (!view.started) {
      // reconciled (everyone present holds the newest state) but no rounds before the quorum
      this.stage = 'waiting';
      this.votingRound = -1;
      this.ctx.emit({ type: 'waiting', term: view.term, have: view.peers.length, need: config.expectedPeers });
      return;
    }
    this.openVoting(replica.round, true);
  }

  /** Sends a behind member the verdicts it lacks, or a snapshot; then (announce) the open round. */
  private bringUp(p: PeerId, round: number, peerHash: string, announce = true): void {
    const { replica } = this.ctx;
    if (round === replica.round && peerHash === replica.hash) {
      // in sync
    } else if (round < replica.round && replica.canReplay(round, peerHash)) {
      for (let r = round; r < replica.round; r++) this.ctx.send(p, verdictBody(replica.verdict(r)!, true));
    } else {
      this.ctx.sendSnapshot(p);
      this.resyncing.add(p);
    }
    if (announce && this.stage === 'running' && this.votingRound >= 0) this.ctx.send(p, { type: 'open', round: this.votingRound, hash: replica.hash });
  }

  // ---- the session record ----

  /**
   * Reports of this term start from the record's head, or (nothing committed yet, or a restart
   * after everyone left) from this term's starting state. A state ahead of the head that is known
   * not to descend from it is a fork: this peer gives up. Returns false then.
   */
  private beginReporting(): boolean {
    const { record, replica, view } = this.ctx;
    if (record === null || this.recordAtStart === null) return true;
    const fork = record.startTerm(view.term, this.recordAtStart, replica, view.peers.length === 1, { refused: (kind, e) => this.refused(kind, e) });
    if (fork === null) return true;
    this.stage = 'halted';
    this.ctx.giveUp('diverged', fork);
    return false;
  }

  /** The record refused a report of this term. */
  private refused(kind: Refused, e: RecordError): void {
    const { replica, view, record } = this.ctx;
    this.stage = 'halted';
    this.votingRound = -1;
    this.clearTimer();
    this.tally?.dispose();
    this.ctx.emit({ type: 'error', error: `the session record refused term ${view.term}'s report: ${e.message}` });
    // a newer term reported, or the session finished: the next epoch (or the finish) takes over
    if (kind !== 'moved' || record === null) return;
    // the record moved on (a late report of the previous term): go on if this state descends from it
    if (record.rebase(view.term, e.record, replica, { refused: (k, err) => this.refused(k, err) })) {
      if (replica.round < this.ctx.config.rounds) this.openVoting(replica.round, true);
      else this.stage = 'done';
      return;
    }
    this.ctx.giveUp('diverged', `this group decided rounds from a state the session record does not hold: ${e.message}`);
  }

  /**
   * The last round is applied: report it once a member confirms it holds it (its status), or
   * after a deadline at the latest, so the session's end is recorded either way.
   */
  private reportLastRound(): void {
    const { record, replica, view, config } = this.ctx;
    if (record === null) return;
    const end = { round: replica.round, hash: replica.hash };
    if (view.peers.length === 1) return record.replicated(end);
    this.arm(config.deadlineMs, () => record.replicated(end));
  }

  // ---- rounds ----

  /** Opens `round`: announced to the members (`open`) in a term's first round, implied by the verdict after that. */
  private openVoting(round: number, announce: boolean): void {
    const { clock, replica } = this.ctx;
    this.stage = 'running';
    this.votingRound = round;
    this.openedAt = clock.now();
    this.ballots = new Map();
    this.arrivals = new Map();
    // a member sent a snapshot while reconciling is not waited for in the term's first round (its
    // ballot still counts if it makes it); after that every member is expected again
    if (!announce) this.resyncing = new Set();
    if (announce) this.ctx.broadcast({ type: 'open', round, hash: replica.hash });
    this.ctx.report.roundOpened();
    if (this.tally !== null) this.tally.open(round, true);
    else this.armDeadline(round);
    this.ctx.vote(round);
  }

  /** k > 1: the worker role applied a round from its k parts; the next one opens (or the term is done). */
  onAssembled(): void {
    if (this.stage !== 'running') return;
    const { replica, config, record } = this.ctx;
    record?.passedPoint({ round: replica.round, hash: replica.hash }, replica);
    if (replica.round >= config.rounds) {
      this.stage = 'done';
      this.votingRound = -1;
      this.reportLastRound();
    } else {
      this.openVoting(replica.round, false);
    }
    // the members that applied the last round first: now this peer can tell whether they agree
    for (const [p, msg] of [...this.aheadAtEnd]) {
      this.aheadAtEnd.delete(p);
      this.onStatus(p, msg);
    }
  }

  private armDeadline(round: number): void {
    const { view, self, config } = this.ctx;
    this.arm(config.deadlineMs, () => {
      if (this.stage !== 'running' || this.votingRound !== round) return;
      // nothing arrived at all: keep waiting rather than apply an empty verdict
      if (this.ballots.size === 0) return this.armDeadline(round);
      for (const p of view.peers) {
        if (p !== self && !this.ballots.has(p) && !this.resyncing.has(p)) this.missedDeadlines.set(p, (this.missedDeadlines.get(p) ?? 0) + 1);
      }
      this.ctx.guard('closing round', () => this.closeRound(round));
    });
  }

  private closeIfAllVoted(): void {
    if (this.stage !== 'running' || this.votingRound < 0) return;
    for (const p of this.ctx.view.peers) {
      if (!this.ballots.has(p) && !this.resyncing.has(p) && (this.missedDeadlines.get(p) ?? 0) < STALL_AFTER) return;
    }
    if (this.ballots.size > 0) this.closeRound(this.votingRound);
  }

  private closeRound(round: number): void {
    const { view, replica, strategy, config } = this.ctx;
    this.clearTimer();
    const peers = view.peers;
    // join order, so the tally (and a float mean) does not depend on arrival order
    const voters = peers.filter((p) => this.ballots.has(p));
    const absent = peers.filter((p) => !this.ballots.has(p));
    const ballots = voters.map((p) => this.ballots.get(p)!);
    const update = strategy.aggregate({ ballots, voters, absent }, replica.d, round);
    const payload = encodeUpdate(update, replica.d);
    const counted = new Uint8Array(Math.ceil(peers.length / 8));
    peers.forEach((p, i) => {
      if (this.ballots.has(p)) counted[i >> 3] |= 1 << (i & 7);
    });
    const latencies = voters.map((p) => this.arrivals.get(p) ?? 0);
    // who voted with the group: a byte per voter (docs/session.md "Vote agreement")
    const agreement = Uint8Array.from(ballots, (b) => agreementByte(agreementOf(b, update, replica.d)));
    const verdict = { round, decidedInTerm: view.term, hashBefore: replica.hash, counted, payload, latencies, agreement };
    // the workers are waiting: send first, apply and hash after (the result is checked against
    // their next ballots, which carry the hash they got)
    this.ctx.broadcast(verdictBody(verdict, false));
    const rec = replica.apply(verdict, update);
    this.votingRound = -1;
    const record = this.ctx.record;
    if (record !== null) {
      const point = { round: replica.round, hash: replica.hash };
      record.passedPoint(point, replica);
      if (peers.length === 1) record.replicated(point);
    }
    this.ctx.roundApplied(rec);
    if (replica.round >= config.rounds) {
      this.stage = 'done';
      this.reportLastRound();
    } else {
      this.openVoting(replica.round, false);
    }
  }

  private arm(ms: number, fn: () => void): void {
    this.clearTimer();
    this.timer = this.ctx.clock.setTimeout(() => {
      this.timer = null;
      fn();
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer !== null) this.ctx.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
