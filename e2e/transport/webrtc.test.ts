import SimplePeer from 'simple-peer';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSignalingServer, type SignalingServer } from '@signvote/signaling';
import { nodeWrtc } from '@signvote/core/node';
import {
  createRng,
  DEFAULT_CHUNK_BYTES,
  FRAME_HEADER_BYTES,
  FRAME_HELLO,
  encodeFrames,
  encodeHello,
  createSignalingClient,
  type SignalingClient,
  type SignalData,
  type Membership,
  type PeerId,
  createWebRtcTransport,
  type WebRtcTransport,
} from '@signvote/core';

const wrtc = nodeWrtc();
let server: SignalingServer;
const open: { transports: WebRtcTransport[]; clients: SignalingClient[]; peers: SimplePeer.Instance[] } = {
  transports: [],
  clients: [],
  peers: [],
};

beforeAll(async () => {
  server = await createSignalingServer({ port: 0, logger: false });
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  for (const p of open.peers.splice(0)) p.destroy();
  await Promise.all(open.transports.splice(0).map((t) => t.close()));
  for (const c of open.clients.splice(0)) c.close();
});

async function newSession(): Promise<{ id: string; token: string }> {
  const creator = createSignalingClient(server.url, { transports: ['websocket'] });
  open.clients.push(creator);
  return creator.createSession({ iceServers: [] });
}

async function joinClient(session: { id: string; token: string }, label: string): Promise<SignalingClient> {
  const c = createSignalingClient(server.url, { transports: ['websocket'] });
  open.clients.push(c);
  await c.join({ sessionId: session.id, token: session.token, info: { backend: 'node', label } });
  return c;
}

async function joinTransport(session: { id: string; token: string }, label: string): Promise<WebRtcTransport> {
  const t = createWebRtcTransport({ signaling: await joinClient(session, label), wrtc, connectTimeoutMs: 15_000 });
  open.transports.push(t);
  return t;
}

/** Collects whole messages per sender. */
function inbox(t: WebRtcTransport): Map<PeerId, Uint8Array[]> {
  const got = new Map<PeerId, Uint8Array[]>();
  t.subscribe({
    message: (from, bytes) => {
      if (!got.has(from)) got.set(from, []);
      got.get(from)!.push(bytes);
    },
  });
  return got;
}

const until = async (cond: () => boolean, ms = 15_000, what = 'condition'): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const text = (s: string) => new TextEncoder().encode(s);
const untext = (b: Uint8Array) => new TextDecoder().decode(b);

