import { Packr } from 'msgpackr';
import { DecodeError, decodeCheck, describeValue } from '../decode-error';
import { restoreRng, type RngState } from '../random';
import { hashPair, paramHashPattern } from './hash';

/**
 * A saved session as one peer holds it: the shared parameters at a round boundary, and this
 * peer's own worker memory (momentum or error-feedback residual, its stochastic-sign stream and
 * where its data sampler stood), so a resumed peer votes exactly as it would have. A checkpoint
 * without memory (older ones) resumes with zero memory, as a late joiner.
 */
export interface Checkpoint {
  readonly session: string;
  /** rounds applied: the parameters are x^round */
  readonly round: number;
  readonly x: Float32Array;
  readonly xPrev: Float32Array;
  /** pair hash of (x, xPrev), checked on load */
  readonly hash: string;
  /** ms since the Unix epoch */
  readonly savedAt: number;
  readonly memory?: WorkerMemory;
}

export interface WorkerMemory {
  readonly momentum: Float32Array | null;
  readonly error: Float32Array | null;
  /** where this peer's stochastic-sign stream stood */
  readonly coins?: RngState;
  /** where this peer's data sampler stood (opaque here: the runtime's BatchSampler.state()) */
  readonly data?: Uint8Array;
}

export interface CheckpointStore {
  save(checkpoint: Checkpoint): Promise<void>;
  /** the latest checkpoint, or null if none was saved; throws on a corrupt one */
  load(): Promise<Checkpoint | null>;
}

const FORMAT = 'signvote-checkpoint';
const VERSION = 1;
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

/** packed checkpoints over this size leave msgpackr with a fresh buffer (see encodeCheckpoint) */
const RELEASE_ABOVE_BYTES = 1 << 20;

export function encodeCheckpoint(cp: Checkpoint): Uint8Array {
  checkCheckpoint(cp);
  const packed = packr.pack({
    format: FORMAT,
    version: VERSION,
    session: cp.session,
    round: cp.round,
    d: cp.x.length,
    hash: cp.hash,
    savedAt: cp.savedAt,
    x: bytesOf(cp.x),
    xPrev: bytesOf(cp.xPrev),
    ...(cp.memory?.momentum ? { momentum: bytesOf(cp.memory.momentum) } : {}),
    ...(cp.memory?.error ? { error: bytesOf(cp.memory.error) } : {}),
    ...(cp.memory ? { memoryHash: memoryHash(cp.memory) } : {}),
    ...(cp.memory?.coins ? { coins: cp.memory.coins } : {}),
    ...(cp.memory?.data ? { data: cp.memory.data } : {}),
  });
  if (packed.byteLength <= RELEASE_ABOVE_BYTES) return new Uint8Array(packed);
  // msgpackr packs into one buffer shared by every Packr of the process and keeps the largest
  // it grew (up to 1 GB): after a checkpoint of d = 10M (12d bytes) it would pin ~150 MB for
  // good, and copying the result out would take 12d more. So the packed bytes stay where they
  // are, as the only copy, and msgpackr gets a small buffer of its own for what it packs next.
  packr.useBuffer(typeof Buffer === 'function' ? Buffer.alloc(8192) : new Uint8Array(8192));
  return new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength);
}

const bytesOf = (v: Float32Array): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
const EMPTY = new Float32Array(0);
const memoryHash = (m: WorkerMemory): string => hashPair(m.momentum ?? EMPTY, m.error ?? EMPTY);

