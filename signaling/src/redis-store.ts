import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RecordError, RecordLedger, describeIssues, parseSessionConfig } from '@signvote/core';
import type { LedgerState, SessionConfig, SessionRecordView } from '@signvote/core';
import type { ModelStoreLimits } from './model-files';
import { connectRedis, openRedis } from './redis-connect';
import { RedisHealth } from './redis-health';
import { RedisModelFiles } from './redis-model-files';
import { storedSessionSchema, type StoredSession } from './redis-schema';
import { RegistryError, SessionRegistry, type RegistryLimits, type Seat, type SignalingSession } from './sessions';
import type { SessionStore } from './store';

/**
 * Sessions in Redis (docs/signaling.md, "Several servers on one Redis"), so any number of server
 * processes serve the same sessions. Keys, under a prefix (default `signvote:`):
 *
 * - `session:ID`: the session as JSON (config, token and creator-key hashes, seats, join
 *   sequence, epoch, unreachable reports, the record's ledger without the snapshot's bytes);
 *   changed only in WATCH/MULTI transactions, retried when another process changed it first, so
 *   join sequence numbers and epochs stay one sequence across processes;
 * - `snapshot:ID`: the stored snapshot's bytes;
 * - `sessions` (set of ids), `listed` (hash id -> token);
 * - `server:SID`: a live server process's heartbeat (expires `heartbeatTtlMs` after its last
 *   beat), `servers` (set), `seats:SID` (set of `ID/PEER` it holds);
 * - `model:SHA`, ...: uploaded model files (redis-model-files.ts).
 *
 * A server process that dies leaves its peers' seats behind. Its peers resume them through another
 * process (same id, shard and join sequence, no new epoch); the seats nobody resumed within
 * `resumeGraceMs` after its heartbeat expired are freed by whichever process notices first
 * (`reapDeadServers`), which then publishes the new epoch.
 */

export interface RedisStoreOptions {
  /** redis://, rediss:// or redis+sentinel:// (redis-url.ts); a bad one throws RedisUrlError */
  url: string;
  limits: RegistryLimits;
  /** key prefix (tests give each run its own) */
  prefix?: string;
  /** a dead server's seats are kept this long for their peers to resume (default 20 s) */
  resumeGraceMs?: number;
  /** a server that has not beaten this long is dead (default 10 s; it beats every third of it) */
  heartbeatTtlMs?: number;
  now?: () => number;
  /**
   * where losing and regaining Redis is told, one line each (redis-health.ts), and errors that are
   * not about reaching it; default: nowhere
   */
  log?: Logger;
}

/** transactions that lost to another process this many times in a row give up */
const MAX_RETRIES = 50;

export class RedisStore implements SessionStore {
  readonly kind = 'redis';
  readonly serverId = randomBytes(6).toString('base64url');
  private readonly redis: Redis;
  /** WATCH holds per connection: transactions of this process take turns on their own connection */
  private readonly tx: Redis;
  private txQueue: Promise<unknown> = Promise.resolve();
  private readonly prefix: string;
  private readonly registry: SessionRegistry;
  private readonly now: () => number;
  private readonly graceMs: number;
  private readonly heartbeatTtlMs: number;
  private heartbeat: ReturnType<typeof setInterval> | undefined;

  private constructor(private readonly options: RedisStoreOptions) {
    this.prefix = options.prefix ?? 'signvote:';
    this.now = options.now ?? Date.now;
    this.registry = new SessionRegistry(options.limits, this.now);
    this.graceMs = options.resumeGraceMs ?? 20_000;
    this.heartbeatTtlMs = options.heartbeatTtlMs ?? 10_000;
    this.redis = openRedis(options.url);
    this.tx = this.redis.duplicate();
    this.health = options.log ? new RedisHealth(options.url, options.log) : undefined;
    // a listener keeps ioredis from printing every error itself; connect() reports the first one
    for (const c of [this.redis, this.tx]) c.on('error', () => undefined);
  }

  private readonly health: RedisHealth | undefined;

  /** false while Redis is known to be out of reach (this process's connections are retrying) */
  get reachable(): boolean {
    return this.health?.reachable ?? true;
  }

