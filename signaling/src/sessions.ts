import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { RecordError, RecordLedger } from '@signvote/core';
import type { SessionConfig, Member, MembershipEpoch, PeerInfo, SessionRecordView } from '@signvote/core';

/**
 * Sessions, their membership and their record: the one source of truth for who is in a session
 * (DESIGN, "Election and failover") and for what it has committed (docs/session.md, "The session
 * record"). Every membership change bumps the epoch, and peers keep their join sequence number for
 * life, so every peer derives the same join order from the same epoch; the ledger sees every
 * epoch, so it knows each term's aggregator.
 */
export interface SignalingSession {
  readonly id: string;
  readonly config: SessionConfig;
  readonly createdAt: number;
  /** sha256 of the token: compared in constant time, never kept in the clear */
  readonly tokenHash: Buffer;
  /** sha256 of the creator's key (starts the session early) */
  readonly adminHash: Buffer;
  /** insertion order is join order because seq only grows; shards live in the ledger */
  readonly members: Map<string, Seat>;
  nextSeq: number;
  epoch: number;
  /** target -> reporters that said they cannot reach it */
  readonly reports: Map<string, Set<string>>;
  /** when the last member left (or creation time if nobody joined yet) */
  idleSince: number | null;
  readonly ledger: RecordLedger;
}

/**
 * A member as the server keeps it: its seat can be taken again by the same peer through another
 * server process (`resume`), with the key its join returned.
 */
export interface Seat extends Omit<Member, 'shard'> {
  /** sha256 (hex) of the key that resumes this membership */
  readonly resumeHash: string;
  /** the server process whose socket holds the peer ('local' without Redis) */
  server: string;
  /**
   * that socket's id: a socket that closes after its peer resumed elsewhere no longer holds the
   * seat, so its disconnect does not take the seat away
   */
  socket: string;
}

export interface RegistryLimits {
  maxSessions: number;
  maxPeersPerSession: number;
  /** an empty session is forgotten after this long */
  idleSessionTtlMs: number;
  /** an empty finished session (its record and final snapshot) is kept this long */
  finishedSessionTtlMs?: number;
  /** one session's stored snapshot, encoded */
  maxSnapshotBytes?: number;
  /** all stored snapshots together */
  maxSnapshotTotalBytes?: number;
}

export class RegistryError extends Error {
  constructor(
    readonly code: 'unknown-session' | 'bad-token' | 'session-full' | 'too-many-sessions' | 'unknown-peer' | 'not-creator' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}

const randomId = (bytes: number): string => randomBytes(bytes).toString('base64url');
const hashToken = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();
// Hashing first gives equal-length inputs, so timingSafeEqual leaks neither content nor length.
const sameSecret = (given: string, hash: Buffer): boolean => timingSafeEqual(hashToken(given), hash);

export class SessionRegistry {
  private readonly sessions = new Map<string, SignalingSession>();
  private snapshotTotal = 0;

