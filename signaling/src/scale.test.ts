import { afterEach, describe, expect, it } from 'vitest';
import { createSignalingClient, type SignalData, type SignalingClient } from '@signvote/core';
import { createSignalingServer } from './server';
import type { SignalingServer } from './server';

/**
 * Signaling that scales with members (issue 12, finding 4): a WebRTC link costs about five
 * signals each way (offer or answer, ICE candidates), so a peer joining a session of n members
 * sends ~5n signals at once. With one budget per socket a joiner of ~46 members was cut off.
 */

const open: { servers: SignalingServer[]; clients: SignalingClient[] } = { servers: [], clients: [] };
afterEach(async () => {
  for (const c of open.clients.splice(0)) c.close();
  await Promise.all(open.servers.splice(0).map((s) => s.close()));
});

const until = async (cond: () => boolean, ms: number, what: string): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not met in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const candidate = (i: number): SignalData => ({
  type: 'candidate',
  candidate: { candidate: `candidate:${i} 1 udp 2122260223 127.0.0.1 ${50000 + i} typ host generation 0`, sdpMLineIndex: 0, sdpMid: '0' },
});
const sdp = (kind: 'offer' | 'answer'): SignalData => ({ type: kind, sdp: `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n${'a=x\r\n'.repeat(40)}` });

describe('signaling at 200 members', () => {
  it('lets a peer join a 200-member session and exchange every link\'s signals, with nobody cut off', async () => {
    const s = await createSignalingServer({ port: 0, logger: false });
    open.servers.push(s);
    const creator = createSignalingClient(s.url, { transports: ['websocket'] });
    open.clients.push(creator);
    const { id, token } = await creator.createSession({ expectedPeers: 200 });
    const members: SignalingClient[] = [];
    const ids: string[] = [];
    const problems: string[] = [];
    const got = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const c = createSignalingClient(s.url, { transports: ['websocket'] });
      open.clients.push(c);
      const j = await c.join({ sessionId: id, token, info: { backend: 'node' } });
      members.push(c);
      ids.push(j.peerId);
      c.subscribe({
        signal: () => got.set(j.peerId, (got.get(j.peerId) ?? 0) + 1),
        error: (n) => problems.push(`${j.peerId}: ${n.code} ${n.error}`),
        disconnect: (reason) => problems.push(`${j.peerId}: disconnected (${reason})`),
      });
    }
    const joiner = members[199];
    const joinerId = ids[199];
    await until(() => members.every((c) => c.membership?.peers.length === 200), 60_000, 'every member sees 200');
    expect(joiner.record).toMatchObject({ status: 'running', shards: 200 });

    // the joiner's moment: every member offers (smaller seq initiates), the joiner answers all
    // 199, and both sides trickle 4 candidates per link
    for (let i = 0; i < 199; i++) {
      members[i].sendSignal(joinerId, sdp('offer'));
      for (let k = 0; k < 4; k++) members[i].sendSignal(joinerId, candidate(k));
    }
    for (let i = 0; i < 199; i++) {
      joiner.sendSignal(ids[i], sdp('answer'));
      for (let k = 0; k < 4; k++) joiner.sendSignal(ids[i], candidate(k));
    }
    await until(() => (got.get(joinerId) ?? 0) >= 199 * 5 && ids.slice(0, 199).every((p) => (got.get(p) ?? 0) >= 5), 60_000, 'all signals delivered');
    expect(problems).toEqual([]);
    expect(joiner.connected).toBe(true);
    expect(got.get(joinerId)).toBe(199 * 5);
  });

  it('limits a flood on one link without touching the sender\'s other links', async () => {
    const s = await createSignalingServer({ port: 0, logger: false, limits: { linkRate: { burst: 10, perSecond: 1 }, maxStrikes: 1000 } });
    open.servers.push(s);
    const creator = createSignalingClient(s.url, { transports: ['websocket'] });
    open.clients.push(creator);
    const { id, token } = await creator.createSession({ expectedPeers: 3 });
    const cs = [0, 1, 2].map(() => {
      const c = createSignalingClient(s.url, { transports: ['websocket'], signalBatchMs: 0 });
      open.clients.push(c);
      return c;
    });
    const js = [];
    for (const c of cs) js.push(await c.join({ sessionId: id, token, info: { backend: 'node' } }));
    const counts = [0, 0, 0];
    const notices: string[] = [];
    cs.forEach((c, i) => c.subscribe({ signal: () => counts[i]++ }));
    cs[0].subscribe({ error: (n) => notices.push(n.code) });
    for (let k = 0; k < 30; k++) cs[0].sendSignal(js[1].peerId, candidate(k));
    for (let k = 0; k < 10; k++) cs[0].sendSignal(js[2].peerId, candidate(k));
    await until(() => counts[2] === 10 && notices.length >= 15, 10_000, 'flood answered');
    expect(counts[1]).toBeGreaterThanOrEqual(10);
    expect(counts[1]).toBeLessThan(15);
    expect(notices.every((n) => n === 'rate-limited')).toBe(true);
    expect(cs[0].connected).toBe(true);
  });
});
