import { Redis } from 'ioredis';
import { io } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSignalingClient, type MembershipEpoch, type SignalData, type SignalingClient } from '@signvote/core';
import { startRedisServer, type RedisServer } from './redis-server';
import { createSignalingServer, type SignalingServer } from './server';

/**
 * Two server processes' worth of servers (two createSignalingServer on one real redis-server):
 * rooms, epochs and signals cross between them, and a client whose server closes resumes its seat
 * on the other. The multi-process version with real peers is e2e/p2p/redis.test.ts.
 */

let redis: RedisServer;
let run = 0;
const open: { servers: SignalingServer[]; clients: SignalingClient[] } = { servers: [], clients: [] };
beforeAll(async () => {
  redis = await startRedisServer();
});
afterEach(async () => {
  for (const c of open.clients.splice(0)) c.close();
  await Promise.all(open.servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await redis?.stop();
});

let lastPrefix = '';
async function pair(): Promise<[SignalingServer, SignalingServer]> {
  const redisPrefix = `pair${run++}:`;
  lastPrefix = redisPrefix;
  const [a, b] = await Promise.all([0, 1].map(() => createSignalingServer({ port: 0, logger: false, redis: redis.url, redisPrefix })));
  open.servers.push(a, b);
  return [a, b];
}
function client(urls: string | string[]): SignalingClient {
  const c = createSignalingClient(urls, { transports: ['websocket'], failoverMs: 10_000 });
  open.clients.push(c);
  return c;
}
const until = async (cond: () => boolean, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};
const node = { backend: 'node' } as const;
const offer: SignalData = { type: 'offer', sdp: 'v=0' };

describe('signaling servers on one Redis', () => {
  it('share sessions, epochs and signals between processes', async () => {
    const [a, b] = await pair();
    // created on a, joined on both
    const { id, token } = await client(a.url).createSession({ expectedPeers: 3 });
    const onA = client(a.url);
    const onB = client(b.url);
    const first = await onA.join({ sessionId: id, token, info: node });
    const epochs: MembershipEpoch[] = [];
    onA.subscribe({ membership: (m) => epochs.push(m) });
    const second = await onB.join({ sessionId: id, token, info: node });
    expect(second.membership.peers.map((p) => p.seq)).toEqual([0, 1]);
    await until(() => epochs.length === 1);
    expect(epochs[0]).toEqual(second.membership);
    // a signal from b's socket reaches a's, through the adapter
    const got: [string, SignalData][] = [];
    onA.subscribe({ signal: (from, data) => got.push([from, data]) });
    onB.sendSignal(first.peerId, offer);
    await until(() => got.length === 1);
    expect(got[0]).toEqual([second.peerId, offer]);
    // both servers answer for the session
    const status = (await (await fetch(`${a.url}/api/sessions/${id}?token=${token}`)).json()) as { members: number; epoch: number };
    expect(status).toMatchObject({ members: 2, epoch: 2 });
    expect(await b.members(id)).toBe(2);
    // a leave through one server is an epoch on the other
    onB.close();
    await until(() => epochs.length === 2);
    expect(epochs[1].peers.map((p) => p.id)).toEqual([first.peerId]);
  });

  it('a client whose server goes away resumes its seat on the next: same id, no new epoch, signals flow', async () => {
    const [a, b] = await pair();
    const { id, token } = await client(b.url).createSession({ expectedPeers: 2 });
    const mover = client([a.url, b.url]);
    const stayer = client(b.url);
    const moved = await mover.join({ sessionId: id, token, info: node });
    const stays = await stayer.join({ sessionId: id, token, info: node });
    await until(() => mover.membership?.epoch === stays.membership.epoch);
    const epochs: MembershipEpoch[] = [];
    stayer.subscribe({ membership: (m) => epochs.push(m) });
    const disconnects: string[] = [];
    mover.subscribe({ disconnect: (r) => disconnects.push(r) });
    await a.close();
    await until(() => mover.url === b.url && mover.connected);
    expect(mover.joined?.peerId).toBe(moved.peerId);
    // the record is read through the new server, and signals reach the moved peer there
    expect((await mover.readRecord()).status).toBe('running');
    const got: string[] = [];
    mover.subscribe({ signal: (from) => got.push(from) });
    stayer.sendSignal(moved.peerId, offer);
    await until(() => got.length === 1);
    expect(got).toEqual([stays.peerId]);
    expect(epochs).toEqual([]);
    expect(disconnects).toEqual([]);
    expect(await b.members(id)).toBe(2);
  });

  it('a peer dropped through another process is disconnected there and does not resume', async () => {
    const [a, b] = await pair();
    const { id, token } = await client(b.url).createSession({ expectedPeers: 2 });
    const victim = client([a.url, b.url]);
    const reporter = client(b.url);
    const dropped = await victim.join({ sessionId: id, token, info: node });
    await reporter.join({ sessionId: id, token, info: node });
    const notices: string[] = [];
    const heard: string[] = [];
    const why: (string | undefined)[] = [];
    victim.subscribe({ error: (n) => notices.push(n.code), disconnect: (r, d) => (heard.push(r), why.push(d)) });
    // two members: one report is a majority
    reporter.reportUnreachable(dropped.peerId);
    await until(() => heard.length === 1);
    expect(notices).toContain('dropped');
    // the reason crossed the adapter ahead of the disconnect
    expect(why[0]).toMatch(/^the signaling server removed this peer from the session: the only other member \(.+\) reported that it could not open a WebRTC connection to it/);
    expect(victim.url).toBe(a.url);
    await until(() => reporter.membership?.peers.length === 1);
    expect(await a.members(id)).toBe(1);
  });

  it('a socket that closes after its peer resumed elsewhere does not take the seat away', async () => {
    const [a, b] = await pair();
    const { id, token } = await client(b.url).createSession({ expectedPeers: 2 });
    const other = client(b.url);
    const raw = [io(a.url, { transports: ['websocket'], reconnection: false }), io(b.url, { transports: ['websocket'], reconnection: false })];
    try {
      const first = (await raw[0].emitWithAck('session:join', { sessionId: id, token, info: node })) as { ok: true; peerId: string; resumeKey: string };
      expect(first).toMatchObject({ ok: true, resumeKey: expect.any(String) });
      await other.join({ sessionId: id, token, info: node });
      const epochs: MembershipEpoch[] = [];
      other.subscribe({ membership: (m) => epochs.push(m) });
      // as when the peer lost its link to a while a still held its socket
      const back = (await raw[1].emitWithAck('session:join', { sessionId: id, token, info: node, resume: { peerId: first.peerId, key: first.resumeKey } })) as { ok: boolean; peerId: string };
      expect(back).toMatchObject({ ok: true, peerId: first.peerId });
      raw[0].disconnect();
      await new Promise((r) => setTimeout(r, 300));
      expect(epochs).toEqual([]);
      expect(await a.members(id)).toBe(2);
      // a wrong key takes nothing
      const thief = io(b.url, { transports: ['websocket'], reconnection: false });
      raw.push(thief);
      const refused = (await thief.emitWithAck('session:join', { sessionId: id, token, info: node, resume: { peerId: first.peerId, key: 'x'.repeat(24) } })) as { ok: boolean; code: string };
      expect(refused).toMatchObject({ ok: false, code: 'bad-token' });
    } finally {
      for (const r of raw) r.disconnect();
    }
  });

  it('a client with one server hears the disconnect at once', async () => {
    const [a, b] = await pair();
    const { id, token } = await client(b.url).createSession({ expectedPeers: 2 });
    const alone = client(a.url);
    await alone.join({ sessionId: id, token, info: node });
    const heard: string[] = [];
    alone.subscribe({ disconnect: (r) => heard.push(r) });
    await a.close();
    await until(() => heard.length === 1, 2000);
    expect(heard[0]).toMatch(/server|transport/);
  });

  it('a session lost from Redis (restarted without persistence) is said to be gone, not "join first"', async () => {
    const [a] = await pair();
    const { id, token } = await client(a.url).createSession({ expectedPeers: 2 });
    const peer = client(a.url);
    await peer.join({ sessionId: id, token, info: node });
    expect((await peer.readRecord()).status).toBeDefined();
    // what a Redis without persistence holds after a restart: none of this server's keys
    const r = new Redis(redis.url);
    try {
      const keys = await r.keys(`${lastPrefix}*`);
      expect(keys.length).toBeGreaterThan(0);
      await r.del(...keys);
    } finally {
      r.disconnect();
    }
    const refused = await peer.readRecord().then(
      () => null,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(refused?.code).toBe('unknown-session');
    expect(refused?.message).toContain(`session ${id} is gone from the session store, though this peer joined it`);
    expect(refused?.message).toContain('appendonly yes');
  });
});
