import type { SessionConfig } from '../config';
import type { Strategy } from '../optim/strategy';
import { decodeMessage, ProtocolError, type Message, type SnapshotMessage, type SyncMessage } from '../protocol/messages';
import { createRng, type Rng } from '../random';
import type { SessionRecord } from '../record/record';
import type { Membership, PeerId, Transport } from '../transport/transport';
import { AggregatorRole } from './aggregator-role';
import type { Checkpoint, CheckpointStore } from './checkpoint';
import { realClock, type Clock, type PeerContext, type SessionView } from './context';
import type { DropReason, GiveUpKind, Role, SessionEvent } from './events';
import { Replica, type VerdictRecord } from './replica';
import { RoundReport, type SessionStats } from './round-report';
import { createOutbox } from './outbox';
import { RecordLink } from './record-link';
import { RecordWatch } from './record-watch';
import { SnapshotAssembler } from './snapshot';
import { planVoteShards, ShardTally, talliedBy } from './vote-shard';
import { WorkerRole, type DataPosition, type SessionGradient } from './worker-role';

/**
 * The round state machine: the one place where rounds are decided (docs/session.md). This file
 * is the peer itself: it decodes and filters what arrives (session, term, membership), buffers
 * messages of a term it has not entered yet, follows the epochs, and hands each message to the
 * role it is for. The roles and the state they share:
 *
 *   replica.ts          x, x_prev, round, hash and the verdict log (no transport, no timers)
 *   worker-role.ts      every peer: votes, applies verdicts, asks for a sync when it disagrees
 *   aggregator-role.ts  the aggregator of one term: reconciles, then opens and closes rounds
 *   round-report.ts     round events, evaluations, checkpoints, counters
 *   outbox.ts           how messages leave: framing, encoding, broadcast, snapshots
 *   record-link.ts      the session record: reports, and the state a session committed or ended with
 *
 *   vote-shard.ts       k > 1 vote shards: who tallies which range, a range's tally, the assembly
 *
 * Over 400 lines because the routing of every message type and the term change are one switch
 * over one peer's state; what each message does is in the roles.
 *
 * Election: term = membership epoch, aggregator = first peer of the epoch in join order. Every
 * peer computes it from the same epoch, so one term never has two aggregators; messages carry
 * their term and a peer drops any older term, so a deposed aggregator cannot be obeyed by a peer
 * that has seen the new epoch. A new aggregator that is behind catches up (verdicts or a
 * snapshot from the most advanced peer) before it opens a round, so "holds current parameters"
 * is established by the reconcile step instead of being a precondition of the election.
 */

export type { Clock } from './context';
export type { SessionStats } from './round-report';
export type { SessionGradient } from './worker-role';

export interface SessionPeerOptions {
  readonly transport: Transport;
  readonly config: SessionConfig;
  readonly strategy: Strategy;
  /** initial parameters x^0 (copied); every peer must start from the same vector */
  readonly params: Float32Array;
  readonly gradient: SessionGradient;
  readonly evaluate?: (x: Float32Array) => Promise<{ loss: number; accuracy: number }>;
  readonly checkpoints?: CheckpointStore;
  readonly clock?: Clock;
  readonly onEvent?: (e: SessionEvent) => void;
  /** session id from the signaling server; messages of another session are dropped */
  readonly session?: string;
  /** this peer's stream for stochastic signs (default: seed forked by peer id) */
  readonly rng?: Rng;
  /**
   * Where the gradient's data stands (a batch sampler), saved with checkpoints and restored on
   * resume, so that a resumed peer draws the batches it would have drawn.
   */
  readonly data?: DataPosition;
  /** how many applied verdicts each peer keeps for failover replays (default 16) */
  readonly keepVerdicts?: number;
  /** the session record (docs/session.md): start, committed progress, end; without one, only what the peers present know */
  readonly record?: SessionRecord;
}

