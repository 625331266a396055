import fc from 'fast-check';
import { PROTOCOL_VERSION, countBits, type Message } from '../protocol/messages';
import { paramHash } from './harness';

/**
 * Valid session messages of every type (docs/protocol.md), small enough that thousands of them
 * run in seconds: the seeds the fuzz tests mutate.
 */

const session = fc.string({ minLength: 1, maxLength: 12 });
const small = fc.nat({ max: 1000 });
const header = { v: fc.constant(PROTOCOL_VERSION), session };

const ballot = fc.record({ ...header, type: fc.constant('ballot' as const), term: small, round: small, hash: paramHash, payload: fc.uint8Array({ maxLength: 40 }) });

const verdict = fc
  .record({
    ...header,
    type: fc.constant('verdict' as const),
    term: small,
    round: small,
    originBack: small,
    base: paramHash,
    hash: fc.option(paramHash, { nil: undefined }),
    counted: fc.uint8Array({ maxLength: 4 }),
    payload: fc.uint8Array({ maxLength: 40 }),
    timed: fc.boolean(),
    latency: fc.nat({ max: 0xffffffff }),
    agreed: fc.option(fc.nat({ max: 255 }), { nil: undefined }),
  })
  .map(({ originBack, timed, latency, agreed, hash, ...m }): Message => {
    const voters = countBits(m.counted);
    return {
      ...m,
      origin: Math.max(0, m.term - originBack),
      ...(hash !== undefined ? { hash } : {}),
      ...(timed ? { latencies: Array.from({ length: voters }, (_, i) => (latency + i) % 0x100000000) } : {}),
      ...(agreed !== undefined ? { agreement: Uint8Array.from({ length: voters }, (_, i) => (agreed + i) & 0xff) } : {}),
    };
  });

const open = fc.record({ ...header, type: fc.constant('open' as const), term: small, round: small, hash: paramHash });

const status = fc
  .record({ ...header, type: fc.constant('status' as const), term: small, round: small, hash: paramHash, back: small, started: fc.option(fc.boolean(), { nil: undefined }) })
  .map(({ back, started, ...m }): Message => ({ ...m, oldest: Math.max(0, m.round - back), ...(started !== undefined ? { started } : {}) }));

const fetch = fc
  .record({ ...header, type: fc.constant('fetch' as const), term: small, from: small, span: fc.integer({ min: 1, max: 100 }) })
  .map(({ span, ...m }): Message => ({ ...m, to: m.from + span }));

const sync = fc.record({ ...header, type: fc.constant('sync' as const), term: small, round: small, hash: paramHash });

const snapshot = fc
  .record({ ...header, type: fc.constant('snapshot' as const), term: small, round: small, hash: paramHash, d: fc.integer({ min: 1, max: 64 }), at: fc.nat(), floats: fc.integer({ min: 1, max: 16 }) })
  .map(({ at, floats, ...m }): Message => {
    const n = Math.min(floats, 2 * m.d);
    const offset = at % (2 * m.d - n + 1);
    return { ...m, offset, data: new Uint8Array(4 * n).map((_, i) => (i * 37 + offset) & 0xff) };
  });

export const validMessage: fc.Arbitrary<Message> = fc.oneof(ballot, verdict, open, status, fetch, sync, snapshot) as fc.Arbitrary<Message>;
