import { afterEach, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import {
  decodeDataset,
  type Dataset,
  createRng,
  createSignalingClient,
  type SignalingClient,
  type MembershipEpoch,
} from '@signvote/core';
import { createSignalingServer } from './server';
import type { SignalingServer, SignalingServerOptions } from './server';

const open: { servers: SignalingServer[]; clients: SignalingClient[]; sockets: Socket[] } = { servers: [], clients: [], sockets: [] };

afterEach(async () => {
  for (const c of open.clients.splice(0)) c.close();
  for (const s of open.sockets.splice(0)) s.disconnect();
  await Promise.all(open.servers.splice(0).map((s) => s.close()));
});

async function server(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const s = await createSignalingServer({ port: 0, logger: false, ...options });
  open.servers.push(s);
  return s;
}

function client(s: SignalingServer): SignalingClient {
  const c = createSignalingClient(s.url, { transports: ['websocket'] });
  open.clients.push(c);
  return c;
}

function rawSocket(s: SignalingServer): Promise<Socket> {
  const socket = io(s.url, { transports: ['websocket'], reconnection: false });
  open.sockets.push(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

/** Resolves with the next `n` membership epochs a client receives. */
function nextEpochs(c: SignalingClient, n: number): Promise<MembershipEpoch[]> {
  return new Promise((resolve) => {
    const seen: MembershipEpoch[] = [];
    const off = c.subscribe({
      membership: (m) => {
        seen.push(m);
        if (seen.length === n) {
          off();
          resolve(seen);
        }
      },
    });
  });
}

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('signaling server', () => {
  it('creates a session over socket.io and HTTP, and peers join with the config and an epoch', async () => {
    const s = await server();
    const creator = client(s);
    const created = await creator.createSession({ rounds: 7, expectedPeers: 3 });
    expect(created.url).toContain(`?session=${created.id}&token=${encodeURIComponent(created.token)}`);

    const res = await fetch(`${s.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rounds: 11, algorithm: { name: 'mv-signsgd' } }),
    });
    expect(res.status).toBe(201);
    const viaHttp = (await res.json()) as { id: string; token: string; url: string };
    expect(viaHttp.id).not.toBe(created.id);
    expect(viaHttp.url).toBe(`http://${new URL(s.url).host}/?session=${viaHttp.id}&token=${encodeURIComponent(viaHttp.token)}`);

    const a = client(s);
    const joined = await a.join({ sessionId: viaHttp.id, token: viaHttp.token, info: { backend: 'node', label: 'a' } });
    expect(joined.config.rounds).toBe(11);
    expect(joined.config.algorithm.name).toBe('mv-signsgd');
    expect(joined.membership.peers.map((p) => p.id)).toEqual([joined.peerId]);
    expect(joined.membership.peers[0].info).toEqual({ backend: 'node', label: 'a' });

    const bad = await fetch(`${s.url}/api/sessions`, { method: 'POST', body: JSON.stringify({ rounds: -1 }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/rounds/);
    const notJson = await fetch(`${s.url}/api/sessions`, { method: 'POST', body: '{' });
    expect(notJson.status).toBe(400);
    const huge = await fetch(`${s.url}/api/sessions`, { method: 'POST', body: JSON.stringify({ pad: 'x'.repeat(100_000) }) });
    expect(huge.status).toBe(413);
    expect((await fetch(`${s.url}/api/sessions`, { method: 'PUT' })).status).toBe(405);
  });

  it('publishes epochs on join and leave, in join order, to every member', async () => {
    const s = await server();
    const { id, token } = await client(s).createSession({});
    const [a, b, c] = [client(s), client(s), client(s)];
    const ja = await a.join({ sessionId: id, token, info: { backend: 'node' } });
    const aSees = nextEpochs(a, 3);
    const jb = await b.join({ sessionId: id, token, info: { backend: 'wasm' } });
    const bSees = nextEpochs(b, 2);
    const jc = await c.join({ sessionId: id, token, info: { backend: 'webgpu' } });
    expect(jc.membership.peers.map((p) => p.id)).toEqual([ja.peerId, jb.peerId, jc.peerId]);
    expect(jc.membership.peers.map((p) => p.seq)).toEqual([0, 1, 2]);
    c.close();
    const aEpochs = await aSees;
    const bEpochs = await bSees;
    expect(aEpochs.map((m) => m.peers.map((p) => p.id))).toEqual([
      [ja.peerId, jb.peerId],
      [ja.peerId, jb.peerId, jc.peerId],
      [ja.peerId, jb.peerId],
    ]);
    const epochs = aEpochs.map((m) => m.epoch);
    expect(epochs[1]).toBeGreaterThan(epochs[0]);
    expect(epochs[2]).toBeGreaterThan(epochs[1]);
    expect(bEpochs.map((m) => m.epoch)).toEqual(epochs.slice(1));
    expect(a.membership?.epoch).toBe(epochs[2]);
  });

  it('relays signals only between members of the same session, with a server-set sender', async () => {
    const s = await server();
    const creator = client(s);
    const one = await creator.createSession({});
    const two = await creator.createSession({});
    const [a, b, x] = [client(s), client(s), client(s)];
    const ja = await a.join({ sessionId: one.id, token: one.token, info: { backend: 'node' } });
    const jb = await b.join({ sessionId: one.id, token: one.token, info: { backend: 'node' } });
    const jx = await x.join({ sessionId: two.id, token: two.token, info: { backend: 'node' } });

    const got: { at: string; from: string; type: string }[] = [];
    const errors: string[] = [];
    for (const [name, c] of [['a', a], ['b', b], ['x', x]] as const) {
      c.subscribe({ signal: (from, data) => got.push({ at: name, from, type: data.type }), error: (e) => errors.push(`${name}:${e.code}`) });
    }
    a.sendSignal(jb.peerId, { type: 'offer', sdp: 'v=0' });
    x.sendSignal(ja.peerId, { type: 'offer', sdp: 'v=0 from another session' });
    await until(() => got.length >= 1 && errors.length >= 1);
    // a forged `from` is ignored: the server sets it from the socket
    const raw = await rawSocket(s);
    const ack = await raw.emitWithAck('signal', { to: ja.peerId, from: jb.peerId, data: { type: 'answer', sdp: 'x' } });
    expect(ack).toMatchObject({ ok: false, code: 'not-joined' });
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([{ at: 'b', from: ja.peerId, type: 'offer' }]);
    expect(errors).toEqual(['x:unknown-peer']);
    expect(jx.peerId).not.toBe(ja.peerId);
  });

  it('refuses a wrong token, an unknown session, malformed and oversized events, and keeps serving others', async () => {
    const s = await server();
    const { id, token } = await client(s).createSession({});
    const good = client(s);
    const jg = await good.join({ sessionId: id, token, info: { backend: 'node' } });

    await expect(client(s).join({ sessionId: id, token: token + 'x', info: { backend: 'node' } })).rejects.toMatchObject({ code: 'bad-token' });
    await expect(client(s).join({ sessionId: 'nope', token, info: { backend: 'node' } })).rejects.toMatchObject({ code: 'unknown-session' });

    const raw = await rawSocket(s);
    expect(await raw.emitWithAck('session:join', { sessionId: id })).toMatchObject({ ok: false, code: 'invalid' });
    expect(await raw.emitWithAck('session:join', 'garbage')).toMatchObject({ ok: false, code: 'invalid' });
    expect(await raw.emitWithAck('session:create', { rounds: 'many' })).toMatchObject({ ok: false, code: 'invalid', error: expect.stringMatching(/rounds/) });
    expect(await raw.emitWithAck('no-such-event', {})).toMatchObject({ ok: false, code: 'invalid' });
    // the server's own events sent back to it are refused too (an ack left unanswered hangs the sender)
    expect(await raw.timeout(5000).emitWithAck('membership', {})).toMatchObject({ ok: false, code: 'invalid', error: expect.stringMatching(/membership/) });
    expect(await raw.timeout(5000).emitWithAck('signaling:error', {})).toMatchObject({ ok: false, code: 'invalid' });
    // the parser lets numeric event names through; they must not reach string-only code
    expect(await raw.emitWithAck(42 as unknown as string, {})).toMatchObject({ ok: false, code: 'invalid', error: expect.stringMatching(/42/) });
    const joinedRaw = (await raw.emitWithAck('session:join', { sessionId: id, token, info: { backend: 'node' } })) as { ok: boolean; peerId: string };
    expect(joinedRaw.ok).toBe(true);
    // over the schema limit but under the transport limit: a clear error
    const big = await raw.emitWithAck('signal', { to: jg.peerId, data: { type: 'offer', sdp: 'x'.repeat(40_000) } });
    expect(big).toMatchObject({ ok: false, code: 'invalid', error: expect.stringMatching(/sdp/) });
    expect(raw.connected).toBe(true);

    // over the transport limit: the connection is dropped, the member leaves, others carry on
    const epochs = nextEpochs(good, 1);
    const dropped = new Promise<string>((r) => raw.once('disconnect', r));
    raw.emit('signal', { to: jg.peerId, data: { type: 'offer', sdp: 'x'.repeat(100_000) } });
    expect(await dropped).toBeTruthy();
    expect((await epochs)[0].peers.map((p) => p.id)).toEqual([jg.peerId]);

    const again = client(s);
    const ja = await again.join({ sessionId: id, token, info: { backend: 'wasm' } });
    expect(ja.membership.peers.map((p) => p.id)).toEqual([jg.peerId, ja.peerId]);
    const health = (await (await fetch(`${s.url}/healthz`)).json()) as { ok: boolean; sessions: number; peers: number; uptime: number };
    expect(health).toMatchObject({ ok: true, sessions: 1, peers: 2 });
    expect(health.uptime).toBeGreaterThanOrEqual(0);
  });

  it('rate-limits a flooding socket and disconnects it when it persists', async () => {
    const s = await server({ limits: { rate: { burst: 5, perSecond: 1 }, maxStrikes: 3 } });
    const raw = await rawSocket(s);
    const notices: string[] = [];
    raw.on('signaling:error', (n: { code: string }) => notices.push(n.code));
    const disconnected = new Promise<void>((r) => raw.once('disconnect', () => r()));
    const acks: unknown[] = [];
    for (let i = 0; i < 20; i++) raw.emit('session:create', {}, (ack: unknown) => acks.push(ack));
    await disconnected;
    // the burst is served, then refusals with a clear code, then the disconnect
    expect(acks.slice(0, 5)).toEqual(Array(5).fill(expect.objectContaining({ ok: true })));
    expect(acks.slice(5)).toEqual(Array(acks.length - 5).fill(expect.objectContaining({ ok: false, code: 'rate-limited' })));
    expect(acks.length).toBeGreaterThan(5);
    expect(acks.length).toBeLessThan(20);
    expect(notices).toContain('rate-limited');
    // other sockets are unaffected
    const other = client(s);
    await expect(other.createSession({})).resolves.toMatchObject({ id: expect.any(String) });
  });

  it('drops a peer reported unreachable by a majority of the others', async () => {
    const s = await server();
    const { id, token } = await client(s).createSession({});
    const cs = [client(s), client(s), client(s), client(s), client(s)];
    const js = [];
    for (const c of cs) js.push(await c.join({ sessionId: id, token, info: { backend: 'node' } }));
    const victim = js[4].peerId;
    const notices: string[] = [];
    const told = new Promise<{ reason: string; dropped: string | undefined }>((r) => cs[4].subscribe({ error: (n) => notices.push(n.code), disconnect: (reason, dropped) => r({ reason, dropped }) }));
    const epochs = nextEpochs(cs[0], 1);
    cs[0].reportUnreachable(victim);
    cs[1].reportUnreachable(victim);
    await new Promise((r) => setTimeout(r, 100));
    expect(cs[0].membership?.peers).toHaveLength(5); // 2 of the 4 others is not a majority
    cs[2].reportUnreachable(victim);
    const [m] = await epochs;
    expect(m.peers.map((p) => p.id)).toEqual(js.slice(0, 4).map((j) => j.peerId));
    await until(() => notices.includes('dropped'));
    // the dropped peer hears why (the notice arrives before the disconnect) and whom to suspect
    const { reason, dropped } = await told;
    expect(reason).toBe('io server disconnect');
    const reporters = js.slice(0, 3).map((j) => j.peerId).join(', ');
    expect(dropped).toBe(
      `the signaling server removed this peer from the session: 3 of the 4 other members (${reporters}) reported that they could not open a WebRTC connection to it. ` +
        "Check that no firewall blocks UDP on this machine or theirs, and that the session's ICE servers (STUN/TURN URLs and credentials) are right and reachable from every peer; a TURN server relays where direct connections fail",
    );
    // the others stay, and hear nothing of the kind
    expect(cs[0].connected).toBe(true);
  });

  it('tells the dropped peer of a pair that the only other member could not reach it', async () => {
    const s = await server();
    const { id, token } = await client(s).createSession({ expectedPeers: 2 });
    const [a, b] = [client(s), client(s)];
    const ja = await a.join({ sessionId: id, token, info: { backend: 'node' } });
    const jb = await b.join({ sessionId: id, token, info: { backend: 'node' } });
    const told = new Promise<string | undefined>((r) => b.subscribe({ disconnect: (_reason, dropped) => r(dropped) }));
    a.reportUnreachable(jb.peerId);
    expect(await told).toMatch(new RegExp(`^the signaling server removed this peer from the session: the only other member \\(${ja.peerId}\\) reported that it could not open a WebRTC connection to it\\.`));
  });

  it('serves datasets as decodable bytes, 404s unknown names, and serves the static dir', async () => {
    const rng = createRng(5);
    const count = 12;
    const pixels = Array.from({ length: count * 4 }, () => rng.int(256) / 255);
    const toy: Dataset = {
      name: 'toy',
      inputs: new Float32Array(pixels),
      labels: Uint8Array.from({ length: count }, () => rng.int(3)),
      count,
      inputShape: [1, 2, 2],
      numClasses: 3,
    };
    let loads = 0;
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'signaling-static-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>signvote</title>');
    const s = await server({
      staticDir: dir,
      loadDataset: async (name) => {
        loads++;
        return name === 'toy' ? toy : undefined;
      },
    });
    try {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${s.url}/datasets/toy.bin`);
        expect(res.status).toBe(200);
        const decoded = decodeDataset(new Uint8Array(await res.arrayBuffer()));
        expect(decoded.count).toBe(count);
        expect(Array.from(decoded.labels)).toEqual(Array.from(toy.labels));
        expect(decoded.inputs[5]).toBeCloseTo(toy.inputs[5], 6);
      }
      expect(loads).toBe(1); // encoded bytes are cached
      const missing = await fetch(`${s.url}/datasets/imagenet.bin`);
      expect(missing.status).toBe(404);
      expect(((await missing.json()) as { error: string }).error).toMatch(/unknown dataset/);
      expect((await fetch(`${s.url}/datasets/..%2Fetc.bin`)).status).toBe(404);
      const page = await fetch(`${s.url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('signvote');
      expect((await fetch(`${s.url}/some/route`)).status).toBe(404);
      expect((await fetch(`${s.url}/..%2F..%2Fetc/passwd.txt`)).status).toBe(404);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('serves the real dataset loaders by <dataset>-<split> name', async () => {
    const s = await server();
    const res = await fetch(`${s.url}/datasets/synthetic-test.bin`);
    expect(res.status).toBe(200);
    const decoded = decodeDataset(new Uint8Array(await res.arrayBuffer()));
    expect(decoded.count).toBeGreaterThan(0);
    expect(decoded.labels.length).toBe(decoded.count);
    expect((await fetch(`${s.url}/datasets/synthetic-validation.bin`)).status).toBe(404);
    expect((await fetch(`${s.url}/datasets/cifar-train.bin`)).status).toBe(404);
  });
});