  constructor(
    private readonly limits: RegistryLimits,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  get peerCount(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.members.size;
    return n;
  }

  /** bytes of all stored snapshots */
  get snapshotBytes(): number {
    return this.snapshotTotal;
  }

  create(config: SessionConfig): { session: SignalingSession; token: string; admin: string } {
    this.checkConfig(config);
    if (this.sessions.size >= this.limits.maxSessions) {
      this.sweep();
      if (this.sessions.size >= this.limits.maxSessions) {
        throw new RegistryError('too-many-sessions', `the server holds ${this.limits.maxSessions} sessions already`);
      }
    }
    let made = this.make(config);
    while (this.sessions.has(made.session.id)) made = this.make(config);
    this.sessions.set(made.session.id, made.session);
    return made;
  }

  /** A new session that this registry does not hold (a store keeps it elsewhere); throws RegistryError 'invalid'. */
  make(config: SessionConfig): { session: SignalingSession; token: string; admin: string } {
    this.checkConfig(config);
    const id = randomId(6);
    const token = randomId(24);
    const admin = randomId(24);
    const now = this.now();
    const session: SignalingSession = {
      id,
      config,
      createdAt: now,
      tokenHash: hashToken(token),
      adminHash: hashToken(admin),
      members: new Map(),
      nextSeq: 0,
      epoch: 0,
      reports: new Map(),
      idleSince: now,
      ledger: new RecordLedger({
        session: id,
        rounds: config.rounds,
        expectedPeers: config.expectedPeers,
        checkpointEvery: config.checkpointEvery,
        maxSnapshotBytes: this.limits.maxSnapshotBytes,
        now: this.now,
      }),
    };
    return { session, token, admin };
  }

  private checkConfig(config: SessionConfig): void {
    if (config.expectedPeers > this.limits.maxPeersPerSession) {
      throw new RegistryError(
        'invalid',
        `invalid session config: expectedPeers: ${config.expectedPeers} exceeds this server's cap of ${this.limits.maxPeersPerSession} peers per session, so the session could never start`,
      );
    }
  }

  /** `session` if `secret` is its token (or creator key); the failures have distinct codes */
  static check(session: SignalingSession | undefined, sessionId: string, secret: string, kind: 'token' | 'admin'): SignalingSession {
    if (!session) throw new RegistryError('unknown-session', `unknown session ${sessionId}`);
    if (kind === 'token' && !sameSecret(secret, session.tokenHash)) throw new RegistryError('bad-token', `wrong token for session ${sessionId}`);
    if (kind === 'admin' && !sameSecret(secret, session.adminHash)) throw new RegistryError('not-creator', `wrong creator key for session ${sessionId}`);
    return session;
  }

  /** The session if it exists and the token matches; the two failures have distinct codes. */
  authorize(sessionId: string, token: string): SignalingSession {
    return SessionRegistry.check(this.sessions.get(sessionId), sessionId, token, 'token');
  }

  /** The session if `admin` is its creator's key. */
  authorizeCreator(sessionId: string, admin: string): SignalingSession {
    return SessionRegistry.check(this.sessions.get(sessionId), sessionId, admin, 'admin');
  }

  get(sessionId: string): SignalingSession | undefined {
    return this.sessions.get(sessionId);
  }

  /**
   * A new member with its shard (a resumed peer asks for its own). A finished session admits
   * nobody: it is refused with its record, so the joiner learns the final numbers instead.
   */
  join(session: SignalingSession, info: PeerInfo, preferredShard?: number, server = 'local', socket = ''): Member & { resumeKey: string } {
    if (session.ledger.isFinished) {
      const record = session.ledger.view();
      const f = record.finished!;
      const accuracy = record.eval ? ` (test accuracy ${(100 * record.eval.accuracy).toFixed(1)}% after round ${record.eval.round})` : '';
      throw new RecordError(
        'finished',
        `session ${session.id} finished at round ${f.round} with parameters ${f.hash}${accuracy}; nobody trains it again (its final parameters: GET /api/sessions/${session.id}/snapshot)`,
        record,
      );
    }
    if (session.members.size >= this.limits.maxPeersPerSession) {
      throw new RegistryError('session-full', `session ${session.id} has ${this.limits.maxPeersPerSession} peers already`);
    }
    let id = randomId(6);
    while (session.members.has(id)) id = randomId(6);
    const resumeKey = randomId(18);
    const member: Seat = { id, seq: session.nextSeq++, info, resumeHash: hashToken(resumeKey).toString('hex'), server, socket };
    session.members.set(id, member);
    const shard = session.ledger.join(id, preferredShard);
    session.idleSince = null;
    this.bump(session);
    return { id, seq: member.seq, info, shard: session.ledger.shard(id) ?? shard, resumeKey };
  }

  /**
   * A member whose server process went away takes its seat again through `server`: same id, same
   * join sequence and shard, and no new epoch, so training goes on. Refused when the seat is gone
   * (the peer left, was dropped, or its grace ran out) or the key is wrong.
   */
  resume(session: SignalingSession, peerId: string, resumeKey: string, server = 'local', socket = ''): Member {
    const seat = session.members.get(peerId);
    if (!seat) throw new RegistryError('unknown-peer', `peer ${peerId} is no longer a member of session ${session.id}: join as a new peer`);
    if (!timingSafeEqual(hashToken(resumeKey), Buffer.from(seat.resumeHash, 'hex'))) {
      throw new RegistryError('bad-token', `wrong resume key for peer ${peerId}`);
    }
    seat.server = server;
    seat.socket = socket;
    return { id: seat.id, seq: seat.seq, info: seat.info, shard: session.ledger.shard(peerId) ?? 0 };
  }

  /** Remove a member; true when the membership changed (a new epoch must be published). */
  leave(session: SignalingSession, peerId: string): boolean {
    if (!session.members.delete(peerId)) return false;
    session.reports.delete(peerId);
    for (const reporters of session.reports.values()) reporters.delete(peerId);
    session.ledger.leave(peerId);
    if (session.members.size === 0) session.idleSince = this.now();
    this.bump(session);
    return true;
  }

  /** The creator's "start now" (throws RecordError); the caller publishes the new epoch. */
  start(session: SignalingSession): SessionRecordView {
    const record = session.ledger.start();
    // shards were reassigned: a new epoch carries them (and begins a term that sees the start)
    this.bump(session);
    return record;
  }

  /**
   * Store a snapshot (throws RecordError). Over the server-wide cap, snapshots of sessions nobody
   * is in are dropped first, oldest first; if that is not enough the upload is refused.
   */
  storeSnapshot(session: SignalingSession, bytes: Uint8Array): SessionRecordView {
    const cap = this.limits.maxSnapshotTotalBytes ?? Infinity;
    const before = session.ledger.snapshotBytes()?.byteLength ?? 0;
    if (this.snapshotTotal - before + bytes.byteLength > cap) this.evictIdleSnapshots(this.snapshotTotal - before + bytes.byteLength - cap, session);
    if (this.snapshotTotal - before + bytes.byteLength > cap) {
      throw new RecordError('snapshot-full', `the server holds ${this.snapshotTotal} bytes of snapshots (cap ${cap}); try again later`, session.ledger.view());
    }
    const record = session.ledger.storeSnapshot(bytes);
    this.snapshotTotal += (session.ledger.snapshotBytes()?.byteLength ?? 0) - before;
    return record;
  }

  /**
   * Record that `reporter` cannot reach `target`. The target is dropped once a strict majority of
   * the other live members have reported it (with two peers, one report is a majority: there is
   * no third party to break the tie, and a session cannot train across a dead link anyway).
   * Returns true when the target was dropped.
   */
  report(session: SignalingSession, reporter: string, target: string): boolean {
    if (reporter === target) throw new RegistryError('unknown-peer', 'a peer cannot report itself');
    if (!session.members.has(target)) throw new RegistryError('unknown-peer', `peer ${target} is not in session ${session.id}`);
    let reporters = session.reports.get(target);
    if (!reporters) session.reports.set(target, (reporters = new Set()));
    reporters.add(reporter);
    const others = session.members.size - 1;
    let live = 0;
    for (const r of reporters) if (session.members.has(r)) live++;
    if (live * 2 > others) return this.leave(session, target);
    return false;
  }

  membership(session: SignalingSession): MembershipEpoch {
    return {
      epoch: session.epoch,
      peers: [...session.members.values()].map((m) => ({ id: m.id, seq: m.seq, info: m.info, shard: session.ledger.shard(m.id) ?? 0 })),
    };
  }

  /** Forget sessions that have been empty longer than their TTL (longer for finished ones). */
  sweep(): number {
    const now = this.now();
    let removed = 0;
    for (const [id, s] of this.sessions) {
      const ttl = s.ledger.isFinished ? (this.limits.finishedSessionTtlMs ?? this.limits.idleSessionTtlMs) : this.limits.idleSessionTtlMs;
      if (s.members.size === 0 && s.idleSince !== null && now - s.idleSince > ttl) {
        this.snapshotTotal -= s.ledger.evictSnapshot();
        this.sessions.delete(id);
        removed++;
      }
    }
    return removed;
  }

  private bump(session: SignalingSession): void {
    session.epoch++;
    session.ledger.membership(session.epoch, [...session.members.keys()]);
  }

  private evictIdleSnapshots(needed: number, keep: SignalingSession): void {
    const idle = [...this.sessions.values()]
      .filter((s) => s !== keep && s.members.size === 0 && s.ledger.snapshotBytes() !== null)
      .sort((a, b) => (a.idleSince ?? 0) - (b.idleSince ?? 0));
    let freed = 0;
    for (const s of idle) {
      if (freed >= needed) break;
      const n = s.ledger.evictSnapshot();
      freed += n;
      this.snapshotTotal -= n;
    }
  }
}
