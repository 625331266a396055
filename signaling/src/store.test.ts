import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCheckpoint, hashPair, hashParams, parseSessionConfig, RecordError } from '@signvote/core';
import { RedisStore } from './redis-store';
import { startRedisServer, type RedisServer } from './redis-server';
import { RegistryError } from './sessions';
import { MemoryStore, type SessionStore } from './store';

/**
 * One contract for both stores: what the server does with a session must not depend on where
 * it is kept. The Redis store runs against a real redis-server (Debian's), started on a free port.
 */

const limits = { maxSessions: 4, maxPeersPerSession: 6, idleSessionTtlMs: 60_000, maxSnapshotBytes: 4096, maxSnapshotTotalBytes: 1 << 20 };
const node = { backend: 'node' } as const;
const config = parseSessionConfig({ expectedPeers: 2, rounds: 10, checkpointEvery: 2 });

let redis: RedisServer;
let run = 0;
const opened: SessionStore[] = [];
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
  await redis?.stop();
});

/** `processes` stores on one backend, as separate server processes would hold them */
type Open = (processes: number, options?: { resumeGraceMs?: number; heartbeatTtlMs?: number }) => Promise<SessionStore[]>;
const backends: [string, Open][] = [
  [
    'memory',
    async (n) => {
      const one = new MemoryStore(limits);
      return Array.from({ length: n }, () => one);
    },
  ],
  [
    'redis',
    async (n, options = {}) => {
      const prefix = `test${run++}:`;
      const stores = await Promise.all(Array.from({ length: n }, () => RedisStore.connect({ url: redis.url, limits, prefix, ...options })));
      opened.push(...stores);
      return stores;
    },
  ],
];

const params = (r: number) => Float32Array.from({ length: 8 }, (_, i) => r + i / 8);