describe('WebRTC transport (real signaling server + node-datachannel on loopback)', () => {
  it('connects three peers in a mesh that exchange messages both ways, queueing sends before the channel opens', async () => {
    const session = await newSession();
    const a = await joinTransport(session, 'a');
    const b = await joinTransport(session, 'b');
    const c = await joinTransport(session, 'c');
    const ts = [a, b, c];
    const boxes = ts.map(inbox);
    // sent right away: c's channels are still connecting, so these must be queued, not dropped
    const sends: Promise<void>[] = [];
    for (const from of ts) for (const to of ts) if (from !== to) sends.push(from.send(to.self, text(`${from.self}->${to.self}`)));
    await Promise.all(sends);
    await until(() => boxes.every((box) => [...box.values()].flat().length === 2), 15_000, 'mesh delivery');
    for (const [i, to] of ts.entries()) {
      for (const from of ts) {
        if (from === to) continue;
        expect(boxes[i].get(from.self)?.map(untext)).toEqual([`${from.self}->${to.self}`]);
      }
    }
    await Promise.all(ts.map((t) => t.whenConnected()));
    expect(a.connectedPeers().sort()).toEqual([b.self, c.self].sort());
    expect(c.membership.peers).toEqual([a.self, b.self, c.self]);
  });

  it('tries a link again when its first offer is lost, and it opens (issue 12: every member linked)', async () => {
    const session = await newSession();
    const a = createWebRtcTransport({ signaling: await joinClient(session, 'a'), wrtc, connectTimeoutMs: 3000 });
    open.transports.push(a);
    const clientB = await joinClient(session, 'b');
    // b never hears a's first offer (as when a signal was refused or a process was too busy)
    let offers = 0;
    const lossy: SignalingClient = Object.assign(Object.create(clientB) as SignalingClient, {
      subscribe: (listener: Parameters<SignalingClient['subscribe']>[0]) =>
        clientB.subscribe({
          ...listener,
          ...(listener.signal
            ? { signal: (from: PeerId, data: SignalData) => (data.type === 'offer' && offers++ === 0 ? undefined : listener.signal!(from, data)) }
            : {}),
        }),
    });
    const b = createWebRtcTransport({ signaling: lossy, wrtc, connectTimeoutMs: 3000 });
    open.transports.push(b);
    const unreachable: string[] = [];
    a.subscribe({ unreachable: (peer) => unreachable.push(peer) });
    const boxB = inbox(b);
    // the first link fails after 3 s (its queued sends with it), the second one opens
    await until(() => a.connectedPeers().includes(b.self), 30_000, 'the second link');
    await a.send(b.self, text('after a retry'));
    await until(() => (boxB.get(a.self)?.length ?? 0) === 1, 30_000, 'delivery over the second link');
    expect(boxB.get(a.self)!.map(untext)).toEqual(['after a retry']);
    expect(offers).toBeGreaterThanOrEqual(2);
    // a link that never opened is tried again before anyone is told (no report, no drop)
    expect(unreachable).toEqual([]);
    expect(a.connectedPeers()).toEqual([b.self]);
  });

  it('delivers a 5 MiB message intact and 2000 small messages in order', async () => {
    const session = await newSession();
    const a = await joinTransport(session, 'a');
    const b = await joinTransport(session, 'b');
    const got = inbox(b);
    await a.whenConnected();

    const big = createRng(42).fillU32(new Uint32Array((5 * 1024 * 1024) / 4));
    const bigBytes = new Uint8Array(big.buffer);
    const t0 = performance.now();
    await a.send(b.self, bigBytes);
    await until(() => (got.get(a.self)?.length ?? 0) === 1, 20_000, '5 MiB message').catch((err: Error) => {
      throw new Error(`${err.message}; sender ${JSON.stringify(a.stats())}, receiver ${JSON.stringify(b.stats())}`);
    });
    const ms = performance.now() - t0;
    const received = got.get(a.self)![0];
    expect(received.byteLength).toBe(bigBytes.byteLength);
    expect(Buffer.compare(Buffer.from(received), Buffer.from(bigBytes))).toBe(0);
    expect(a.stats().framesSent).toBeGreaterThanOrEqual(Math.ceil(bigBytes.byteLength / (DEFAULT_CHUNK_BYTES - FRAME_HEADER_BYTES)));
    expect(b.stats().malformedFrames).toBe(0);
    console.info(`5 MiB over loopback in ${ms.toFixed(0)} ms (${((5 / ms) * 1000).toFixed(1)} MiB/s)`);

    got.clear();
    const readsBefore = a.stats().bufferReads;
    const n = 2000;
    const sends: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const msg = new Uint8Array(8);
      new DataView(msg.buffer).setUint32(0, i, true);
      sends.push(a.send(b.self, msg));
    }
    await Promise.all(sends);
    await until(() => (got.get(a.self)?.length ?? 0) === n, 20_000, '2000 messages');
    const order = got.get(a.self)!.map((m) => new DataView(m.buffer, m.byteOffset).getUint32(0, true));
    expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
    // 2000 frames of 25 bytes fit the local budget: at most one blocking bufferedAmount read
    expect(a.stats().bufferReads - readsBefore).toBeLessThanOrEqual(1);
  });

  it('connects a peer that creates its transport well after joining (early offers are held)', async () => {
    const session = await newSession();
    const a = await joinTransport(session, 'a');
    const lateClient = await joinClient(session, 'late');
    // a (smaller seq) offers right away, while the late peer is busy elsewhere
    await new Promise((r) => setTimeout(r, 300));
    const late = createWebRtcTransport({ signaling: lateClient, wrtc, connectTimeoutMs: 15_000 });
    open.transports.push(late);
    const got = inbox(late);
    await a.send(late.self, text('welcome'));
    await until(() => (got.get(a.self)?.length ?? 0) === 1, 10_000, 'message to the late peer');
    expect(untext(got.get(a.self)![0])).toBe('welcome');
  });

  it('publishes an epoch without a peer that closed, and sends to it reject', async () => {
    const session = await newSession();
    const a = await joinTransport(session, 'a');
    const b = await joinTransport(session, 'b');
    await a.whenConnected();
    const epochs: Membership[] = [];
    a.subscribe({ membership: (m) => epochs.push(m) });
    await until(() => epochs.length === 1);
    await b.close();
    await until(() => epochs.length === 2, 10_000, 'leave epoch');
    expect(epochs[1].peers).toEqual([a.self]);
    expect(epochs[1].epoch).toBeGreaterThan(epochs[0].epoch);
    await expect(a.send(b.self, text('anyone?'))).rejects.toThrow(/not a member/);
    expect(a.connectedPeers()).toEqual([]);
  });

  it('tells a peer dropped by the majority that it has left, and rejects its pending sends', async () => {
    const session = await newSession();
    const a = await joinTransport(session, 'a');
    const b = await joinTransport(session, 'b');
    await b.whenConnected();
    const left: string[] = [];
    b.subscribe({ left: (reason) => left.push(reason) });
    const epochs: Membership[] = [];
    a.subscribe({ membership: (m) => epochs.push(m) });
    a.reportUnreachable(b.self); // with two peers, one report is a majority
    await until(() => left.length === 1, 10_000, 'left event');
    // the server's own sentence: who reported it, and what to check
    expect(left[0]).toMatch(/^the signaling server removed this peer from the session: .*could not open a WebRTC connection to it/);
    await until(() => epochs.some((m) => m.peers.length === 1), 10_000, 'epoch without b');
    expect(epochs[epochs.length - 1].peers).toEqual([a.self]);
    await expect(b.send(a.self, text('late'))).rejects.toThrow(/closed/);
  });

  it('survives malformed frames from a raw channel and still reassembles the next good message', async () => {
    const session = await newSession();
    const victim = await joinTransport(session, 'victim');
    const got = inbox(victim);
    // a hand-driven peer: joins through signaling and answers the transport's offer itself
    const rawClient = await joinClient(session, 'raw');
    const raw = new SimplePeer({ initiator: false, wrtc, iceCompleteTimeout: 250 });
    open.peers.push(raw);
    raw.on('signal', (data: unknown) => rawClient.sendSignal(victim.self, data as SignalData));
    rawClient.subscribe({ signal: (from, data) => from === victim.self && raw.signal(data as SimplePeer.SignalData) });
    await new Promise<void>((resolve, reject) => {
      raw.once('connect', () => resolve());
      raw.once('error', reject);
    });
    // until the raw end says HELLO the victim keeps the link connecting and sends nothing
    const queued = victim.send(rawClient.joined!.peerId, text('after hello'));
    const seen: Uint8Array[] = [];
    raw.on('data', (d: Uint8Array) => seen.push(d));
    await new Promise((r) => setTimeout(r, 100));
    expect(victim.connectedPeers()).toEqual([]);
    expect(seen.every((d) => d[0] === FRAME_HELLO)).toBe(true);
    raw.send(encodeHello());
    await queued;
    await until(() => seen.some((d) => d[0] !== FRAME_HELLO), 10_000, 'queued message after hello');
    const alive = 'still alive '.repeat(10); // 3 frames of 64 bytes
    const good = [...encodeFrames(7, text(alive), 64)];
    expect(good.length).toBe(3);
    const badVersion = good[0].slice();
    badVersion[0] = 99;
    const huge = good[0].slice();
    new DataView(huge.buffer).setUint32(13, 0xffffffff, true);
    const garbage = [
      new Uint8Array([1, 2, 3]), // shorter than a header
      badVersion,
      huge, // claims 4 GiB
      good[1], // continuation without a start
      'a string, not bytes',
      ...[...encodeFrames(8, text('x'.repeat(200)), 64)].slice(0, 2), // abandoned half-way
    ];
    for (const g of garbage) raw.send(g);
    for (const f of good) raw.send(f);
    await until(() => (got.get(rawClient.joined!.peerId)?.length ?? 0) === 1, 10_000, 'good message after garbage');
    expect(untext(got.get(rawClient.joined!.peerId)![0])).toBe(alive);
    expect(victim.stats().malformedFrames).toBeGreaterThanOrEqual(6);
    expect(victim.connectedPeers()).toEqual([rawClient.joined!.peerId]);

    // the raw peer's channel dies while its socket stays up: unreachable, then failover via report
    const rawId = rawClient.joined!.peerId;
    const unreachable: PeerId[] = [];
    const epochs: Membership[] = [];
    victim.subscribe({ unreachable: (p) => unreachable.push(p), membership: (m) => epochs.push(m) });
    raw.destroy();
    await until(() => unreachable.length === 1, 10_000, 'unreachable event');
    expect(unreachable).toEqual([rawId]);
    await expect(victim.send(rawId, text('hello?'))).rejects.toThrow(/unreachable/);
    victim.reportUnreachable(rawId);
    await until(() => epochs.some((m) => !m.peers.includes(rawId)), 10_000, 'epoch without the dropped peer');
    expect(epochs[epochs.length - 1].peers).toEqual([victim.self]);
  });

  it('reports a peer that speaks another framing version as unreachable and rejects its queued sends', async () => {
    const session = await newSession();
    const victim = await joinTransport(session, 'victim');
    const rawClient = await joinClient(session, 'old');
    const rawId = rawClient.joined!.peerId;
    const raw = new SimplePeer({ initiator: false, wrtc, iceCompleteTimeout: 250 });
    open.peers.push(raw);
    raw.on('signal', (data: unknown) => rawClient.sendSignal(victim.self, data as SignalData));
    rawClient.subscribe({ signal: (from, data) => from === victim.self && raw.signal(data as SimplePeer.SignalData) });
    const unreachable: string[] = [];
    victim.subscribe({ unreachable: (p, reason) => p === rawId && unreachable.push(reason) });
    const queued = victim.send(rawId, text('never'));
    await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
    raw.send(Uint8Array.of(FRAME_HELLO, 1));
    await expect(queued).rejects.toThrow(/framing version 1/);
    expect(unreachable).toHaveLength(1);
    expect(unreachable[0]).toMatch(/framing version 1/);
    expect(victim.stats().malformedFrames).toBe(1);
  });
});
