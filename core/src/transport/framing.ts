/**
 * Chunk framing for data channels. One data-channel message over ~256 KiB silently closes a
 * wrtc channel and browsers differ on their limits (simple-peer #895, #934), so every transport
 * message travels as frames of at most `chunkBytes` (default 64 KiB, which current Chromium,
 * Firefox and wrtc all accept; 16 KiB is the old cross-implementation floor, available through
 * the option, but in wrtc under CPU load 16 KiB frames stalled 5 MiB sends for 7-10 s in ~5% of
 * runs, 64 KiB frames never did). Little-endian header, 17 bytes:
 *
 *   0 version u8 (=2)   1 message id u32   5 chunk index u32   9 chunk count u32   13 total bytes u32
 *
 * then the payload. The id is a wrapping 32-bit counter per connection (disco's 16-bit counter
 * overflowed after 65,535 messages); since a data channel is reliable and ordered and a sender
 * never interleaves two messages, the receiver only needs the one message in flight, which also
 * makes a malformed or out-of-sequence frame easy to detect: it is dropped along with the partial
 * message, and reassembly resumes at the next frame with index 0.
 *
 * One control frame exists: HELLO (2 bytes: 0x81, version). Each side sends it once its own end
 * of the channel is wired up and sends no data frame before it has the other side's HELLO. wrtc
 * hands the answering side's first messages to JS through a queue that a later message can
 * overtake (or that is lost) while that side is still creating its channel object, so data sent
 * the moment the offering side's channel opened arrived reordered or not at all under CPU load.
 */
export const FRAME_VERSION = 2;
export const FRAME_HEADER_BYTES = 17;
export const DEFAULT_CHUNK_BYTES = 64 * 1024;
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** first byte of a control frame; data frames start with FRAME_VERSION (< 0x80) */
export const FRAME_HELLO = 0x81;

/** The handshake frame: "my end is ready to receive, and I speak framing `FRAME_VERSION`". */
export function encodeHello(): Uint8Array {
  return Uint8Array.of(FRAME_HELLO, FRAME_VERSION);
}

export type HelloResult = { kind: 'hello' } | { kind: 'malformed'; reason: string };

/** null when `frame` is not a control frame (then it is a data frame for the Reassembler). */
export function decodeControl(frame: Uint8Array): HelloResult | null {
  if (!(frame instanceof Uint8Array) || frame.byteLength === 0 || frame[0] !== FRAME_HELLO) return null;
  if (frame.byteLength !== 2) return { kind: 'malformed', reason: `hello frame of ${frame.byteLength} bytes, expected 2` };
  if (frame[1] !== FRAME_VERSION) return { kind: 'malformed', reason: `peer speaks framing version ${frame[1]}, this side ${FRAME_VERSION}` };
  return { kind: 'hello' };
}

/** Split one message into frames (views are fresh copies: the caller may reuse `bytes`). */
export function* encodeFrames(id: number, bytes: Uint8Array, chunkBytes = DEFAULT_CHUNK_BYTES): Generator<Uint8Array> {
  const payloadBytes = chunkBytes - FRAME_HEADER_BYTES;
  if (!(payloadBytes > 0)) throw new RangeError(`chunkBytes must exceed the ${FRAME_HEADER_BYTES}-byte header, got ${chunkBytes}`);
  const count = Math.max(1, Math.ceil(bytes.byteLength / payloadBytes));
  for (let index = 0; index < count; index++) {
    const start = index * payloadBytes;
    const part = bytes.subarray(start, Math.min(bytes.byteLength, start + payloadBytes));
    const frame = new Uint8Array(FRAME_HEADER_BYTES + part.byteLength);
    const view = new DataView(frame.buffer);
    view.setUint8(0, FRAME_VERSION);
    view.setUint32(1, id >>> 0, true);
    view.setUint32(5, index, true);
    view.setUint32(9, count, true);
    view.setUint32(13, bytes.byteLength, true);
    frame.set(part, FRAME_HEADER_BYTES);
    yield frame;
  }
}

