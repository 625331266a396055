import { describe, expect, it } from 'vitest';
import { createRng } from '../random';
import { FRAME_HEADER_BYTES, FRAME_HELLO, FRAME_VERSION, Reassembler, decodeControl, encodeFrames, encodeHello } from './framing';

const bytes = (n: number, seed = 1) => {
  const rng = createRng(seed);
  return Uint8Array.from({ length: n }, () => rng.int(256));
};

describe('chunk framing', () => {
  it('round-trips messages of every size around the chunk boundary, including empty', () => {
    const chunk = 64;
    const payload = chunk - FRAME_HEADER_BYTES;
    const rx = new Reassembler();
    for (const n of [0, 1, payload - 1, payload, payload + 1, 3 * payload, 1000]) {
      const msg = bytes(n, n);
      const frames = [...encodeFrames(n, msg, chunk)];
      expect(frames.length).toBe(Math.max(1, Math.ceil(n / payload)));
      for (const f of frames) expect(f.byteLength).toBeLessThanOrEqual(chunk);
      const results = frames.map((f) => rx.push(f));
      expect(results.slice(0, -1).every((r) => r.kind === 'partial')).toBe(true);
      const last = results[results.length - 1];
      expect(last.kind).toBe('message');
      if (last.kind === 'message') expect(Array.from(last.bytes)).toEqual(Array.from(msg));
    }
  });

  it('wraps the 32-bit message id instead of overflowing', () => {
    const rx = new Reassembler();
    for (const id of [0xfffffffe, 0xffffffff, 0x1_0000_0000, 0x1_0000_0001]) {
      const [frame] = encodeFrames(id, bytes(5), 64);
      const r = rx.push(frame);
      expect(r).toMatchObject({ kind: 'message', id: id >>> 0 });
    }
  });

  it('flags malformed frames without throwing and recovers at the next first chunk', () => {
    const rx = new Reassembler(1000);
    const frames = [...encodeFrames(3, bytes(300), 64)];
    expect(rx.push(new Uint8Array(4)).kind).toBe('malformed');
    expect(rx.push(frames[2]).kind).toBe('malformed'); // no start
    expect(rx.push(frames[0]).kind).toBe('partial');
    expect(rx.push(frames[2]).kind).toBe('malformed'); // skipped chunk 1
    const tooBig = [...encodeFrames(4, bytes(2000), 64)][0];
    expect(rx.push(tooBig)).toMatchObject({ kind: 'malformed', reason: expect.stringMatching(/cap/) });
    const lying = frames[0].slice();
    new DataView(lying.buffer).setUint32(13, 10, true); // declares 10 bytes, carries 47
    expect(rx.push(lying).kind).toBe('malformed');
    // a restart mid-message reports the abandoned one, then the new message completes
    expect(rx.push(frames[0]).kind).toBe('partial');
    const results = frames.map((f) => rx.push(f));
    expect(results[0].kind).toBe('malformed');
    expect(results[results.length - 1].kind).toBe('message');
  });

  it('delivers a one-frame message that cuts off an unfinished one, noting the loss', () => {
    const rx = new Reassembler(1000);
    expect(rx.push([...encodeFrames(1, bytes(300), 64)][0]).kind).toBe('partial');
    const [single] = encodeFrames(2, bytes(5, 9), 64);
    const r = rx.push(single);
    expect(r).toMatchObject({ kind: 'message', id: 2, abandoned: expect.stringMatching(/message 1 abandoned after 1 of/) });
    if (r.kind === 'message') expect(Array.from(r.bytes)).toEqual(Array.from(bytes(5, 9)));
  });

  it('tells HELLO control frames from data frames and rejects a HELLO of another version', () => {
    expect(decodeControl(encodeHello())).toEqual({ kind: 'hello' });
    // every data frame starts with the version byte, which never collides with a control byte
    for (const frame of encodeFrames(0xffffffff, bytes(100), 64)) expect(decodeControl(frame)).toBeNull();
    expect(decodeControl(new Uint8Array(0))).toBeNull();
    expect(decodeControl(Uint8Array.of(FRAME_HELLO, FRAME_VERSION - 1))).toMatchObject({ kind: 'malformed', reason: expect.stringMatching(/version 1/) });
    expect(decodeControl(Uint8Array.of(FRAME_HELLO, FRAME_VERSION, 0))).toMatchObject({ kind: 'malformed' });
    // a HELLO that reaches the reassembler is not mistaken for a message start
    expect(new Reassembler().push(encodeHello()).kind).toBe('malformed');
  });
});