export interface SessionPeer {
  readonly self: PeerId;
  /** live view; treat the arrays as read-only */
  state(): {
    readonly round: number;
    readonly term: number;
    readonly role: Role;
    readonly aggregator: PeerId | null;
    readonly hash: string;
    readonly x: Float32Array;
    readonly xPrev: Float32Array;
    /** this peer's worker momentum (null for memoryless algorithms) */
    readonly momentum: Float32Array | null;
  };
  stats(): SessionStats;
  /** resolves at the last round (with a record: once it agrees); rejects with a SessionEndedError on `gave-up` */
  readonly finished: Promise<{ round: number; hash: string }>;
  /**
   * Resolves true once the transport has taken every message this peer sent (its part of the
   * last verdict, its last verdict, a snapshot it streams), false after `timeoutMs` (on the
   * peer's clock) if it has not. A peer that leaves when it finished waits for this first, so
   * no member waiting for one of its messages has to take the end from a snapshot.
   */
  flushed(timeoutMs: number): Promise<boolean>;
  /**
   * Saves this peer's state (round, x, x_prev, momentum) to its checkpoint store now, whatever
   * `checkpointEvery` says; resolves false when it has no store. A tab whose signaling server is
   * gone saves so that Start resumes from the state it held (docs/session.md "Checkpoints").
   */
  saveCheckpoint(): Promise<boolean>;
  stop(): Promise<void>;
}

/** memberships of past terms kept to name the voters of verdicts decided in them */
const KEEP_TERMS = 64;
/** messages of a term this peer has not entered yet, kept until its epoch arrives */
const MAX_LATER_TERM_MESSAGES = 1024;
const MAX_LATER_TERM_BYTES = 32 * 1024 * 1024;

