import type { SessionConfig, SessionRecordView } from '@signvote/core';
import { RegistryError, SessionRegistry, type RegistryLimits, type SignalingSession } from './sessions';

/**
 * Where the server keeps its sessions (docs/signaling.md, "Several servers on one Redis"): in this
 * process's memory (the default), or in Redis (redis-store.ts) so any number of server processes
 * serve the same sessions. The rules of a session (join, leave, epochs, the record) are
 * SessionRegistry's in both; a store only decides where the session lives and makes each change
 * atomic.
 */
export interface SessionStore {
  /** 'redis' when sessions are shared with other server processes */
  readonly kind: 'memory' | 'redis';
  /** this process's id in the store ('local' in memory): seats record which process holds a peer */
  readonly serverId: string;
  create(config: SessionConfig): Promise<{ session: SignalingSession; token: string; admin: string }>;
  /** the session now (a copy with Redis: changes go through `update`), or undefined */
  get(sessionId: string): Promise<SignalingSession | undefined>;
  /** throws RegistryError 'unknown-session' or 'bad-token' */
  authorize(sessionId: string, token: string): Promise<SignalingSession>;
  /** throws RegistryError 'unknown-session' or 'not-creator' */
  authorizeCreator(sessionId: string, admin: string): Promise<SignalingSession>;
  /**
   * One atomic change of a session through the registry's rules. With Redis `change` may run more
   * than once (another process changed the session meanwhile), so it must change nothing but the
   * session it is given; what it throws is thrown here and nothing is written.
   * Throws RegistryError 'unknown-session'.
   */
  update<T>(sessionId: string, change: (session: SignalingSession, registry: SessionRegistry) => T): Promise<T>;
  /** as SessionRegistry.storeSnapshot (size caps, eviction of idle sessions' snapshots) */
  storeSnapshot(sessionId: string, bytes: Uint8Array): Promise<SessionRecordView>;
  /** the stored snapshot's bytes, or null */
  readSnapshot(sessionId: string): Promise<Uint8Array | null>;
  /** lists a session on the home page */
  list(sessionId: string, token: string): Promise<void>;
  /** listed sessions still held, id -> token */
  listed(): Promise<Map<string, string>>;
  /** sessions held, and peers in them (with Redis: peers seated through this process) */
  stats(): Promise<{ sessions: number; peers: number }>;
  /** forget sessions empty past their TTL; returns how many */
  sweep(): Promise<number>;
  close(): Promise<void>;
}

/** One process, one map: today's server, unchanged. */
export class MemoryStore implements SessionStore {
  readonly kind = 'memory';
  readonly serverId = 'local';
  readonly registry: SessionRegistry;
  private readonly listedIds = new Map<string, string>();

  constructor(limits: RegistryLimits, now: () => number = Date.now) {
    this.registry = new SessionRegistry(limits, now);
  }

  async create(config: SessionConfig) {
    return this.registry.create(config);
  }

  async get(sessionId: string) {
    return this.registry.get(sessionId);
  }

  async authorize(sessionId: string, token: string) {
    return this.registry.authorize(sessionId, token);
  }

  async authorizeCreator(sessionId: string, admin: string) {
    return this.registry.authorizeCreator(sessionId, admin);
  }

  async update<T>(sessionId: string, change: (session: SignalingSession, registry: SessionRegistry) => T): Promise<T> {
    const session = this.registry.get(sessionId);
    if (!session) throw new RegistryError('unknown-session', `unknown session ${sessionId}`);
    return change(session, this.registry);
  }

  async storeSnapshot(sessionId: string, bytes: Uint8Array) {
    return this.update(sessionId, (session, registry) => registry.storeSnapshot(session, bytes));
  }

  async readSnapshot(sessionId: string) {
    return this.registry.get(sessionId)?.ledger.snapshotBytes() ?? null;
  }

  async list(sessionId: string, token: string) {
    this.listedIds.set(sessionId, token);
  }

  async listed() {
    // the registry forgets idle sessions; so does the list
    for (const id of this.listedIds.keys()) if (!this.registry.get(id)) this.listedIds.delete(id);
    return new Map(this.listedIds);
  }

  async stats() {
    return { sessions: this.registry.size, peers: this.registry.peerCount };
  }

  async sweep() {
    return this.registry.sweep();
  }

  async close() {}
}
