import { decodeBallot, decodeUpdate, encodeBallot, encodeUpdate } from '../optim/codec';
import type { Ballot, Strategy, TrustedBallot, WorkerState } from '../optim/strategy';
import {
  countBits,
  decodeMessage,
  encodeMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  type BallotMessage,
  type FetchMessage,
  type Message,
  type OpenMessage,
  type SnapshotMessage,
  type StatusMessage,
  type SyncMessage,
  type VerdictMessage,
} from '../protocol/messages';
import { createRng, restoreRng, type Rng } from '../random';
import type { Membership, PeerId, Transport } from '../transport/transport';
import type { Checkpoint, CheckpointStore } from './checkpoint';
import type { SessionConfig } from '../config';
import type { DropReason, Role, SessionEvent } from './events';
import { hashPair, hashParams } from './hash';
import { SnapshotAssembler, snapshotPieces } from './snapshot';

/**
 * The round state machine: the one place where rounds are decided (docs/session.md).
 *
 * Election: term = membership epoch, aggregator = first peer of the epoch in join order. Every
 * peer computes it from the same epoch, so one term never has two aggregators; messages carry
 * their term and a peer drops any older term, so a deposed aggregator cannot be obeyed by a peer
 * that has seen the new epoch. A new aggregator that is behind catches up (verdicts or a
 * snapshot from the most advanced peer) before it opens a round, so "holds current parameters"
 * is established by the reconcile step instead of being a precondition of the election.
 */

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Per-round gradient hook: a gradient at `at` (optionally with the batch loss, for events). */
export type SessionGradient = (
  at: Float32Array,
  round: number,
) => Promise<Float32Array | { readonly grad: Float32Array; readonly loss: number }>;

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
  readonly data?: { state(): Uint8Array; restore(state: Uint8Array): void };
  /** how many applied verdicts each peer keeps for failover replays (default 16) */
  readonly keepVerdicts?: number;
}

export interface SessionStats {
  readonly dropped: Readonly<Partial<Record<DropReason, number>>>;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly messagesUp: number;
  readonly messagesDown: number;
  readonly snapshotsSent: number;
  readonly snapshotsInstalled: number;
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
  /** resolves when the last round (config.rounds) is applied here */
  readonly finished: Promise<{ round: number; hash: string }>;
  stop(): Promise<void>;
}

interface VerdictRecord {
  readonly round: number;
  readonly origin: number;
  readonly base: string;
  readonly hash: string;
  readonly counted: Uint8Array;
  readonly payload: Uint8Array;
  readonly latencies?: readonly number[];
}

/** 'waiting': reconciled, but the session has not started and the quorum is not present */
type Phase = 'idle' | 'gather' | 'catchup' | 'waiting' | 'running' | 'done';

