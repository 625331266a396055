import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { FRAME_HEADER_BYTES, FRAME_HELLO, FRAME_VERSION, Reassembler, decodeControl, encodeFrames, type FrameResult } from '../transport/framing';
import { budget, check, concat, mutated, reportCases, FUZZ_TIMEOUT_MS } from './harness';

/**
 * WebRTC frames (transport/framing.ts): whatever arrives on a data channel. The Reassembler
 * never throws; after any garbage, the next message sent whole arrives intact.
 */

afterAll(() => reportCases('framing'));

const CHUNK = 64;
const MAX = 4096;

const message = fc.uint8Array({ maxLength: 300 });
const validFrames = fc.tuple(fc.nat(), message).map(([id, m]) => [...encodeFrames(id, m, CHUNK)]);

/** a data-frame header with arbitrary (often near-valid) fields, then a payload */
const forgedFrame = fc
  .record({
    version: fc.constantFrom(FRAME_VERSION, FRAME_VERSION, 0, 1, FRAME_HELLO, 0xff),
    id: fc.oneof(fc.nat({ max: 4 }), fc.constant(0xffffffff)),
    index: fc.oneof(fc.nat({ max: 3 }), fc.constant(0xffffffff)),
    count: fc.oneof(fc.nat({ max: 8 }), fc.constant(0xffffffff)),
    total: fc.oneof(fc.nat({ max: 500 }), fc.constantFrom(MAX, MAX + 1, 0xffffffff)),
    payload: fc.uint8Array({ maxLength: CHUNK }),
  })
  .map(({ version, id, index, count, total, payload }) => {
    const header = new Uint8Array(FRAME_HEADER_BYTES);
    const view = new DataView(header.buffer);
    view.setUint8(0, version);
    view.setUint32(1, id, true);
    view.setUint32(5, index, true);
    view.setUint32(9, count, true);
    view.setUint32(13, total, true);
    return concat(header, payload);
  });

const garbageFrame = fc.oneof(
  fc.uint8Array({ maxLength: 100 }),
  forgedFrame,
  mutated(validFrames.chain((fs) => fc.constantFrom(...fs)), 3),
  validFrames.chain((fs) => fc.constantFrom(...fs)),
);

function kinds(r: FrameResult): boolean {
  if (r.kind === 'partial') return true;
  if (r.kind === 'malformed') return typeof r.reason === 'string' && r.reason.length > 0 && r.reason.length < 300;
  return r.kind === 'message' && r.bytes instanceof Uint8Array && r.bytes.byteLength <= MAX;
}

describe('fuzz: WebRTC frames (decodeControl, Reassembler)', () => {
  it('decodeControl: null for data frames, hello only for the exact HELLO, else malformed; never throws', () => {
    check(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 4 }).map((b) => concat(Uint8Array.of(FRAME_HELLO), b))), (frame) => {
        const r = decodeControl(frame);
        if (frame.length === 0 || frame[0] !== FRAME_HELLO) expect(r).toBeNull();
        else if (frame.length === 2 && frame[1] === FRAME_VERSION) expect(r).toEqual({ kind: 'hello' });
        else expect(r?.kind).toBe('malformed');
      }),
      budget(500),
    );
  }, FUZZ_TIMEOUT_MS);

  it('any frames: never a throw, and every result is well-formed', () => {
    check(
      fc.property(fc.array(garbageFrame, { maxLength: 20 }), (frames) => {
        const rx = new Reassembler(MAX);
        for (const f of frames) expect(kinds(rx.push(f))).toBe(true);
      }),
      budget(2000),
    );
  }, FUZZ_TIMEOUT_MS);

  it('after any garbage, the next message sent whole arrives intact (garbage leaves no trace)', () => {
    check(
      fc.property(fc.array(garbageFrame, { maxLength: 12 }), fc.nat(), message, (garbage, id, msg) => {
        const rx = new Reassembler(MAX);
        for (const f of garbage) rx.push(f);
        const results = [...encodeFrames(id, msg, CHUNK)].map((f) => rx.push(f));
        const last = results[results.length - 1];
        expect(last.kind).toBe('message');
        if (last.kind === 'message') {
          expect(last.id).toBe(id >>> 0);
          expect(Buffer.from(last.bytes).equals(Buffer.from(msg))).toBe(true);
        }
        // only the first frame may report what the garbage left unfinished
        expect(results.slice(1, -1).every((r) => r.kind === 'partial')).toBe(true);
      }),
      budget(2000),
    );
  }, FUZZ_TIMEOUT_MS);
});
