import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { afterEach, describe, expect, it } from 'vitest';
import { sessionConfigSchema } from '../config';
import { RecordLedger } from '../record/ledger';
import { createSignalingClient } from './signaling-client';
import type { SignalingClient } from './signaling-client';
import { SIGNALING_EVENTS } from './signaling-protocol';
import type { MembershipEpoch } from './signaling-protocol';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const member = (id: string, seq: number) => ({ id, seq, info: { backend: 'node' as const }, shard: seq });
const record = new RecordLedger({ session: 's', rounds: 10, expectedPeers: 4, checkpointEvery: 0 }).view();

/**
 * A bare socket.io server that answers a join and, in the same tick, broadcasts the epoch a peer
 * joining right after would cause: the client decodes both packets in one read, before its join
 * promise has resolved. (The real server does the same when two peers join back to back.)
 */
async function serverWithBackToBackEpoch(next: MembershipEpoch | null): Promise<string> {
  const http = createServer();
  const io = new Server(http);
  io.on('connection', (socket) => {
    socket.on(SIGNALING_EVENTS.join, (_req: unknown, ack: (body: unknown) => void) => {
      ack({ ok: true, peerId: 'b', config: sessionConfigSchema.parse({}), membership: { epoch: 2, peers: [member('a', 0), member('b', 1)] }, record });
      if (next) socket.emit(SIGNALING_EVENTS.membership, next);
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise<void>((r) => io.close(() => r())));
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

function client(url: string): SignalingClient {
  const c = createSignalingClient(url, { transports: ['websocket'] });
  cleanup.push(() => c.close());
  return c;
}

const join = (c: SignalingClient) => c.join({ sessionId: 's', token: 't', info: { backend: 'node' } });

describe('signaling client', () => {
  it('keeps an epoch broadcast right behind its own join ack', async () => {
    const third = { epoch: 3, peers: [member('a', 0), member('b', 1), member('c', 2)] };
    const c = client(await serverWithBackToBackEpoch(third));
    const seen: number[] = [];
    c.subscribe({ membership: (m) => seen.push(m.epoch) });
    const joined = await join(c);
    expect(joined.membership.epoch).toBe(2);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.membership?.epoch).toBe(3);
    expect(seen).toEqual([2, 3]);
  });

  it('ignores an early epoch that is older than the one in the ack', async () => {
    const c = client(await serverWithBackToBackEpoch({ epoch: 1, peers: [member('a', 0)] }));
    const seen: number[] = [];
    c.subscribe({ membership: (m) => seen.push(m.epoch) });
    await join(c);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.membership?.epoch).toBe(2);
    expect(seen).toEqual([2]);
  });
});