const realClock: Clock = {
  now: () => (typeof performance !== 'undefined' ? performance.now() : Date.now()),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * A member that let this many round deadlines in a row pass without a ballot is not waited for
 * until it sends one again: a hung peer (a tab stopped at a breakpoint, a frozen process) whose
 * WebRTC threads still answer the connection checks would otherwise cost every round a deadline.
 */
const STALL_AFTER = 2;
/** memberships of past terms kept to name the voters of verdicts decided in them */
const KEEP_TERMS = 64;
/** messages of a term this peer has not entered yet, kept until its epoch arrives */
const MAX_FUTURE = 1024;
const MAX_FUTURE_BYTES = 32 * 1024 * 1024;

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
  const keep = options.keepVerdicts ?? 16;
  const maxBytes = 4 * d + 128 * 1024;
  let rng = options.rng ?? createRng(config.seed).fork(`peer:${self}`);
  const workerState: WorkerState = strategy.createWorkerState(d);

  // ---- shared parameters: x^next, x^{next-1} ----
  let x: Float32Array = new Float32Array(options.params);
  let xPrev: Float32Array = new Float32Array(options.params);
  let next = 0;
  let hash = hashParams(x);
  let spare: Float32Array | null = null;
  const log = new Map<number, VerdictRecord>();

  // ---- membership / term ----
  let term = 0;
  let peers: readonly PeerId[] = [];
  let aggregator: PeerId | null = null;
  const termPeers = new Map<number, readonly PeerId[]>();
  /**
   * Whether this peer has seen the live session start: a membership of `expectedPeers`, an
   * `open` or a fresh verdict from an aggregator, or a status saying so. Never taken from a
   * checkpoint or a snapshot: a session resumed after every peer stopped waits for its quorum
   * again, while a running one goes on when peers leave (docs/session.md, "Starting").
   */
  let started = false;
  let stopped = false;
  let finishedFired = false;
  const future: { from: PeerId; msg: Message; size: number }[] = [];
  let futureBytes = 0;
  const assembler = new SnapshotAssembler(d);
  let snapshotFrom: PeerId | null = null;

  // ---- worker ----
  let voting: { term: number; round: number } | null = null;
  let sent: { term: number; round: number } | null = null;
  let cache: { round: number; hash: string; payload: Uint8Array; loss: number } | null = null;
  let working = false;
  let inflight = 0;
  let syncAsked: { term: number; round: number; hash: string } | null = null;

  // ---- aggregator (valid while aggregator === self) ----
  let phase: Phase = 'idle';
  const statuses = new Map<PeerId, { round: number; hash: string; oldest: number }>();
  let gatherTimer: unknown = null;
  let roundTimer: unknown = null;
  let open = -1;
  let openedAt = 0;
  let ballots = new Map<PeerId, TrustedBallot>();
  /** ms from the open round's opening to each accepted ballot */
  let arrivals = new Map<PeerId, number>();
  let syncing = new Set<PeerId>();
  /** deadlines in a row each member let pass without a ballot (any ballot of theirs resets it) */
  const missed = new Map<PeerId, number>();
  let catchupFrom: PeerId | null = null;
  let catchupTimer: unknown = null;
  const snapshotSentAt = new Map<PeerId, string>();

  // ---- accounting ----
  const dropped: Partial<Record<DropReason, number>> = {};
  let bytesUp = 0, bytesDown = 0, messagesUp = 0, messagesDown = 0, snapshotsSent = 0, snapshotsInstalled = 0;
  let roundUp = 0, roundDown = 0;
  let lastRoundAt = clock.now();
  let evalChain: Promise<void> | null = null;

  let resolveFinished: (v: { round: number; hash: string }) => void = () => {};
  const finished = new Promise<{ round: number; hash: string }>((r) => (resolveFinished = r));

  const drop = (reason: DropReason, from: PeerId, detail: string): void => {
    dropped[reason] = (dropped[reason] ?? 0) + 1;
    emit({ type: 'drop', reason, from, detail });
  };
  const fail = (where: string, e: unknown): void => {
    emit({ type: 'error', error: `${where}: ${e instanceof Error ? e.message : String(e)}` });
  };

  const encode = (msg: Message): Uint8Array | null => {
    try {
      return encodeMessage(msg);
    } catch (e) {
      fail(`encoding ${msg.type}`, e);
      return null;
    }
  };
  const sendBytes = (to: PeerId, bytes: Uint8Array): void => {
    bytesUp += bytes.byteLength;
    roundUp += bytes.byteLength;
    messagesUp++;
    // a peer that left mid-send is the membership's business, not an error of this round
    transport.send(to, bytes).catch(() => {});
  };
  const send = (to: PeerId, msg: Message): void => {
    if (stopped) return;
    const bytes = encode(msg);
    if (bytes !== null) sendBytes(to, bytes);
  };
  /** one message to every other member: encoded once, the same bytes to each (receivers only read them) */
  const broadcast = (msg: Message): void => {
    if (stopped || peers.length < 2) return;
    const bytes = encode(msg);
    if (bytes === null) return;
    for (const p of peers) if (p !== self) sendBytes(p, bytes);
  };
  const header = { v: PROTOCOL_VERSION, session } as const;

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
      if (!stopped && peers.includes(peer)) transport.reportUnreachable?.(peer);
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
    // this peer's own memory; one of another algorithm (none, or another kind) is ignored
    if (cp.memory?.momentum && workerState.momentum) workerState.momentum.set(cp.memory.momentum);
    if (cp.memory?.error && workerState.error) workerState.error.set(cp.memory.error);
    if (cp.memory?.coins) rng = restoreRng(cp.memory.coins);
    if (cp.memory?.data && options.data) {
      try {
        options.data.restore(cp.memory.data);
      } catch (e) {
        // the parameters and memory are restored; only the batches will differ from a run that never stopped
        fail('restoring the data position', e);
      }
    }
  }

  function guard(where: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      fail(where, e);
    }
  }

  function onBytes(from: PeerId, bytes: Uint8Array): void {
    if (stopped) return;
    bytesDown += bytes.byteLength;
    roundDown += bytes.byteLength;
    messagesDown++;
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

  function route(from: PeerId, msg: Message, size: number): void {
    if (msg.term < term) {
      drop('stale-term', from, `${msg.type} of term ${msg.term} in term ${term}`);
      return;
    }
    if (msg.term > term) {
      // the sender saw the next epoch first (signaling and data channels are separate paths)
      if (future.length >= MAX_FUTURE || futureBytes + size > MAX_FUTURE_BYTES) {
        drop('future-overflow', from, `${msg.type} of term ${msg.term}`);
      } else {
        future.push({ from, msg, size });
        futureBytes += size;
      }
      return;
    }
    if (!peers.includes(from)) {
      drop('not-member', from, `${msg.type} from a peer outside term ${term}`);
      return;
    }
    guard(`handling ${msg.type} from ${from}`, () => {
      switch (msg.type) {
        case 'ballot':
          return onBallot(from, msg);
        case 'verdict':
          return onVerdict(from, msg);
        case 'open':
          return onOpen(from, msg);
        case 'status':
          return onStatus(from, msg);
        case 'fetch':
          return onFetch(from, msg);
        case 'sync':
          return onSync(from, msg);
        case 'snapshot':
          return onSnapshot(from, msg);
        default: {
          const _exhaustive: never = msg;
          return _exhaustive;
        }
      }
    });
  }

  // ======================= membership and terms =======================

  function onMembership(m: Membership): void {
    if (stopped || m.epoch <= term) return;
    termPeers.set(m.epoch, m.peers);
    for (const t of termPeers.keys()) if (termPeers.size > KEEP_TERMS) termPeers.delete(t);
    if (!m.peers.includes(self)) {
      // dropped from the session (reported unreachable): stay silent until readmitted
      term = m.epoch;
      peers = m.peers;
      leaveAggregatorRole();
      return;
    }
    const previous = aggregator;
    term = m.epoch;
    peers = m.peers;
    aggregator = m.peers[0];
    if (m.peers.length >= config.expectedPeers) started = true;
    voting = null;
    syncAsked = null;
    snapshotFrom = null;
    assembler.reset();
    leaveAggregatorRole();
    emit({ type: 'term', term, peers, aggregator });
    if (aggregator !== previous) emit({ type: 'aggregator', term, aggregator, previous });
    if (aggregator === self) beginGather();
    else send(aggregator, { ...header, type: 'status', term, round: next, hash, oldest: oldestHeld(), started });
    const pending = future.splice(0);
    futureBytes = 0;
    for (const f of pending) {
      if (f.msg.term === term) route(f.from, f.msg, f.size);
      else if (f.msg.term > term) {
        future.push(f);
        futureBytes += f.size;
      }
    }
  }

  function leaveAggregatorRole(): void {
    phase = 'idle';
    statuses.clear();
    ballots = new Map();
    arrivals = new Map();
    syncing = new Set();
    missed.clear();
    open = -1;
    catchupFrom = null;
    snapshotSentAt.clear();
    for (const t of [gatherTimer, roundTimer, catchupTimer]) if (t !== null) clock.clearTimeout(t);
    gatherTimer = roundTimer = catchupTimer = null;
  }

  function oldestHeld(): number {
    let r = next;
    while (r > 0 && log.has(r - 1)) r--;
    return r;
  }

  // ======================= aggregator: reconcile a new term =======================

  function beginGather(): void {
    phase = 'gather';
    statuses.set(self, { round: next, hash, oldest: oldestHeld() });
    const t = term;
    gatherTimer = clock.setTimeout(() => {
      gatherTimer = null;
      if (term === t && phase === 'gather') guard('reconcile', reconcile);
    }, config.deadlineMs);
    maybeReconcile();
  }

  function onStatus(from: PeerId, msg: StatusMessage): void {
    if (aggregator !== self) return drop('not-aggregator', from, 'status sent to a worker');
    statuses.set(from, { round: msg.round, hash: msg.hash, oldest: msg.oldest });
    if (msg.started === true) started = true;
    if (phase === 'gather') maybeReconcile();
    else if (phase === 'running' || phase === 'waiting' || phase === 'done') bringUp(from, msg.round, msg.hash);
    // a status that arrived after the gather deadline can be what says the session runs
    if (phase === 'waiting' && started) openRound(next, true);
  }

  function maybeReconcile(): void {
    if (peers.every((p) => statuses.has(p))) reconcile();
  }

  /** The most advanced state wins; among peers at that round, the hash most of them hold. */
  function reconcile(): void {
    if (phase !== 'gather') return;
    if (gatherTimer !== null) clock.clearTimeout(gatherTimer);
    gatherTimer = null;
    let top = -1;
    for (const s of statuses.values()) top = Math.max(top, s.round);
    const votes = new Map<string, PeerId[]>();
    for (const p of peers) {
      const s = statuses.get(p);
      if (s && s.round === top) votes.set(s.hash, [...(votes.get(s.hash) ?? []), p]);
    }
    let bestHash = '', holders: PeerId[] = [];
    for (const [h, ps] of votes) if (ps.length > holders.length) [bestHash, holders] = [h, ps];
    if (next === top && hash === bestHash) return distribute();
    // behind (or diverged): catch up from the earliest-joined holder of the winning state
    const source = holders[0];
    const s = statuses.get(source)!;
    phase = 'catchup';
    catchupFrom = source;
    snapshotFrom = source;
    if (next < top && s.oldest <= next) {
      send(source, { ...header, type: 'fetch', term, from: next, to: top });
    } else {
      requestSnapshot(source);
    }
    const t = term;
    catchupTimer = clock.setTimeout(() => {
      catchupTimer = null;
      // the source did not deliver in time: fall back to a full snapshot
      if (term === t && phase === 'catchup' && catchupFrom !== null) requestSnapshot(catchupFrom);
    }, config.deadlineMs);
  }

  function requestSnapshot(from: PeerId): void {
    snapshotFrom = from;
    send(from, { ...header, type: 'sync', term, round: next, hash });
  }

  function caughtUp(): void {
    if (phase !== 'catchup') return;
    if (catchupTimer !== null) clock.clearTimeout(catchupTimer);
    catchupTimer = null;
    catchupFrom = null;
    distribute();
  }

  /** We hold the winning state: bring every peer to it, then open the next round. */
  function distribute(): void {
    statuses.set(self, { round: next, hash, oldest: oldestHeld() });
    for (const p of peers) {
      if (p === self) continue;
      const s = statuses.get(p);
      if (s) bringUp(p, s.round, s.hash, false);
    }
    if (next >= config.rounds) {
      phase = 'done';
      return;
    }
    if (!started) {
      // reconciled (everyone present holds the newest state) but no rounds before the quorum
      phase = 'waiting';
      open = -1;
      emit({ type: 'waiting', term, have: peers.length, need: config.expectedPeers });
      return;
    }
    openRound(next, true);
  }

  /** Send a behind peer the verdicts it lacks, or a snapshot; then (optionally) the open round. */
  function bringUp(p: PeerId, round: number, peerHash: string, announce = true): void {
    if (round === next && peerHash === hash) {
      // in sync
    } else if (round < next && canReplay(round, peerHash)) {
      for (let r = round; r < next; r++) send(p, verdictMessage(log.get(r)!));
    } else {
      sendSnapshot(p);
      syncing.add(p);
    }
    if (announce && phase === 'running' && open >= 0) send(p, { ...header, type: 'open', term, round: open, hash });
  }

  function canReplay(round: number, peerHash: string): boolean {
    for (let r = round; r < next; r++) if (!log.has(r)) return false;
    return log.get(round)!.base === peerHash;
  }

  /** a verdict as replayed from the log: with the hash its result has here */
  function verdictMessage(rec: VerdictRecord): VerdictMessage {
    return { ...freshVerdict(rec), hash: rec.hash };
  }

  function freshVerdict(rec: Omit<VerdictRecord, 'hash'>): VerdictMessage {
    const msg: VerdictMessage = { ...header, type: 'verdict', term, round: rec.round, origin: rec.origin, base: rec.base, counted: rec.counted, payload: rec.payload };
    return rec.latencies === undefined ? msg : { ...msg, latencies: rec.latencies };
  }

  function sendSnapshot(to: PeerId): void {
    const key = `${term}/${next}/${hash}`;
    if (snapshotSentAt.get(to) === key) return;
    snapshotSentAt.set(to, key);
    snapshotsSent++;
    for (const piece of snapshotPieces({ round: next, x, xPrev })) {
      const msg: SnapshotMessage = { ...header, type: 'snapshot', term, ...piece };
      send(to, msg);
    }
  }

  // ======================= aggregator: rounds =======================

  function openRound(round: number, announce: boolean): void {
    phase = 'running';
    open = round;
    openedAt = clock.now();
    ballots = new Map();
    arrivals = new Map();
    // a peer sent a snapshot while reconciling is not waited for in the term's first round (its
    // ballot still counts if it makes it); after that every member is expected again
    if (!announce) syncing = new Set();
    if (announce) broadcast({ ...header, type: 'open', term, round, hash });
    lastRoundAt = clock.now();
    armDeadline(round);
    setVoting(round);
  }

  function armDeadline(round: number): void {
    if (roundTimer !== null) clock.clearTimeout(roundTimer);
    const t = term;
    roundTimer = clock.setTimeout(() => {
      roundTimer = null;
      if (term !== t || phase !== 'running' || open !== round) return;
      // nothing arrived at all: keep waiting rather than apply an empty verdict
      if (ballots.size === 0) return armDeadline(round);
      for (const p of peers) if (p !== self && !ballots.has(p) && !syncing.has(p)) missed.set(p, (missed.get(p) ?? 0) + 1);
      guard('closing round', () => closeRound(round));
    }, config.deadlineMs);
  }

  function onBallot(from: PeerId, msg: BallotMessage): void {
    if (aggregator !== self) return drop('not-aggregator', from, 'ballot sent to a worker');
    acceptBallot(from, msg.round, msg.hash, msg.payload);
  }

  function acceptBallot(from: PeerId, round: number, ballotHash: string, payload: Uint8Array): void {
    // alive, even if too late for this round: wait for it again
    missed.delete(from);
    if (phase !== 'running' || round !== open) {
      return drop('stale-round', from, `ballot for round ${round}, open round is ${open}`);
    }
    if (ballots.has(from)) return drop('duplicate', from, `second ballot for round ${round}`);
    if (ballotHash !== hash) {
      drop('hash-mismatch', from, `ballot at parameters ${ballotHash}, round ${round} is at ${hash}`);
      sendSnapshot(from);
      syncing.add(from);
      return maybeClose();
    }
    let ballot: TrustedBallot;
    try {
      ballot = decodeBallot(payload, d, strategy.ballotKind);
    } catch (e) {
      return drop('bad-payload', from, e instanceof Error ? e.message : String(e));
    }
    syncing.delete(from);
    ballots.set(from, ballot);
    arrivals.set(from, Math.min(0xffffffff, Math.max(0, Math.round(clock.now() - openedAt))));
    maybeClose();
  }

  function maybeClose(): void {
    if (phase !== 'running' || open < 0) return;
    for (const p of peers) if (!ballots.has(p) && !syncing.has(p) && (missed.get(p) ?? 0) < STALL_AFTER) return;
    if (ballots.size > 0) closeRound(open);
  }

  function closeRound(round: number): void {
    if (roundTimer !== null) clock.clearTimeout(roundTimer);
    roundTimer = null;
    // join order, so the tally (and a float mean) does not depend on arrival order
    const voters = peers.filter((p) => ballots.has(p));
    const absent = peers.filter((p) => !ballots.has(p));
    const update = strategy.aggregate({ ballots: voters.map((p) => ballots.get(p)!), voters, absent }, d, round);
    const payload = encodeUpdate(update, d);
    const counted = new Uint8Array(Math.ceil(peers.length / 8));
    peers.forEach((p, i) => {
      if (ballots.has(p)) counted[i >> 3] |= 1 << (i & 7);
    });
    const latencies = voters.map((p) => arrivals.get(p) ?? 0);
    const base = hash;
    // the workers are waiting: send first, apply and hash after (the result is checked against
    // their next ballots, which carry the hash they got)
    broadcast(freshVerdict({ round, origin: term, base, counted, payload, latencies }));
    applyUpdate(round, decodeUpdate(payload, d));
    const rec: VerdictRecord = { round, origin: term, base, hash, counted, payload, latencies };
    remember(rec);
    phase = 'idle';
    open = -1;
    afterApply(rec, term);
    if (next >= config.rounds) phase = 'done';
    else openRound(next, false);
  }

  // ======================= worker =======================

  function onOpen(from: PeerId, msg: OpenMessage): void {
    if (from !== aggregator) return drop('not-aggregator', from, 'open from a peer that does not lead this term');
    // an aggregator opens rounds only in a started session
    started = true;
    if (msg.round === next && msg.hash === hash) return setVoting(msg.round);
    // behind, ahead or diverged: the aggregator's state is the session's
    askSync(msg.round, msg.hash);
  }

  function askSync(round: number, theirHash: string): void {
    if (aggregator === null || aggregator === self) return;
    if (syncAsked && syncAsked.term === term && syncAsked.round === round && syncAsked.hash === theirHash) return;
    syncAsked = { term, round, hash: theirHash };
    snapshotFrom = aggregator;
    send(aggregator, { ...header, type: 'sync', term, round: next, hash });
  }

  function onVerdict(from: PeerId, msg: VerdictMessage): void {
    const fromLeader = from === aggregator;
    const fromSource = aggregator === self && phase === 'catchup' && from === catchupFrom;
    if (!fromLeader && !fromSource) return drop('not-aggregator', from, 'verdict from a peer that does not lead this term');
    // decided in this very term: the session runs (replays of older terms prove nothing)
    if (fromLeader && msg.origin === term) started = true;
    if (msg.round < next) return drop('duplicate', from, `verdict ${msg.round} already applied`);
    if (msg.round > next || msg.base !== hash) {
      if (fromSource) requestSnapshot(from);
      else askSync(msg.round, msg.base);
      return drop('hash-mismatch', from, `verdict ${msg.round} on ${msg.base}, this peer is at round ${next} with ${hash}`);
    }
    let update;
    try {
      update = decodeUpdate(msg.payload, d, strategy.updateKind);
    } catch (e) {
      return drop('bad-payload', from, e instanceof Error ? e.message : String(e));
    }
    applyUpdate(msg.round, update);
    const rec: VerdictRecord = {
      round: msg.round,
      origin: msg.origin,
      base: msg.base,
      hash,
      counted: msg.counted,
      payload: msg.payload,
      ...(msg.latencies !== undefined ? { latencies: msg.latencies } : {}),
    };
    remember(rec);
    // a replay says what its result hashes to; a fresh verdict's result is checked by the
    // aggregator against this peer's next ballot
    const diverged = msg.hash !== undefined && hash !== msg.hash;
    if (diverged) {
      // applied the same update to the same hash and got different bits: our buffer was damaged
      if (fromSource) requestSnapshot(from);
      else askSync(next, msg.hash);
    }
    afterApply(rec, msg.origin);
    if (diverged) return;
    if (fromSource) {
      const top = statuses.get(from)?.round ?? next;
      if (next >= top) caughtUp();
    } else if (next < config.rounds) {
      setVoting(next);
    }
  }

  function onFetch(from: PeerId, msg: FetchMessage): void {
    if (from !== aggregator) return drop('not-aggregator', from, 'fetch from a peer that does not lead this term');
    for (let r = msg.from; r < Math.min(msg.to, next); r++) {
      const rec = log.get(r);
      if (!rec) {
        sendSnapshot(from);
        return;
      }
      send(from, verdictMessage(rec));
    }
  }

  function onSync(from: PeerId, msg: SyncMessage): void {
    if (aggregator === self) {
      syncing.add(from);
      if (open >= 0) {
        sendSnapshot(from);
        send(from, { ...header, type: 'open', term, round: open, hash });
        return;
      }
    }
    if (msg.round === next && msg.hash === hash) return drop('duplicate', from, 'sync request from a peer already in sync');
    sendSnapshot(from);
  }

  function onSnapshot(from: PeerId, msg: SnapshotMessage): void {
    if (from !== aggregator && from !== snapshotFrom) return drop('unexpected', from, 'snapshot nobody asked for');
    let state;
    try {
      state = assembler.add(from, msg);
    } catch (e) {
      return drop('bad-payload', from, e instanceof Error ? e.message : String(e));
    }
    if (state === null) return;
    install(state.round, state.x, state.xPrev);
    snapshotsInstalled++;
    snapshotFrom = null;
    syncAsked = null;
    emit({ type: 'resync', round: next, from, hash });
    if (next >= config.rounds) finish();
    if (aggregator === self) {
      if (phase === 'catchup') caughtUp();
      return;
    }
    if (from === aggregator) setVoting(next);
  }

  function install(round: number, nx: Float32Array, nxPrev: Float32Array): void {
    x = new Float32Array(nx);
    xPrev = new Float32Array(nxPrev);
    spare = null;
    next = round;
    hash = hashParams(x);
    log.clear();
    cache = null;
  }

  function setVoting(round: number): void {
    if (round !== next || next >= config.rounds) return;
    voting = { term, round };
    void workLoop();
  }

  /** One workerStep at a time: the worker's memory (momentum) must see rounds in order. */
  async function workLoop(): Promise<void> {
    if (working) return;
    working = true;
    try {
      while (!stopped && voting !== null && voting.term === term && voting.round === next) {
        if (cache !== null && cache.round === next && cache.hash === hash) {
          const before = next;
          // may close the round right here when this peer leads and votes last
          sendBallot();
          if (next === before) break;
          continue;
        }
        const round = next, at = hash;
        let lossSum = 0, lossCount = 0;
        inflight++;
        let ballot: Ballot;
        try {
          ballot = await strategy.workerStep(
            {
              x,
              xPrev,
              round,
              rng,
              gradient: async (point) => {
                const r = await options.gradient(point, round);
                if (r instanceof Float32Array) return r;
                lossSum += r.loss;
                lossCount++;
                return r.grad;
              },
            },
            workerState,
          );
        } finally {
          inflight--;
        }
        cache = { round, hash: at, payload: encodeBallot(ballot, d), loss: lossCount > 0 ? lossSum / lossCount : NaN };
      }
    } catch (e) {
      fail('worker step', e);
    } finally {
      working = false;
    }
  }

  function sendBallot(): void {
    if (voting === null || cache === null || aggregator === null) return;
    if (sent !== null && sent.term === voting.term && sent.round === voting.round) return;
    sent = { ...voting };
    if (aggregator === self) acceptBallot(self, cache.round, cache.hash, cache.payload);
    else send(aggregator, { ...header, type: 'ballot', term, round: cache.round, hash: cache.hash, payload: cache.payload });
  }

  // ======================= applying =======================

  function applyUpdate(round: number, update: ReturnType<typeof decodeUpdate>): void {
    // never write into a buffer an in-flight workerStep may still be reading (a straggler)
    const nx = inflight === 0 && spare !== null ? spare : new Float32Array(d);
    nx.set(x);
    strategy.apply(nx, update, round);
    spare = inflight === 0 ? xPrev : null;
    xPrev = x;
    x = nx;
    next = round + 1;
    hash = hashParams(x);
  }

  function remember(rec: VerdictRecord): void {
    log.set(rec.round, rec);
    for (const r of log.keys()) if (r < rec.round - keep + 1) log.delete(r);
  }

  function afterApply(rec: VerdictRecord, origin: number): void {
    const now = clock.now();
    const { voters, latencies } = votersOf(rec, origin);
    const ev = {
      type: 'round' as const,
      round: rec.round,
      term,
      role: (aggregator === self ? 'aggregator' : 'worker') as Role,
      loss: cache !== null && cache.round === rec.round ? cache.loss : NaN,
      hash,
      bytesUp: roundUp,
      bytesDown: roundDown,
      ms: now - lastRoundAt,
      counted: countBits(rec.counted),
      mine: voters.includes(self),
      voters,
      latencies,
    };
    roundUp = roundDown = 0;
    lastRoundAt = now;
    if (options.evaluate && config.evalEvery > 0 && next % config.evalEvery === 0) {
      const copy = new Float32Array(x);
      const evaluate = options.evaluate;
      // round events stay in order: later rounds queue behind a pending evaluation
      ordered(() =>
        evaluate(copy).then(
          (r) => emit({ ...ev, loss: r.loss, accuracy: r.accuracy }),
          (e) => {
            emit(ev);
            fail('evaluate', e);
          },
        ),
      );
    } else if (evalChain !== null) {
      ordered(() => emit(ev));
    } else {
      emit(ev);
    }
    if (options.checkpoints && config.checkpointEvery > 0 && next % config.checkpointEvery === 0) {
      const data = options.data?.state();
      const memory = {
        momentum: workerState.momentum?.slice() ?? null,
        error: workerState.error?.slice() ?? null,
        coins: rng.state(),
        ...(data ? { data } : {}),
      };
      const cp: Checkpoint = { session, round: next, x: new Float32Array(x), xPrev: new Float32Array(xPrev), hash: hashPair(x, xPrev), savedAt: Date.now(), memory };
      options.checkpoints.save(cp).catch((e) => fail('saving checkpoint', e));
    }
    if (next >= config.rounds) finish();
  }

  /**
   * Names the counted bits with the membership of the verdict's term. A verdict of a term this
   * peer never saw (it joined later, or the term is older than KEEP_TERMS) has unnamed voters.
   */
  function votersOf(rec: VerdictRecord, origin: number): { voters: PeerId[]; latencies: Record<PeerId, number> } {
    const members = termPeers.get(origin);
    const voters: PeerId[] = [];
    const timed: [PeerId, number][] = [];
    if (members !== undefined) {
      let k = 0;
      for (let i = 0; i < rec.counted.length * 8; i++) {
        if (((rec.counted[i >> 3] >> (i & 7)) & 1) === 0) continue;
        const p = members[i];
        if (p !== undefined) {
          voters.push(p);
          const ms = rec.latencies?.[k];
          if (ms !== undefined) timed.push([p, ms]);
        }
        k++;
      }
    }
    // fromEntries defines own properties: a peer id like "__proto__" stays a plain key
    return { voters, latencies: Object.fromEntries(timed) };
  }

  function ordered(fn: () => Promise<void> | void): void {
    const chain = (evalChain ?? Promise.resolve()).then(fn);
    evalChain = chain;
    void chain.then(() => {
      if (evalChain === chain) evalChain = null;
    });
  }

  function finish(): void {
    if (finishedFired) return;
    finishedFired = true;
    const result = { round: next, hash };
    const done = (): void => {
      emit({ type: 'finished', ...result });
      resolveFinished(result);
    };
    if (evalChain !== null) ordered(done);
    else done();
  }

  return {
    self,
    state: () => ({ round: next, term, role: aggregator === self ? 'aggregator' : 'worker', aggregator, hash, x, xPrev, momentum: workerState.momentum }),
    stats: () => ({ dropped: { ...dropped }, bytesUp, bytesDown, messagesUp, messagesDown, snapshotsSent, snapshotsInstalled }),
    finished,
    async stop() {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      leaveAggregatorRole();
    },
  };
}