/** Inverse of encodeCheckpoint; throws a DecodeError naming the problem on a torn, foreign or tampered file. */
export function decodeCheckpoint(bytes: Uint8Array): Checkpoint {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (e) {
    throw new DecodeError(`checkpoint is not msgpack: ${e instanceof Error ? e.message : describeValue(e)}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array) throw new DecodeError('checkpoint is not a map');
  const m = raw as Record<string, unknown>;
  if (m.format !== FORMAT) throw new DecodeError(`not a signvote checkpoint (format ${describeValue(m.format)})`);
  if (m.version !== VERSION) throw new DecodeError(`checkpoint version ${describeValue(m.version)}, expected ${VERSION}`);
  if (typeof m.session !== 'string' || m.session.length === 0) throw new DecodeError('checkpoint session must be a string');
  if (!isUint(m.round)) throw new DecodeError('checkpoint round must be a non-negative integer');
  if (!isUint(m.d) || m.d === 0) throw new DecodeError('checkpoint d must be a positive integer');
  if (typeof m.savedAt !== 'number' || !Number.isFinite(m.savedAt)) throw new DecodeError('checkpoint savedAt must be a finite number');
  if (typeof m.hash !== 'string' || !paramHashPattern.test(m.hash)) throw new DecodeError('checkpoint hash must be 16 hex digits');
  const x = floats(m.x, m.d, 'x');
  const xPrev = floats(m.xPrev, m.d, 'xPrev');
  let memory: WorkerMemory | undefined;
  if (m.memoryHash !== undefined) {
    memory = {
      momentum: m.momentum === undefined ? null : floats(m.momentum, m.d, 'momentum'),
      error: m.error === undefined ? null : floats(m.error, m.d, 'error'),
      ...(m.coins !== undefined ? { coins: rngState(m.coins) } : {}),
      ...(m.data !== undefined ? { data: binary(m.data, 'data') } : {}),
    };
  } else if (m.momentum !== undefined || m.error !== undefined || m.coins !== undefined || m.data !== undefined) {
    throw new DecodeError('checkpoint has worker memory without its hash');
  }
  const cp: Checkpoint = { session: m.session, round: m.round, x, xPrev, hash: m.hash, savedAt: m.savedAt, ...(memory ? { memory } : {}) };
  decodeCheck(() => checkCheckpoint(cp));
  if (memory && memoryHash(memory) !== m.memoryHash) throw new DecodeError('checkpoint worker memory hash mismatch');
  return cp;
}

/** Throws a RangeError unless the parameters hash to the recorded hash (a torn or tampered checkpoint). */
export function checkCheckpoint(cp: Checkpoint): void {
  if (cp.x.length !== cp.xPrev.length) throw new RangeError(`checkpoint x has ${cp.x.length} values but xPrev ${cp.xPrev.length}`);
  const actual = hashPair(cp.x, cp.xPrev);
  if (actual !== cp.hash) throw new RangeError(`checkpoint hash mismatch: recorded ${cp.hash}, parameters hash to ${actual}`);
  for (const name of ['momentum', 'error'] as const) {
    const v = cp.memory?.[name];
    if (v != null && (!(v instanceof Float32Array) || v.length !== cp.x.length)) throw new RangeError(`checkpoint ${name} must hold ${cp.x.length} floats`);
  }
}

function rngState(v: unknown): RngState {
  if (v === null || typeof v !== 'object') throw new DecodeError('checkpoint coins must be a map');
  try {
    return restoreRng(v as RngState).state();
  } catch (e) {
    if (e instanceof RangeError) throw new DecodeError(`checkpoint coins: ${e.message}`, { cause: e });
    throw e;
  }
}

function binary(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new DecodeError(`checkpoint ${what} must be binary`);
  // a copy of its own: a decoded Node Buffer may be a view into a shared pool (and its slice() too)
  return new Uint8Array(v);
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function floats(v: unknown, d: number, what: string): Float32Array {
  if (!(v instanceof Uint8Array)) throw new DecodeError(`checkpoint ${what} must be binary`);
  if (v.byteLength !== 4 * d) throw new DecodeError(`checkpoint ${what} has ${v.byteLength} bytes, expected ${4 * d}`);
  // copy: the decoded bytes may sit at an offset that is not a multiple of 4
  const out = new Float32Array(d);
  new Uint8Array(out.buffer).set(v);
  return out;
}
