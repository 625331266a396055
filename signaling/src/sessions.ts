import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SessionConfig, Member, MembershipEpoch, PeerInfo } from '@signvote/core';

/**
 * Sessions and their membership: the one source of truth for who is in a session (DESIGN,
 * "Election and failover"). Every change bumps the epoch, and peers keep their join sequence
 * number for life, so every peer derives the same join order from the same epoch.
 */
export interface SignalingSession {
  readonly id: string;
  readonly config: SessionConfig;
  readonly createdAt: number;
  /** sha256 of the token: compared in constant time, never kept in the clear */
  readonly tokenHash: Buffer;
  /** insertion order is join order because seq only grows */
  readonly members: Map<string, Member>;
  nextSeq: number;
  epoch: number;
  /** target -> reporters that said they cannot reach it */
  readonly reports: Map<string, Set<string>>;
  /** when the last member left (or creation time if nobody joined yet) */
  idleSince: number | null;
}

export interface RegistryLimits {
  maxSessions: number;
  maxPeersPerSession: number;
  /** an empty session is forgotten after this long */
  idleSessionTtlMs: number;
}

export class RegistryError extends Error {
  constructor(
    readonly code: 'unknown-session' | 'bad-token' | 'session-full' | 'too-many-sessions' | 'unknown-peer',
    message: string,
  ) {
    super(message);
  }
}

const randomId = (bytes: number): string => randomBytes(bytes).toString('base64url');
const hashToken = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export class SessionRegistry {
  private readonly sessions = new Map<string, SignalingSession>();

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

  create(config: SessionConfig): { session: SignalingSession; token: string } {
    if (this.sessions.size >= this.limits.maxSessions) {
      this.sweep();
      if (this.sessions.size >= this.limits.maxSessions) {
        throw new RegistryError('too-many-sessions', `the server holds ${this.limits.maxSessions} sessions already`);
      }
    }
    let id = randomId(6);
    while (this.sessions.has(id)) id = randomId(6);
    const token = randomId(24);
    const now = this.now();
    const session: SignalingSession = {
      id,
      config,
      createdAt: now,
      tokenHash: hashToken(token),
      members: new Map(),
      nextSeq: 0,
      epoch: 0,
      reports: new Map(),
      idleSince: now,
    };
    this.sessions.set(id, session);
    return { session, token };
  }

  /** The session if it exists and the token matches; the two failures have distinct codes. */
  authorize(sessionId: string, token: string): SignalingSession {
    const session = this.sessions.get(sessionId);
    if (!session) throw new RegistryError('unknown-session', `unknown session ${sessionId}`);
    // Hashing first gives equal-length inputs, so timingSafeEqual leaks neither content nor length.
    if (!timingSafeEqual(hashToken(token), session.tokenHash)) {
      throw new RegistryError('bad-token', `wrong token for session ${sessionId}`);
    }
    return session;
  }

  get(sessionId: string): SignalingSession | undefined {
    return this.sessions.get(sessionId);
  }

  join(session: SignalingSession, info: PeerInfo): Member {
    if (session.members.size >= this.limits.maxPeersPerSession) {
      throw new RegistryError('session-full', `session ${session.id} has ${this.limits.maxPeersPerSession} peers already`);
    }
    let id = randomId(6);
    while (session.members.has(id)) id = randomId(6);
    const member: Member = { id, seq: session.nextSeq++, info };
    session.members.set(id, member);
    session.epoch++;
    session.idleSince = null;
    return member;
  }

  /** Remove a member; true when the membership changed (a new epoch must be published). */
  leave(session: SignalingSession, peerId: string): boolean {
    if (!session.members.delete(peerId)) return false;
    session.reports.delete(peerId);
    for (const reporters of session.reports.values()) reporters.delete(peerId);
    session.epoch++;
    if (session.members.size === 0) session.idleSince = this.now();
    return true;
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
    return { epoch: session.epoch, peers: [...session.members.values()] };
  }

  /** Forget sessions that have been empty longer than the TTL. */
  sweep(): number {
    const now = this.now();
    let removed = 0;
    for (const [id, s] of this.sessions) {
      if (s.members.size === 0 && s.idleSince !== null && now - s.idleSince > this.limits.idleSessionTtlMs) {
        this.sessions.delete(id);
        removed++;
      }
    }
    return removed;
  }
}