  /** Connects and starts beating; throws when Redis cannot be reached. */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const store = new RedisStore(options);
    try {
      await connectRedis([store.redis, store.tx], options.url);
    } catch (err) {
      store.redis.disconnect();
      store.tx.disconnect();
      throw err;
    }
    // only now: a Redis that is not there at start is the error thrown above, not a log line
    for (const c of [store.redis, store.tx]) store.health?.watch(c);
    await store.beat();
    store.heartbeat = setInterval(() => void store.beat().catch(() => undefined), Math.max(100, Math.floor(store.heartbeatTtlMs / 3)));
    store.heartbeat.unref();
    return store;
  }

  /** a new connection (connected on first use), watched and closed with the store: the socket.io adapter's, the model files' */
  connection(): Redis {
    const conn = this.redis.duplicate();
    conn.on('error', () => undefined);
    this.health?.watch(conn);
    this.extra.push(conn);
    return conn;
  }
  private readonly extra: Redis[] = [];

  /**
   * Uploaded model files in this Redis, so every server process on it serves them; on a connection
   * of their own, so a 64 MiB file does not hold up sessions' transactions or the adapter's
   * messages. A file stays while a session that names it exists here.
   */
  modelFiles(limits: ModelStoreLimits, log: Logger): RedisModelFiles {
    return new RedisModelFiles(this.connection(), this.prefix, limits, async (id) => (await this.redis.exists(this.key('session', id))) === 1, log, this.now);
  }

  private key(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  /** the URL other machines reach this process at, once it listens (join links name the others) */
  private shareUrl = '';

  private async beat(): Promise<void> {
    await this.redis.multi().set(this.key('server', this.serverId), this.shareUrl, 'PX', this.heartbeatTtlMs).sadd(this.key('servers'), this.serverId).exec();
  }

  /** Tells the other processes where this one is reached (its share URL). */
  async announce(shareUrl: string): Promise<void> {
    this.shareUrl = shareUrl;
    await this.beat();
  }

  /** the share URLs of the live server processes on this Redis and prefix, this one first */
  async servers(): Promise<string[]> {
    const ids = await this.redis.smembers(this.key('servers'));
    const urls = ids.length ? await this.redis.mget(ids.map((id) => this.key('server', id))) : [];
    const others = urls.filter((u, i): u is string => typeof u === 'string' && u.length > 0 && ids[i] !== this.serverId && u !== this.shareUrl);
    return [this.shareUrl, ...[...new Set(others)].sort()];
  }

  // ---- (de)serialization: what comes back from Redis is validated like any input ----

  private ledgerOptions(id: string, config: SessionConfig) {
    return {
      session: id,
      rounds: config.rounds,
      expectedPeers: config.expectedPeers,
      checkpointEvery: config.checkpointEvery,
      maxSnapshotBytes: this.options.limits.maxSnapshotBytes,
      now: this.now,
    };
  }

  private encode(s: SignalingSession): string {
    const stored: StoredSession = {
      id: s.id,
      config: s.config,
      createdAt: s.createdAt,
      tokenHash: s.tokenHash.toString('hex'),
      adminHash: s.adminHash.toString('hex'),
      seats: [...s.members.values()],
      nextSeq: s.nextSeq,
      epoch: s.epoch,
      reports: [...s.reports].map(([target, reporters]) => [target, [...reporters]]),
      idleSince: s.idleSince,
      ledger: s.ledger.toState(),
    };
    return JSON.stringify(stored);
  }

  private decode(json: string): SignalingSession {
    let parsed;
    try {
      parsed = storedSessionSchema.safeParse(JSON.parse(json));
    } catch (err) {
      throw new Error(`a session in Redis is not JSON: ${(err as Error).message}`);
    }
    if (!parsed.success) throw new Error(`a session in Redis is malformed: ${describeIssues(parsed.error)}`);
    const d = parsed.data;
    const config = parseSessionConfig(d.config);
    return {
      id: d.id,
      config,
      createdAt: d.createdAt,
      tokenHash: Buffer.from(d.tokenHash, 'hex'),
      adminHash: Buffer.from(d.adminHash, 'hex'),
      members: new Map(d.seats.map((seat): [string, Seat] => [seat.id, seat])),
      nextSeq: d.nextSeq,
      epoch: d.epoch,
      reports: new Map(d.reports.map(([t, r]) => [t, new Set(r)])),
      idleSince: d.idleSince,
      ledger: RecordLedger.fromState(this.ledgerOptions(d.id, config), d.ledger as LedgerState),
    };
  }

  // ---- the store ----

  async create(config: SessionConfig): Promise<{ session: SignalingSession; token: string; admin: string }> {
    // the registry's checks (the per-session cap) and its fresh session, then the global cap here
    const made = this.registry.make(config);
    const sessions = this.key('sessions');
    if ((await this.redis.scard(sessions)) >= this.options.limits.maxSessions) {
      await this.sweep();
      if ((await this.redis.scard(sessions)) >= this.options.limits.maxSessions) {
        throw new RegistryError('too-many-sessions', `the server holds ${this.options.limits.maxSessions} sessions already`);
      }
    }
    const ok = await this.redis.set(this.key('session', made.session.id), this.encode(made.session), 'PX', this.options.limits.idleSessionTtlMs, 'NX');
    if (ok !== 'OK') return this.create(config);
    await this.redis.sadd(sessions, made.session.id);
    return made;
  }

  async get(sessionId: string) {
    const json = await this.redis.get(this.key('session', sessionId));
    return json === null ? undefined : this.decode(json);
  }

  async authorize(sessionId: string, token: string) {
    return SessionRegistry.check(await this.get(sessionId), sessionId, token, 'token');
  }

  async authorizeCreator(sessionId: string, admin: string) {
    return SessionRegistry.check(await this.get(sessionId), sessionId, admin, 'admin');
  }

  update<T>(sessionId: string, change: (session: SignalingSession, registry: SessionRegistry) => T): Promise<T> {
    const run = this.txQueue.then(() => this.transact(sessionId, change));
    this.txQueue = run.catch(() => undefined);
    return run;
  }

  private async transact<T>(sessionId: string, change: (session: SignalingSession, registry: SessionRegistry) => T): Promise<T> {
    const key = this.key('session', sessionId);
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      await this.tx.watch(key);
      const json = await this.tx.get(key);
      if (json === null) {
        await this.tx.unwatch();
        throw new RegistryError('unknown-session', `unknown session ${sessionId}`);
      }
      let session: SignalingSession;
      let result: T;
      const before = new Set<string>();
      try {
        session = this.decode(json);
        for (const id of session.members.keys()) before.add(id);
        result = change(session, this.registry);
      } catch (err) {
        await this.tx.unwatch();
        throw err;
      }
      const m = this.tx.multi().set(key, this.encode(session));
      for (const [id, seat] of session.members) if (seat.server === this.serverId) m.sadd(this.key('seats', this.serverId), `${sessionId}/${id}`);
      for (const id of before) if (!session.members.has(id)) m.srem(this.key('seats', this.serverId), `${sessionId}/${id}`);
      // a decoded ledger holds no snapshot bytes: bytes here are a snapshot this change stored
      const stored = session.ledger.snapshotBytes();
      if (stored !== null) m.set(this.key('snapshot', sessionId), Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength));
      else if (session.ledger.view().snapshot === null) m.del(this.key('snapshot', sessionId));
      const ttl = session.ledger.isFinished ? (this.options.limits.finishedSessionTtlMs ?? this.options.limits.idleSessionTtlMs) : this.options.limits.idleSessionTtlMs;
      // an empty session expires on its own, its snapshot with it; a member keeps it alive
      if (session.members.size === 0) {
        m.pexpire(key, ttl).pexpire(this.key('snapshot', sessionId), ttl);
      } else {
        m.persist(key).persist(this.key('snapshot', sessionId));
      }
      if ((await m.exec()) !== null) return result;
    }
    throw new Error(`session ${sessionId}: ${MAX_RETRIES} transactions in a row lost to other server processes`);
  }

  async storeSnapshot(sessionId: string, bytes: Uint8Array): Promise<SessionRecordView> {
    const cap = this.options.limits.maxSnapshotTotalBytes ?? Infinity;
    const total = await this.snapshotTotal(sessionId);
    if (total + bytes.byteLength > cap) await this.evictIdleSnapshots(total + bytes.byteLength - cap, sessionId);
    const after = await this.snapshotTotal(sessionId);
    if (after + bytes.byteLength > cap) {
      const session = await this.get(sessionId);
      throw new RecordError('snapshot-full', `the server holds ${after} bytes of snapshots (cap ${cap}); try again later`, session?.ledger.view());
    }
    return this.update(sessionId, (session) => session.ledger.storeSnapshot(bytes));
  }

  /** bytes of all stored snapshots but `except`'s (a new one replaces it) */
  private async snapshotTotal(except: string): Promise<number> {
    const ids = (await this.redis.smembers(this.key('sessions'))).filter((id) => id !== except);
    if (ids.length === 0) return 0;
    const p = this.redis.pipeline();
    for (const id of ids) p.strlen(this.key('snapshot', id));
    const sizes = (await p.exec()) ?? [];
    return sizes.reduce((sum, [, n]) => sum + (typeof n === 'number' ? n : 0), 0);
  }

  private async evictIdleSnapshots(needed: number, keep: string): Promise<void> {
    const ids = (await this.redis.smembers(this.key('sessions'))).filter((id) => id !== keep);
    const idle: { id: string; since: number }[] = [];
    for (const id of ids) {
      const s = await this.get(id);
      if (s && s.members.size === 0 && s.ledger.view().snapshot !== null) idle.push({ id, since: s.idleSince ?? 0 });
    }
    idle.sort((a, b) => a.since - b.since);
    let freed = 0;
    for (const { id } of idle) {
      if (freed >= needed) break;
      freed += await this.update(id, (s) => (s.members.size === 0 ? s.ledger.evictSnapshot() : 0)).catch(() => 0);
    }
  }

  async readSnapshot(sessionId: string) {
    const bytes = await this.redis.getBuffer(this.key('snapshot', sessionId));
    return bytes === null ? null : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async list(sessionId: string, token: string) {
    await this.redis.hset(this.key('listed'), sessionId, token);
  }

  async listed() {
    const all = await this.redis.hgetall(this.key('listed'));
    const out = new Map<string, string>();
    for (const [id, token] of Object.entries(all)) {
      if (await this.redis.exists(this.key('session', id))) out.set(id, token);
      else await this.redis.hdel(this.key('listed'), id);
    }
    return out;
  }

  async stats() {
    return { sessions: await this.redis.scard(this.key('sessions')), peers: await this.redis.scard(this.key('seats', this.serverId)) };
  }

  /** Sessions expire by themselves (their key's TTL); this forgets the ids of expired ones. */
  async sweep() {
    const ids = await this.redis.smembers(this.key('sessions'));
    let removed = 0;
    for (const id of ids) {
      if (await this.redis.exists(this.key('session', id))) continue;
      await this.redis.multi().srem(this.key('sessions'), id).hdel(this.key('listed'), id).del(this.key('snapshot', id)).exec();
      removed++;
    }
    return removed;
  }

  /**
   * Frees the seats of server processes whose heartbeat expired more than the grace ago and that
   * their peers did not resume elsewhere; returns the sessions whose membership changed (their new
   * epoch must be published).
   */
  async reapDeadServers(): Promise<string[]> {
    const changed = new Set<string>();
    for (const sid of await this.redis.smembers(this.key('servers'))) {
      if (sid === this.serverId || (await this.redis.exists(this.key('server', sid)))) continue;
      const deadKey = this.key('dead', sid);
      await this.redis.set(deadKey, String(this.now()), 'NX');
      const since = Number(await this.redis.get(deadKey));
      if (this.now() - since < this.graceMs) continue;
      for (const seat of await this.redis.smembers(this.key('seats', sid))) {
        const [sessionId, peerId] = seat.split('/');
        const left = await this.update(sessionId, (s, registry) => s.members.get(peerId)?.server === sid && registry.leave(s, peerId)).catch((err: unknown) => {
          if (err instanceof RegistryError) return false;
          throw err;
        });
        if (left) changed.add(sessionId);
      }
      await this.redis.multi().del(this.key('seats', sid)).srem(this.key('servers'), sid).del(deadKey).exec();
    }
    return [...changed];
  }

  /**
   * Stops beating. `handOver`: this process is shutting down and its peers will resume elsewhere,
   * so its heartbeat is removed at once and their grace starts now.
   */
  async close(handOver = true): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.health?.stop();
    try {
      // best effort: when Redis is out of reach (or refuses), the heartbeat expires by itself
      if (handOver && this.reachable) await this.redis.del(this.key('server', this.serverId)).catch(() => undefined);
      await this.txQueue;
    } finally {
      this.redis.disconnect();
      this.tx.disconnect();
      for (const c of this.extra) c.disconnect();
    }
  }
}
