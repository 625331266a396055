import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, ProtocolError, type Message } from './messages';

const hash = 'a1b2c3d4e5f60718';
const base = { v: PROTOCOL_VERSION, session: 'room-1' } as const;
const samples: Message[] = [
  { ...base, type: 'ballot', term: 3, round: 17, hash, payload: new Uint8Array([1, 0xaa, 0x55]) },
  { ...base, type: 'verdict', term: 4, round: 17, origin: 3, base: hash, hash: 'ffffffffffffffff', counted: new Uint8Array([0b101]), payload: new Uint8Array(1 + 6250) },
  { ...base, type: 'open', term: 3, round: 18, hash },
  { ...base, type: 'status', term: 5, round: 18, hash, oldest: 2 },
  { ...base, type: 'fetch', term: 5, from: 16, to: 18 },
  { ...base, type: 'sync', term: 5, round: 0, hash },
  { ...base, type: 'snapshot', term: 5, round: 18, hash, d: 10, offset: 8, data: new Uint8Array(48) },
  { ...base, type: 'status', term: 5, round: 18, hash, oldest: 2, started: true },
  { ...base, type: 'verdict', term: 4, round: 17, origin: 4, base: hash, hash, counted: new Uint8Array([0b1101, 0b1]), payload: new Uint8Array(9), latencies: [0, 127, 128, 70_000] },
  // as broadcast fresh, before the aggregator has applied it: no result hash
  { ...base, type: 'verdict', term: 4, round: 18, origin: 4, base: hash, counted: new Uint8Array([0b1]), payload: new Uint8Array(9) },
  // vote shards: a slice of a ballot, and a range's part of a fresh verdict
  { ...base, type: 'ballot', term: 3, round: 17, hash, payload: new Uint8Array([1, 0xaa]), slice: 2 },
  { ...base, type: 'verdict', term: 4, round: 18, origin: 4, base: hash, counted: new Uint8Array([0b1]), payload: new Uint8Array(3), slice: 1 },
];

const reason = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return (e as ProtocolError).reason;
  }
  throw new Error('did not throw');
};

describe('wire messages', () => {
  it('round-trip every type, binary fields as plain Uint8Array', () => {
    for (const m of samples) {
      const bytes = encodeMessage(m);
      const back = decodeMessage(bytes);
      expect(back).toEqual(m);
      for (const v of Object.values(back)) if (v instanceof Uint8Array) expect(v.constructor).toBe(Uint8Array);
    }
  });

  it('carry packed bits as msgpack bin: a 50k-parameter ballot costs d/8 bytes plus a small header', () => {
    const d = 50_890;
    const payload = new Uint8Array(1 + Math.ceil(d / 8));
    const bytes = encodeMessage({ ...base, type: 'ballot', term: 1000, round: 100_000, hash, payload });
    expect(bytes.length - payload.length).toBeLessThan(100);
  });

  it('reject bad input with a typed reason', () => {
    expect(reason(() => decodeMessage(new Uint8Array([0xc1])))).toBe('malformed');
    expect(reason(() => decodeMessage(new Uint8Array([0x92, 0x01])))).toBe('malformed');
    expect(reason(() => decodeMessage(pack([1, 2])))).toBe('malformed');
    expect(reason(() => decodeMessage(pack({ ...samples[0], v: 9 })))).toBe('version');
    expect(reason(() => decodeMessage(pack({ ...samples[0], type: 'vote' })))).toBe('unknown-type');
    expect(reason(() => decodeMessage(new Uint8Array(100), { maxBytes: 50 }))).toBe('too-large');
    expect(reason(() => decodeMessage(pack({ ...samples[0], term: -1 })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[0], round: 1.5 })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[0], hash: 'A1B2C3D4E5F60718' })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[0], payload: [1, 2] })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[0], session: '' })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[1], origin: 9 })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[3], oldest: 99 })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[4], from: 18 })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[6], data: new Uint8Array(6) })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[6], offset: 16 })))).toBe('invalid');
    expect(reason(() => encodeMessage({ ...samples[2], hash: 'nope' } as Message))).toBe('invalid');
    // optional fields: checked when present
    expect(reason(() => decodeMessage(pack({ ...samples[3], started: 1 })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[0], slice: -1 })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[0], slice: 4096 })))).toBe('invalid');
    // a range's part is never a replay: replays are whole verdicts
    expect(reason(() => decodeMessage(pack({ ...samples[1], slice: 0 })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[1], hash: 'not a hash' })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[1], hash: null })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[1], latencies: [1, 2, 3] })))).toBe('invalid'); // 2 counted
    expect(reason(() => decodeMessage(pack({ ...samples[1], latencies: [1, -2] })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[1], latencies: [1, 0.5] })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[1], latencies: new Uint8Array(2) })))).toBe('invalid');
    expect(decodeMessage(pack({ ...samples[1], latencies: [1, 2] }))).toMatchObject({ latencies: [1, 2] });
    // vote agreement: one byte per counted ballot, as binary
    expect(reason(() => decodeMessage(pack({ ...samples[1], agreement: new Uint8Array(3) })))).toBe('invalid');
    expect(reason(() => decodeMessage(pack({ ...samples[1], agreement: [200, 100] })))).toBe('invalid');
    const agreed = decodeMessage(pack({ ...samples[1], agreement: Uint8Array.of(200, 100) }));
    expect(agreed.type === 'verdict' && Array.from(agreed.agreement!)).toEqual([200, 100]);
    expect(() => encodeMessage({ ...samples[1], agreement: new Uint8Array(1) } as Message)).toThrow(/agreement/);
  });

});
