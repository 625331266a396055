import { Packr } from 'msgpackr';
import { DecodeError, describeValue } from '../decode-error';

/**
 * The wire protocol between peers of one session (docs/protocol.md has the table).
 *
 * Every message is one msgpack map with `v` (protocol version), `type` and `session`; the round
 * messages carry `term` and `round`. Ballots, verdicts and snapshots travel as msgpack `bin`
 * (Uint8Array), never as arrays of numbers: a packed sign vector of d coordinates is d/8 bytes on
 * the wire, not d numbers. The payloads of ballots and verdicts are opaque bytes from the
 * strategy's codec, so the protocol does not change when an algorithm does.
 *
 * Decoding is guarded by hand-written checks rather than a schema library: ballots are the hot
 * path (one per peer per round), and the checks below cost a few property reads.
 */

export const PROTOCOL_VERSION = 2;
/** a message larger than this is refused before msgpack even looks at it */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** snapshot pieces: 64 KiB of fp32, under every data-channel message limit we know of */
export const SNAPSHOT_CHUNK_FLOATS = 16_384;
const MAX_SESSION_CHARS = 256;
/** counted-bitmap bytes: up to 8192 peers in one term */
const MAX_COUNTED_BYTES = 1024;
/** a latency (ms) above this is a bug or a hostile peer, not a slow one */
const MAX_LATENCY_MS = 0xffffffff;
const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
/** vote shards of a term (config.voteShards is at most 1000) */
const MAX_VOTE_SHARDS = 1024;

export type Hash = string;

interface Header {
  readonly v: typeof PROTOCOL_VERSION;
  readonly session: string;
}

/**
 * worker -> aggregator: this peer's ballot for `round`, computed at parameters with `hash`.
 * With `slice` j (a term of k > 1 vote shards, docs/session.md "Vote shards"): the ballot cut to
 * vote shard j's range, sent to that shard's aggregator; absent: the whole ballot.
 */
export interface BallotMessage extends Header {
  readonly type: 'ballot';
  readonly term: number;
  readonly round: number;
  readonly hash: Hash;
  readonly payload: Uint8Array;
  readonly slice?: number;
}

/**
 * The update of `round`, as decided by the aggregator of term `origin`; broadcast by the current
 * aggregator (`term`), or replayed to it by a peer during failover. `base` is the hash of the
 * parameters it applies to; `hash`, the hash after applying, comes with replays only: the
 * aggregator broadcasts a fresh verdict before applying it itself (the next ballots' hashes check
 * the result instead). `counted` is a bitmap over the
 * membership of term `origin` (join order) of the ballots that were tallied. `latencies`, when
 * present, has one entry per set bit of `counted`, in the same order: the ms from the round's
 * opening at the deciding aggregator to that ballot's arrival (a few bytes per voter, so every
 * peer can show every peer's latency). `agreement`, when present, is one byte per counted ballot
 * in the same order: round(255 x the share of coordinates on which that ballot agreed with this
 * update), so every peer can show who votes against the group (docs/session.md). Both are
 * optional: a decoder of this version that predates a field ignores it. With `slice` j, the
 * message is vote shard j's part of a fresh verdict, broadcast by that shard's aggregator: its
 * payload is the update of the shard's range only, and `counted`, `latencies` and `agreement`
 * are that shard's tally (never a replay: replays are whole verdicts).
 */
export interface VerdictMessage extends Header {
  readonly type: 'verdict';
  readonly term: number;
  readonly round: number;
  readonly origin: number;
  readonly base: Hash;
  readonly hash?: Hash;
  readonly counted: Uint8Array;
  readonly payload: Uint8Array;
  readonly latencies?: readonly number[];
  readonly agreement?: Uint8Array;
  readonly slice?: number;
}

/** aggregator -> peer: voting for `round` is open in this term; parameters should hash to `hash` */
export interface OpenMessage extends Header {
  readonly type: 'open';
  readonly term: number;
  readonly round: number;
  readonly hash: Hash;
}

/**
 * peer -> aggregator at the start of every term: "I have applied rounds [0, round), my
 * parameters hash to `hash`, I still hold the verdicts of rounds [oldest, round)". `started`:
 * this peer has seen the live session start (a quorum of `expectedPeers`, or a round opened by
 * an aggregator that had); a peer resumed from a checkpoint reports false until then, so a
 * resumed session waits for its quorum again (docs/session.md). Absent reads as false.
 */
export interface StatusMessage extends Header {
  readonly type: 'status';
  readonly term: number;
  readonly round: number;
  readonly hash: Hash;
  readonly oldest: number;
  readonly started?: boolean;
}

