import fc from 'fast-check';
import { io } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import { afterAll, describe, expect, it } from 'vitest';
import { budget, checkAsync, hostileValue, mapMutation, mutateMap, reportCases, FUZZ_TIMEOUT_MS } from '../../core/src/fuzz/harness';
import { createSignalingClient } from '../../core/src/transport/signaling-client';
import type { SignalingClient } from '../../core/src/transport/signaling-client';
import { errorAckSchema, errorNoticeSchema, SIGNALING_EVENTS } from '../../core/src/transport/signaling-protocol';
import type { SignalData } from '../../core/src/transport/signaling-protocol';
import { createSignalingServer } from './server';

/**
 * The signaling server's handlers under hostile events: a socket that holds no token sends
 * arbitrary and mutated-valid events. Every event gets an answer (an ack, or a
 * `signaling:error` notice without one) that is ok or a well-formed refusal; the server stays up,
 * and a session two honest peers are in keeps its membership and still relays their signals.
 */

afterAll(() => reportCases('signaling server'));

const RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);
const eventName = fc.oneof(
  { arbitrary: fc.constantFrom(...Object.values(SIGNALING_EVENTS)), weight: 4 },
  fc.string({ maxLength: 70 }).filter((s) => !RESERVED.has(s)),
  fc.integer({ min: -5, max: 5 }),
);

describe('fuzz: signaling server handlers', () => {
  it('hostile events are answered (ok or a refusal) and change no session', async () => {
    // no strikes or rate limit: the fuzzing socket must not be disconnected for misbehaving
    const server = await createSignalingServer({ port: 0, logger: false, limits: { maxStrikes: 1e9, rate: { burst: 1e9, perSecond: 1e9 } } });
    const clients: SignalingClient[] = [];
    let fuzzer: Socket | undefined;
    try {
      const honest = (): SignalingClient => {
        const c = createSignalingClient(server.url, { transports: ['websocket'] });
        clients.push(c);
        return c;
      };
      const created = await honest().createSession({ expectedPeers: 2 });
      const [a, b] = [honest(), honest()];
      const ja = await a.join({ sessionId: created.id, token: created.token, info: { backend: 'node', label: 'a' } });
      const jb = await b.join({ sessionId: created.id, token: created.token, info: { backend: 'node', label: 'b' } });
      await until(() => a.membership?.peers.length === 2);
      const epoch = a.membership!;
      const signals: string[] = [];
      b.subscribe({ signal: (from, data) => signals.push(`${from}:${data.type}`) });

      fuzzer = io(server.url, { transports: ['websocket'], reconnection: false });
      await new Promise<void>((resolve, reject) => {
        fuzzer!.once('connect', () => resolve());
        fuzzer!.once('connect_error', reject);
      });
      const notices: unknown[] = [];
      fuzzer.on(SIGNALING_EVENTS.error, (n: unknown) => notices.push(n));

      // valid payloads of every event, with this session's id and members but not its token
      const valid: [string, Record<string, unknown>][] = [
        [SIGNALING_EVENTS.join, { sessionId: created.id, token: 'not-the-token', info: { backend: 'node' } }],
        [SIGNALING_EVENTS.signal, { to: ja.peerId, data: { type: 'offer', sdp: 'v=0' } satisfies SignalData }],
        [SIGNALING_EVENTS.unreachable, { peer: jb.peerId }],
        [SIGNALING_EVENTS.create, { rounds: 3 }],
      ];
      const payload = fc.oneof(
        hostileValue,
        fc.tuple(fc.constantFrom(...valid), fc.array(mapMutation, { maxLength: 3 })).map(([[, v], ms]) => mutateMap(v, ms)),
      );
      const hostile = fc.oneof(
        fc.record({ event: eventName, args: fc.array(payload, { maxLength: 3 }) }),
        fc.tuple(fc.constantFrom(...valid), fc.array(mapMutation, { maxLength: 3 })).map(([[event, v], ms]) => ({ event: event as string | number, args: [mutateMap(v, ms)] })),
      );

      await checkAsync(
        fc.asyncProperty(hostile, fc.boolean(), async ({ event, args }, withAck) => {
          const socket = fuzzer!;
          if (withAck) {
            const answer = await socket.timeout(5000).emitWithAck(event as string, ...args);
            const body = answer as { ok?: unknown };
            if (body.ok !== true) expect(errorAckSchema.safeParse(answer).success, JSON.stringify(answer)).toBe(true);
          } else {
            const before = notices.length;
            socket.emit(event as string, ...args);
            // a refused event without an ack is answered with a notice (an accepted one with
            // nothing); the sentinel's ack comes after it on the same socket
            await socket.timeout(5000).emitWithAck('not-an-event');
            for (const n of notices.slice(before)) expect(errorNoticeSchema.safeParse(n).success, JSON.stringify(n)).toBe(true);
          }
          expect(socket.connected).toBe(true);
        }),
        budget(600, 0.02),
      );

      // the honest session is as it was: same epoch, and a signal still goes from a to b
      expect(a.membership).toEqual(epoch);
      expect(b.membership?.epoch).toBe(epoch.epoch);
      a.sendSignal(jb.peerId, { type: 'offer', sdp: 'v=0' });
      await until(() => signals.includes(`${ja.peerId}:offer`));
      const health = (await (await fetch(`${server.url}/healthz`)).json()) as { ok: boolean };
      expect(health.ok).toBe(true);
    } finally {
      fuzzer?.disconnect();
      for (const c of clients) c.close();
      await server.close();
    }
  }, FUZZ_TIMEOUT_MS);
});

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