export function createSessionPeer(options: SessionPeerOptions): SessionPeer {
  const { transport, config, strategy } = options;
  const self = transport.self;
  const session = options.session ?? 'local';
  const clock = options.clock ?? realClock;
  const emit = (e: SessionEvent): void => {
    try {
      options.onEvent?.(e);
    } catch {
      // a UI callback must not break the protocol
    }
  };
  const d = options.params.length;
  if (d === 0) throw new RangeError('params must not be empty');
  const maxBytes = 4 * d + 128 * 1024;
  const coins = options.rng ?? createRng(config.seed).fork(`peer:${self}`);
  const memory = strategy.createWorkerState(d);
  const replica = new Replica(options.params, strategy, options.keepVerdicts ?? 16);

  const view: SessionView = { term: 0, peers: [], aggregator: null, started: false, plan: planVoteShards(config.voteShards, [], d) };
  const membersOfTerm = new Map<number, readonly PeerId[]>();
  let stopped = false;
  const laterTerm: { from: PeerId; msg: Message; size: number }[] = [];
  let laterTermBytes = 0;
  const assembler = new SnapshotAssembler(d);
  /** besides the aggregator, the peer a snapshot is expected from (asked for, or a catch-up source) */
  let snapshotSource: PeerId | null = null;
  let aggregatorRole: AggregatorRole | null = null;
  /** this peer's tally of vote shard j > 0 in this term (shard 0 is the aggregator role's) */
  let shardTally: ShardTally | null = null;

  const fail = (where: string, e: unknown): void => {
    // after leave/stop, work cut off by it (a step, an evaluation) is not an error to report
    if (stopped) return;
    emit({ type: 'error', error: `${where}: ${e instanceof Error ? e.message : String(e)}` });
  };
  const guard = (where: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      fail(where, e);
    }
  };
  const report = new RoundReport({
    self, session, config, clock, replica, emit, fail,
    evaluate: options.evaluate,
    checkpoints: options.checkpoints,
    memory: () => worker.memoryNow(),
    lastRound: options.record ? () => void watch?.confirmFinish() : undefined,
    evaluated: (round, loss, accuracy) => link?.evaluated(round, loss, accuracy),
  });
  const link = options.record ? new RecordLink(options.record, { config, emit, fail, clock }) : null;
  const drop = (reason: DropReason, from: PeerId, detail: string): void => report.dropped(reason, from, detail);
  const roleNow = (): Role => (view.aggregator === self ? 'aggregator' : 'worker');

  const outbox = createOutbox({ transport, session, view, replica, report, fail, isStopped: () => stopped });
  const requestSnapshot = (from: PeerId): void => {
    snapshotSource = from;
    outbox.send(from, { type: 'sync', round: replica.round, hash: replica.hash });
  };

  const ctx: PeerContext = {
    self, config, strategy, clock, replica, report, record: link, view, emit,
    send: outbox.send, broadcast: outbox.broadcast, sendSnapshot: outbox.sendSnapshot, requestSnapshot,
    acceptSnapshotFrom: (from) => (snapshotSource = from),
    drop, fail, guard,
    roundApplied: (rec: VerdictRecord) =>
      report.applied(rec, {
        term: view.term, role: roleNow(), split: view.plan.split, voteShard: talliedBy(view.plan, self),
        loss: worker.lossIn(rec.round), members: membersOfTerm.get(rec.decidedInTerm),
      }),
    vote: (round) => worker.vote(round),
    acceptOwnBallot: (round, hash, payload) => aggregatorRole?.acceptBallot(self, round, hash, payload),
    acceptOwnSlice: (shard, round, hash, payload) => {
      if (shard === 0) aggregatorRole?.acceptBallot(self, round, hash, payload);
      else if (shardTally?.shard === shard) shardTally.accept(self, round, hash, payload);
    },
    partDecided: (shard, part) => worker.ownPart(shard, part),
    opening: (round) => shardTally?.open(round),
    assembledApplied: () => aggregatorRole?.onAssembled(),
    takeFromRecord: (point) => watch!.takeFromRecord(point),
    giveUp: (kind, reason) => giveUp(kind, reason),
    isStopped: () => stopped,
  };
  const worker = new WorkerRole(ctx, coins, memory, options.gradient, options.data);

  // ======================= incoming =======================

  let ready = options.checkpoints === undefined;
  const beforeReady: (() => void)[] = [];
  const whenReady = (fn: () => void): void => {
    if (ready) fn();
    else beforeReady.push(fn);
  };

  const unsubscribe = transport.subscribe({
    message: (from, bytes) => whenReady(() => onBytes(from, bytes)),
    membership: (m) => whenReady(() => guard('membership', () => onMembership(m))),
    // the signaling server alone decides membership; we only tell it whom we lost
    unreachable: (peer) => {
      if (!stopped && view.peers.includes(peer)) transport.reportUnreachable?.(peer);
    },
  });

  if (options.checkpoints !== undefined) {
    options.checkpoints
      .load()
      .then((cp) => {
        if (cp !== null) resume(cp);
      })
      .catch((e) => fail('loading checkpoint', e))
      .finally(() => {
        ready = true;
        for (const fn of beforeReady.splice(0)) fn();
      });
  }

  function resume(cp: Checkpoint): void {
    if (cp.session !== session) throw new Error(`checkpoint is of session ${cp.session}, not ${session}`);
    if (cp.x.length !== d) throw new Error(`checkpoint has d = ${cp.x.length}, the model has d = ${d}`);
    install(cp.round, cp.x, cp.xPrev);
    worker.restore(cp.memory);
  }

  function install(round: number, x: Float32Array, xPrev: Float32Array): void {
    replica.install(round, x, xPrev);
    worker.forgetBallot();
  }

  // ======================= the session record =======================

  const watch = link === null ? null : new RecordWatch({ ctx, link, install, started: () => aggregatorRole?.onStarted() });
  const unsubscribeRecord = link?.record.subscribe((r) => whenReady(() => guard('record', () => watch!.onRecord(r))));
  if (link !== null) view.started = link.started();
  watch?.watchSilence();

  function giveUp(kind: GiveUpKind, reason: string): void {
    if (stopped) return;
    report.giveUp(kind, reason);
    void peer.stop();
  }

  function onBytes(from: PeerId, bytes: Uint8Array): void {
    if (stopped) return;
    report.received(bytes.byteLength);
    let msg: Message;
    try {
      msg = decodeMessage(bytes, { maxBytes });
    } catch (e) {
      if (e instanceof ProtocolError) drop(e.reason, from, e.message);
      else drop('malformed', from, String(e));
      return;
    }
    if (msg.session !== session) {
      drop('wrong-session', from, `session ${msg.session}`);
      return;
    }
    route(from, msg, bytes.byteLength);
  }

  /** Term filter: older terms are dropped, later ones kept until their epoch arrives. */
  function route(from: PeerId, msg: Message, size: number): void {
    if (msg.term < view.term) {
      drop('stale-term', from, `${msg.type} of term ${msg.term} in term ${view.term}`);
      return;
    }
    if (msg.term > view.term) {
      // the sender saw the next epoch first (signaling and data channels are separate paths)
      if (laterTerm.length >= MAX_LATER_TERM_MESSAGES || laterTermBytes + size > MAX_LATER_TERM_BYTES) {
        drop('future-overflow', from, `${msg.type} of term ${msg.term}`);
      } else {
        laterTerm.push({ from, msg, size });
        laterTermBytes += size;
      }
      return;
    }
    if (!view.peers.includes(from)) {
      drop('not-member', from, `${msg.type} from a peer outside term ${view.term}`);
      return;
    }
    if (from === view.aggregator) watch?.heard();
    guard(`handling ${msg.type} from ${from}`, () => deliver(from, msg));
  }

  function deliver(from: PeerId, msg: Message): void {
    switch (msg.type) {
      case 'ballot': {
        // k > 1 vote shards: a slice to the tally of its range; k = 1: a whole ballot to the aggregator
        const slice = msg.slice ?? -1;
        if (view.plan.k > 1 && slice > 0) {
          if (shardTally?.shard !== slice) return drop('not-aggregator', from, `slice of vote shard ${slice} sent to a peer that does not tally it`);
          // a member votes at this peer's state: the round is open, even if this peer's `open`
          // was lost (its range would never be decided otherwise); vote, which opens the tally
          if (msg.round === replica.round && msg.hash === replica.hash) worker.vote(msg.round);
          return shardTally.accept(from, msg.round, msg.hash, msg.payload);
        }
        if (aggregatorRole === null) return drop('not-aggregator', from, 'ballot sent to a worker');
        if (slice !== (view.plan.k > 1 ? 0 : -1)) return drop('not-aggregator', from, `ballot ${slice < 0 ? 'whole' : `of vote shard ${slice}`} in a term of ${view.plan.k} vote shards`);
        return aggregatorRole.acceptBallot(from, msg.round, msg.hash, msg.payload);
      }
      case 'status':
        if (aggregatorRole === null) return drop('not-aggregator', from, 'status sent to a worker');
        return aggregatorRole.onStatus(from, msg);
      case 'verdict':
        if (msg.slice !== undefined) return worker.onSliceVerdict(from, msg);
        if (aggregatorRole?.isCatchUpSource(from)) return aggregatorRole.onCatchUpVerdict(from, msg);
        return worker.onVerdict(from, msg);
      case 'open':
        return worker.onOpen(from, msg);
      case 'fetch':
        return worker.onFetch(from, msg);
      case 'sync':
        return onSync(from, msg);
      case 'snapshot':
        return onSnapshot(from, msg);
      default: {
        const _exhaustive: never = msg;
        return _exhaustive;
      }
    }
  }

  // ======================= membership and terms =======================

  function onMembership(m: Membership): void {
    if (stopped || m.epoch <= view.term) return;
    membersOfTerm.set(m.epoch, m.peers);
    for (const t of membersOfTerm.keys()) if (membersOfTerm.size > KEEP_TERMS) membersOfTerm.delete(t);
    if (!m.peers.includes(self)) {
      // dropped from the session (reported unreachable): stay silent until readmitted
      view.term = m.epoch;
      view.peers = m.peers;
      endTerm();
      return;
    }
    const previous = view.aggregator;
    watch?.heard();
    view.term = m.epoch;
    view.peers = m.peers;
    view.aggregator = m.peers[0];
    view.plan = planVoteShards(config.voteShards, m.peers, d);
    // with a record, the record alone says when the session starts (and a new quorum after
    // everyone left); without one, a membership of expectedPeers does
    if (link === null && m.peers.length >= config.expectedPeers) view.started = true;
    if (link !== null && link.started()) view.started = true;
    worker.newTerm();
    snapshotSource = null;
    assembler.reset();
    endTerm();
    emit({ type: 'term', term: view.term, peers: view.peers, aggregator: view.aggregator, split: view.plan.split, voteShard: talliedBy(view.plan, self) });
    if (view.aggregator !== previous) emit({ type: 'aggregator', term: view.term, aggregator: view.aggregator, previous });
    const shard = view.plan.aggregators.indexOf(self);
    if (shard > 0) shardTally = new ShardTally(ctx, shard, view.plan.ranges[shard], (part) => worker.ownPart(shard, part));
    if (view.aggregator === self) {
      // assigned before it starts: starting may already open a round and cast this peer's ballot
      aggregatorRole = new AggregatorRole(ctx);
      aggregatorRole.start();
    } else {
      outbox.send(view.aggregator, { type: 'status', round: replica.round, hash: replica.hash, oldest: replica.oldestHeld(), started: view.started });
    }
    const pending = laterTerm.splice(0);
    laterTermBytes = 0;
    for (const f of pending) {
      if (f.msg.term === view.term) route(f.from, f.msg, f.size);
      else if (f.msg.term > view.term) {
        laterTerm.push(f);
        laterTermBytes += f.size;
      }
    }
  }

  /** What lives for one term only: the aggregator role and the snapshots sent in the term. */
  function endTerm(): void {
    aggregatorRole?.dispose();
    aggregatorRole = null;
    shardTally?.dispose();
    shardTally = null;
    outbox.newTerm();
  }

  // ======================= snapshots =======================

  function onSync(from: PeerId, msg: SyncMessage): void {
    if (aggregatorRole?.onSync(from)) return;
    if (msg.round === replica.round && msg.hash === replica.hash) return drop('duplicate', from, 'sync request from a peer already in sync');
    outbox.sendSnapshot(from);
  }

  function onSnapshot(from: PeerId, msg: SnapshotMessage): void {
    if (from !== view.aggregator && from !== snapshotSource) return drop('unexpected', from, 'snapshot nobody asked for');
    let state;
    try {
      state = assembler.add(from, msg);
    } catch (e) {
      return drop('bad-payload', from, e instanceof Error ? e.message : String(e));
    }
    if (state === null) return;
    install(state.round, state.x, state.xPrev);
    report.snapshotInstalled();
    snapshotSource = null;
    worker.synced();
    emit({ type: 'resync', round: replica.round, from, hash: replica.hash });
    if (replica.round >= config.rounds) report.lastRound();
    if (view.aggregator === self) {
      aggregatorRole?.onSnapshotInstalled();
      return;
    }
    if (from === view.aggregator) worker.vote(replica.round);
  }

  const peer: SessionPeer = {
    self,
    state: () => ({
      round: replica.round,
      term: view.term,
      role: roleNow(),
      aggregator: view.aggregator,
      hash: replica.hash,
      x: replica.x,
      xPrev: replica.xPrev,
      momentum: memory.momentum,
    }),
    stats: () => report.stats(),
    finished: report.finished,
    saveCheckpoint: () => report.saveNow(),
    flushed: (timeoutMs) =>
      new Promise<boolean>((resolve) => {
        const timer = clock.setTimeout(() => resolve(false), timeoutMs);
        void outbox.flushed().then(() => {
          clock.clearTimeout(timer);
          resolve(true);
        });
      }),
    async stop() {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      unsubscribeRecord?.();
      watch?.stop();
      endTerm();
    },
  };
  return peer;
}
