import fc from 'fast-check';
import type { z } from 'zod';
import { afterAll, describe, expect, it } from 'vitest';
import { sessionConfigSchema } from '../config';
import {
  createAckSchema,
  describeIssues,
  errorNoticeSchema,
  joinAckSchema,
  joinRequestSchema,
  membershipEpochSchema,
  okAckSchema,
  signalInSchema,
  signalOutSchema,
  unreachableReportSchema,
} from '../transport/signaling-protocol';
import { budget, check, hostileValue, mapMutation, mutateMap, reportCases, FUZZ_TIMEOUT_MS } from './harness';

/**
 * Signaling events (transport/signaling-protocol.ts), as both ends parse them: arbitrary values
 * and mutated valid ones never make a schema throw, a refusal reads in a line, and what a schema
 * accepts it accepts again unchanged (nothing half-parsed). The live server's handlers are
 * fuzzed in signaling/src/server.fuzz.test.ts.
 */

afterAll(() => reportCases('signaling'));

const member = (seq: number) => ({ id: `p${seq}`, seq, info: { backend: 'node' as const, label: 'a' } });
const validPayloads: Record<string, [z.ZodType, unknown]> = {
  create: [sessionConfigSchema, { rounds: 7, expectedPeers: 3, algorithm: { name: 'mv-signsgd' } }],
  join: [joinRequestSchema, { sessionId: 'abc', token: 'tok', info: { backend: 'wasm' } }],
  signalOut: [signalOutSchema, { to: 'p1', data: { type: 'offer', sdp: 'v=0' } }],
  signalIn: [signalInSchema, { from: 'p2', data: { type: 'candidate', candidate: { candidate: 'c', sdpMLineIndex: 0, sdpMid: '0' } } }],
  unreachable: [unreachableReportSchema, { peer: 'p3' }],
  membership: [membershipEpochSchema, { epoch: 3, peers: [member(0), member(1)] }],
  createAck: [createAckSchema, { ok: true, id: 'abc', token: 'tok', url: 'http://x/?session=abc' }],
  joinAck: [joinAckSchema, { ok: true, peerId: 'p1', config: sessionConfigSchema.parse({}), membership: { epoch: 1, peers: [member(0)] } }],
  okAck: [okAckSchema, { ok: false, error: 'no', code: 'invalid' }],
  notice: [errorNoticeSchema, { code: 'rate-limited', error: 'slow down', event: 'signal' }],
};

/** a nested field of a valid payload, reached by a path of indices, replaced or removed */
function mutateDeep(value: unknown, path: readonly number[], mutations: Parameters<typeof mutateMap>[1]): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || path.length === 0) {
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? mutateMap(value as Record<string, unknown>, mutations) : value;
  }
  const map = value as Record<string, unknown>;
  const keys = Object.keys(map);
  if (keys.length === 0) return map;
  const key = keys[path[0] % keys.length];
  return { ...map, [key]: mutateDeep(map[key], path.slice(1), mutations) };
}

function schemaProperty(schema: z.ZodType, input: unknown): void {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const line = describeIssues(parsed.error);
    expect(line.length).toBeGreaterThan(0);
    expect(line.length).toBeLessThan(2000);
    return;
  }
  const again = schema.safeParse(parsed.data);
  expect(again.success).toBe(true);
  expect(again.data).toEqual(parsed.data);
}

describe('fuzz: signaling events (zod schemas of signaling-protocol.ts)', () => {
  const names = Object.keys(validPayloads);
  it('valid payloads parse', () => {
    for (const [schema, value] of Object.values(validPayloads)) expect(schema.safeParse(value).success).toBe(true);
  }, FUZZ_TIMEOUT_MS);
  it('arbitrary values: refused with a readable line, or accepted as a fixed point', () => {
    check(
      fc.property(fc.constantFrom(...names), fc.oneof(hostileValue, fc.jsonValue({ maxDepth: 4 })), (name, v) => schemaProperty(validPayloads[name][0], v)),
      budget(3000),
    );
  }, FUZZ_TIMEOUT_MS);
  it('valid payloads with nested fields dropped, replaced or added: refused readably, or accepted as a fixed point', () => {
    check(
      fc.property(fc.constantFrom(...names), fc.array(fc.nat(), { maxLength: 4 }), fc.array(mapMutation, { minLength: 1, maxLength: 3 }), (name, path, ms) => {
        const [schema, valid] = validPayloads[name];
        schemaProperty(schema, mutateDeep(valid, path, ms));
      }),
      budget(3000),
    );
  }, FUZZ_TIMEOUT_MS);
});