/** aggregator -> peer during failover: replay your verdicts of rounds [from, to) to me */
export interface FetchMessage extends Header {
  readonly type: 'fetch';
  readonly term: number;
  readonly from: number;
  readonly to: number;
}

/** any peer -> any peer: send me a snapshot; I am at `round` with `hash` */
export interface SyncMessage extends Header {
  readonly type: 'sync';
  readonly term: number;
  readonly round: number;
  readonly hash: Hash;
}

/**
 * One piece of a snapshot: x followed by x_prev, 2d fp32 values (little-endian), of which this
 * piece holds [offset, offset + data.length / 4). `hash` is the pair hash of (x, x_prev).
 */
export interface SnapshotMessage extends Header {
  readonly type: 'snapshot';
  readonly term: number;
  readonly round: number;
  readonly hash: Hash;
  readonly d: number;
  readonly offset: number;
  readonly data: Uint8Array;
}

export type Message =
  | BallotMessage
  | VerdictMessage
  | OpenMessage
  | StatusMessage
  | FetchMessage
  | SyncMessage
  | SnapshotMessage;
export type MessageType = Message['type'];
const messageTypes: readonly MessageType[] = ['ballot', 'verdict', 'open', 'status', 'fetch', 'sync', 'snapshot'];

export type ProtocolErrorReason = 'too-large' | 'malformed' | 'version' | 'unknown-type' | 'invalid';

/** A message that is not one this protocol version allows; `reason` for counting drops. */
export class ProtocolError extends DecodeError {
  override name = 'ProtocolError';
  constructor(
    readonly reason: ProtocolErrorReason,
    detail: string,
  ) {
    super(`${reason}: ${detail}`);
  }
}

// Plain maps, no msgpackr records or extensions: the bytes stay readable by any msgpack decoder.
const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number', mapsAsObjects: true });

/** Encodes a message (checked first, so a bug on our side never reaches the wire). */
export function encodeMessage(msg: Message): Uint8Array {
  validate(msg as unknown as Record<string, unknown>, false);
  // msgpackr returns a view into a buffer it reuses; copy so the bytes are ours
  return new Uint8Array(packr.pack(msg));
}

export interface DecodeOptions {
  readonly maxBytes?: number;
}

/** Decodes and validates; throws ProtocolError with the reason, never anything else. */
export function decodeMessage(bytes: Uint8Array, options: DecodeOptions = {}): Message {
  const max = options.maxBytes ?? MAX_MESSAGE_BYTES;
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError('malformed', 'message is not a byte array');
  if (bytes.byteLength > max) throw new ProtocolError('too-large', `${bytes.byteLength} bytes exceeds the limit of ${max}`);
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (e) {
    throw new ProtocolError('malformed', `not msgpack (${e instanceof Error ? e.message : String(e)})`);
  }
  // only a plain map: msgpackr hands out arrays, byte arrays and marker objects (0xc1) too
  if (raw === null || typeof raw !== 'object' || Object.getPrototypeOf(raw) !== Object.prototype) {
    throw new ProtocolError('malformed', 'message is not a map');
  }
  const m = raw as Record<string, unknown>;
  validate(m, true);
  return m as unknown as Message;
}