describe.each(backends)('session store (%s)', (_kind, open) => {
  it('creates sessions, checks tokens and creator keys with distinct codes, and caps the count', async () => {
    const [store] = await open(1);
    const { session, token, admin } = await store.create(config);
    expect((await store.authorize(session.id, token)).config).toEqual(config);
    await expect(store.authorize(session.id, `${token}x`)).rejects.toMatchObject({ code: 'bad-token' });
    await expect(store.authorize('nosuch', token)).rejects.toMatchObject({ code: 'unknown-session' });
    await expect(store.authorizeCreator(session.id, token)).rejects.toMatchObject({ code: 'not-creator' });
    expect((await store.authorizeCreator(session.id, admin)).id).toBe(session.id);
    await expect(store.create(parseSessionConfig({ expectedPeers: 7 }))).rejects.toMatchObject({ code: 'invalid' });
    for (let i = 1; i < limits.maxSessions; i++) await store.create(config);
    await expect(store.create(config)).rejects.toBeInstanceOf(RegistryError);
    expect((await store.stats()).sessions).toBe(limits.maxSessions);
  });

  it('keeps one join sequence and one epoch sequence when processes join at once', async () => {
    const stores = await open(3);
    const { session } = await stores[0].create(config);
    const joins = await Promise.all(
      Array.from({ length: 6 }, (_, i) => stores[i % 3].update(session.id, (s, registry) => registry.join(s, node, undefined, stores[i % 3].serverId))),
    );
    expect(joins.map((j) => j.seq).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    const now = (await stores[1].get(session.id))!;
    expect(now.epoch).toBe(6);
    expect([...now.members.keys()]).toEqual([...joins].sort((a, b) => a.seq - b.seq).map((j) => j.id));
    // two members were expected: the session started, and the record saw every epoch
    expect(now.ledger.view().status).toBe('running');
    const left = await stores[2].update(session.id, (s, registry) => registry.leave(s, joins[0].id));
    expect(left).toBe(true);
    expect((await stores[0].get(session.id))!.epoch).toBe(7);
  });

  it('resumes a seat with its key: same id, sequence and shard, no new epoch', async () => {
    const [a, b] = await open(2);
    const { session } = await a.create(config);
    const first = await a.update(session.id, (s, r) => r.join(s, node, undefined, a.serverId));
    const second = await a.update(session.id, (s, r) => r.join(s, node, undefined, a.serverId));
    const epoch = (await a.get(session.id))!.epoch;
    const back = await b.update(session.id, (s, r) => r.resume(s, second.id, second.resumeKey, b.serverId));
    expect(back).toEqual({ id: second.id, seq: second.seq, info: node, shard: second.shard });
    const after = (await b.get(session.id))!;
    expect(after.epoch).toBe(epoch);
    expect(after.members.get(second.id)!.server).toBe(b.serverId);
    await expect(b.update(session.id, (s, r) => r.resume(s, first.id, second.resumeKey, b.serverId))).rejects.toMatchObject({ code: 'bad-token' });
    await b.update(session.id, (s, r) => r.leave(s, first.id));
    await expect(b.update(session.id, (s, r) => r.resume(s, first.id, first.resumeKey, b.serverId))).rejects.toMatchObject({ code: 'unknown-peer' });
    // the membership that goes out never carries a seat's key or its server
    const m = await a.update(session.id, (s, r) => r.membership(s));
    expect(Object.keys(m.peers[0]).sort()).toEqual(['id', 'info', 'seq', 'shard']);
  });

  it('applies reports and stores snapshots that any process reads back', async () => {
    const [a, b] = await open(2);
    const { session } = await a.create(config);
    const p = await a.update(session.id, (s, r) => r.join(s, node, undefined, a.serverId));
    await b.update(session.id, (s, r) => r.join(s, node, undefined, b.serverId));
    const term = (await a.get(session.id))!.epoch;
    const at = (r: number) => ({ round: r, hash: hashParams(params(r)) });
    const rec = await b.update(session.id, (s) => s.ledger.report(p.id, { term, from: at(0), to: at(2) }));
    expect(rec).toMatchObject({ round: 2, hash: at(2).hash, status: 'running' });
    // a report from where the record no longer stands is refused, and nothing is written
    await expect(a.update(session.id, (s) => s.ledger.report(p.id, { term, from: at(0), to: at(1) }))).rejects.toBeInstanceOf(RecordError);
    expect((await a.get(session.id))!.ledger.view().round).toBe(2);

    const bytes = encodeCheckpoint({ session: session.id, round: 2, x: params(2), xPrev: params(1), hash: hashPair(params(2), params(1)), savedAt: 1 });
    const stored = await a.storeSnapshot(session.id, bytes);
    expect(stored.snapshot).toMatchObject({ round: 2, hash: at(2).hash });
    const back = await b.readSnapshot(session.id);
    expect(back).not.toBeNull();
    expect(back!.byteLength).toBe(stored.snapshot!.bytes);
    expect((await b.get(session.id))!.ledger.view().snapshot).toEqual(stored.snapshot);
    // over the per-session cap: refused with its code, the stored one kept
    const zeros = new Float32Array(2048);
    const big = encodeCheckpoint({ session: session.id, round: 2, x: zeros, xPrev: zeros, hash: hashPair(zeros, zeros), savedAt: 1 });
    await expect(b.storeSnapshot(session.id, big)).rejects.toMatchObject({ code: 'snapshot-too-large' });
    expect((await a.readSnapshot(session.id))!.byteLength).toBe(stored.snapshot!.bytes);
  });

  it('lists sessions for the home page', async () => {
    const [a, b] = await open(2);
    const { session, token } = await a.create(config);
    await a.list(session.id, token);
    expect(await b.listed()).toEqual(new Map([[session.id, token]]));
  });
});

describe('redis store: a dead server process', () => {
  it('frees the seats nobody resumed once the grace is over, and keeps the resumed ones', async () => {
    const prefix = `dead${run++}:`;
    const options = { url: redis.url, limits, prefix, resumeGraceMs: 300, heartbeatTtlMs: 300 };
    const [dying, alive] = await Promise.all([RedisStore.connect(options), RedisStore.connect(options)]);
    opened.push(alive);
    const { session } = await alive.create(config);
    const stays = await alive.update(session.id, (s, r) => r.join(s, node, undefined, alive.serverId));
    const moves = await dying.update(session.id, (s, r) => r.join(s, node, undefined, dying.serverId));
    const lost = await dying.update(session.id, (s, r) => r.join(s, node, undefined, dying.serverId));
    const epoch = (await alive.get(session.id))!.epoch;
    // as kill -9 would: no heartbeat any more, nothing cleaned up
    await dying.close(false);
    expect(await alive.reapDeadServers()).toEqual([]); // its heartbeat has not expired yet
    await alive.update(session.id, (s, r) => r.resume(s, moves.id, moves.resumeKey, alive.serverId));
    const end = Date.now() + 5000;
    let changed: string[] = [];
    while (changed.length === 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      changed = await alive.reapDeadServers();
    }
    expect(changed).toEqual([session.id]);
    const now = (await alive.get(session.id))!;
    expect([...now.members.keys()]).toEqual([stays.id, moves.id]);
    expect(now.members.has(lost.id)).toBe(false);
    expect(now.epoch).toBe(epoch + 1);
  });
});