export type FrameResult =
  | { kind: 'partial' }
  /** `abandoned`: the unfinished message this one's first frame cut off (frames were lost) */
  | { kind: 'message'; id: number; bytes: Uint8Array; abandoned?: string }
  | { kind: 'malformed'; reason: string };

/** reassembly buffers start at most this large and double as frames arrive */
const INITIAL_BUFFER_BYTES = 256 * 1024;

/**
 * Reassembles the frames of one connection; never throws on bad input. Memory follows the bytes
 * that actually arrived, not the size a first frame declares: a 17-byte frame announcing a
 * 64 MiB message must not make the receiver allocate 64 MiB.
 */
export class Reassembler {
  private current: { id: number; count: number; next: number; total: number; filled: number; buffer: Uint8Array } | null = null;

  constructor(private readonly maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES) {}

  push(frame: Uint8Array): FrameResult {
    const bad = (reason: string): FrameResult => {
      this.current = null;
      return { kind: 'malformed', reason };
    };
    if (!(frame instanceof Uint8Array)) return bad('frame is not binary');
    if (frame.byteLength < FRAME_HEADER_BYTES) return bad(`frame of ${frame.byteLength} bytes is shorter than the header`);
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const version = view.getUint8(0);
    if (version !== FRAME_VERSION) return bad(`unknown frame version ${version}`);
    const id = view.getUint32(1, true);
    const index = view.getUint32(5, true);
    const count = view.getUint32(9, true);
    const total = view.getUint32(13, true);
    const payload = frame.subarray(FRAME_HEADER_BYTES);

    if (index === 0) {
      // a new message while one is unfinished means frames were lost: start over, and say so
      const abandoned = this.current;
      this.current = null;
      if (count === 0 || count > total + 1) return bad(`chunk count ${count} impossible for ${total} bytes`);
      if (total > this.maxMessageBytes) return bad(`message of ${total} bytes exceeds the ${this.maxMessageBytes}-byte cap`);
      this.current = { id, count, next: 0, total, filled: 0, buffer: new Uint8Array(Math.min(total, INITIAL_BUFFER_BYTES)) };
      const started = this.accept(payload);
      if (!abandoned || started.kind === 'malformed') return started;
      const reason = `message ${abandoned.id} abandoned after ${abandoned.next} of ${abandoned.count} chunks`;
      // the new message is whole in this one frame: deliver it, with the loss noted
      return started.kind === 'message' ? { ...started, abandoned: reason } : { kind: 'malformed', reason };
    }
    const cur = this.current;
    if (!cur) return bad(`chunk ${index} of message ${id} without its first chunk`);
    if (id !== cur.id || index !== cur.next || count !== cur.count || total !== cur.total) {
      return bad(`frame (id ${id}, chunk ${index}/${count}) does not continue message ${cur.id} at chunk ${cur.next}/${cur.count}`);
    }
    return this.accept(payload);
  }

  private accept(payload: Uint8Array): FrameResult {
    const cur = this.current!;
    const filled = cur.filled + payload.byteLength;
    if (filled > cur.total) {
      this.current = null;
      return { kind: 'malformed', reason: `message ${cur.id} overflows its declared ${cur.total} bytes` };
    }
    if (filled > cur.buffer.byteLength) {
      const grown = new Uint8Array(Math.min(cur.total, Math.max(filled, 2 * cur.buffer.byteLength)));
      grown.set(cur.buffer.subarray(0, cur.filled));
      cur.buffer = grown;
    }
    cur.buffer.set(payload, cur.filled);
    cur.filled = filled;
    cur.next++;
    if (cur.next < cur.count) return { kind: 'partial' };
    this.current = null;
    if (cur.filled !== cur.total) return { kind: 'malformed', reason: `message ${cur.id} ended at ${cur.filled} of ${cur.total} bytes` };
    return { kind: 'message', id: cur.id, bytes: cur.buffer };
  }
}