/** `own`: replace Node Buffers by plain Uint8Array views (only on decoded maps, never the caller's). */
function validate(m: Record<string, unknown>, own: boolean): void {
  if (m.v !== PROTOCOL_VERSION) throw new ProtocolError('version', `protocol version ${describeValue(m.v)}, expected ${PROTOCOL_VERSION}`);
  const type = m.type;
  if (typeof type !== 'string' || !(messageTypes as readonly string[]).includes(type)) {
    throw new ProtocolError('unknown-type', `unknown message type ${describeValue(type)}`);
  }
  const t = type as MessageType;
  if (typeof m.session !== 'string' || m.session.length === 0 || m.session.length > MAX_SESSION_CHARS) {
    throw invalid(t, 'session', `a string of 1..${MAX_SESSION_CHARS} characters`);
  }
  uint(m, t, 'term');
  switch (t) {
    case 'ballot':
      uint(m, t, 'round');
      hash(m, t, 'hash');
      put(m, 'payload', bin(m, t, 'payload', MAX_MESSAGE_BYTES), own);
      if (m.slice !== undefined) slice(m, t);
      return;
    case 'verdict':
      uint(m, t, 'round');
      uint(m, t, 'origin');
      if ((m.origin as number) > (m.term as number)) throw invalid(t, 'origin', 'a term no later than term');
      hash(m, t, 'base');
      if (m.hash !== undefined) hash(m, t, 'hash');
      put(m, 'counted', bin(m, t, 'counted', MAX_COUNTED_BYTES), own);
      put(m, 'payload', bin(m, t, 'payload', MAX_MESSAGE_BYTES), own);
      if (m.latencies !== undefined) latencies(m.latencies, countBits(m.counted as Uint8Array));
      if (m.agreement !== undefined) {
        const a = bin(m, t, 'agreement', MAX_COUNTED_BYTES * 8);
        if (a.byteLength !== countBits(m.counted as Uint8Array)) throw invalid(t, 'agreement', 'one byte per counted ballot');
        put(m, 'agreement', a, own);
      }
      if (m.slice !== undefined) {
        slice(m, t);
        if (m.hash !== undefined) throw invalid(t, 'hash', 'absent on a vote shard\'s part (replays are whole verdicts)');
      }
      return;
    case 'open':
      uint(m, t, 'round');
      hash(m, t, 'hash');
      return;
    case 'status':
      uint(m, t, 'round');
      hash(m, t, 'hash');
      uint(m, t, 'oldest');
      if ((m.oldest as number) > (m.round as number)) throw invalid(t, 'oldest', 'at most round');
      if (m.started !== undefined && typeof m.started !== 'boolean') throw invalid(t, 'started', 'a boolean');
      return;
    case 'fetch':
      uint(m, t, 'from');
      uint(m, t, 'to');
      if ((m.from as number) >= (m.to as number)) throw invalid(t, 'from', 'less than to');
      return;
    case 'sync':
      uint(m, t, 'round');
      hash(m, t, 'hash');
      return;
    case 'snapshot': {
      uint(m, t, 'round');
      hash(m, t, 'hash');
      uint(m, t, 'd');
      uint(m, t, 'offset');
      const data = bin(m, t, 'data', MAX_CHUNK_BYTES);
      const d = m.d as number;
      const offset = m.offset as number;
      if (d === 0 || d > 0x3fffffff) throw invalid(t, 'd', 'in [1, 2^30)');
      if (data.byteLength === 0 || data.byteLength % 4 !== 0) throw invalid(t, 'data', 'a non-empty whole number of fp32 values');
      if (offset + data.byteLength / 4 > 2 * d) throw invalid(t, 'offset', 'a piece inside x || x_prev (2d values)');
      put(m, 'data', data, own);
      return;
    }
    default: {
      const _exhaustive: never = t;
      throw new ProtocolError('unknown-type', String(_exhaustive));
    }
  }
}

function put(m: Record<string, unknown>, field: string, value: Uint8Array, own: boolean): void {
  if (own) m[field] = value;
}

function invalid(type: MessageType, field: string, expected: string): ProtocolError {
  return new ProtocolError('invalid', `${type}.${field} must be ${expected}`);
}

function uint(m: Record<string, unknown>, type: MessageType, field: string): void {
  const x = m[field];
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw invalid(type, field, 'a non-negative integer');
}

function slice(m: Record<string, unknown>, type: MessageType): void {
  uint(m, type, 'slice');
  if ((m.slice as number) >= MAX_VOTE_SHARDS) throw invalid(type, 'slice', `a vote shard below ${MAX_VOTE_SHARDS}`);
}

function latencies(x: unknown, voters: number): void {
  if (!Array.isArray(x) || x.length !== voters) throw invalid('verdict', 'latencies', `an array of ${voters} values (one per counted ballot)`);
  for (const v of x) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_LATENCY_MS) throw invalid('verdict', 'latencies', `integers in [0, ${MAX_LATENCY_MS}]`);
  }
}

/** set bits of a counted bitmap: the number of ballots a verdict tallied */
export function countBits(bits: Uint8Array): number {
  let n = 0;
  for (const b of bits) {
    let v = b;
    while (v) {
      v &= v - 1;
      n++;
    }
  }
  return n;
}

function hash(m: Record<string, unknown>, type: MessageType, field: string): void {
  const x = m[field];
  if (typeof x !== 'string' || x.length !== 16 || !/^[0-9a-f]{16}$/.test(x)) throw invalid(type, field, '16 hex digits');
}

/** A plain Uint8Array view (msgpackr hands out Node Buffers, which behave differently on slice). */
function bin(m: Record<string, unknown>, type: MessageType, field: string, max: number): Uint8Array {
  const x = m[field];
  if (!(x instanceof Uint8Array)) throw invalid(type, field, 'binary (Uint8Array)');
  if (x.byteLength > max) throw invalid(type, field, `at most ${max} bytes`);
  return x.constructor === Uint8Array ? x : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}
