import { DecodeError, decodeCheck } from '../decode-error';
import { checkPacked, checkVerdict, decodeVerdict, encodeVerdict, encodedVerdictBytes, packedBytes } from '../signs';
import type { Ballot, BallotKind, TrustedBallot, TrustedUpdate, Update, UpdateKind } from './strategy';

/**
 * Wire forms of ballots and updates: what the protocol layer carries as opaque binary, and
 * what the byte accounting counts. Byte 0 is a tag, then the payload:
 *
 * ballot  0x01 signs         1 + ceil(d/8)       packed sign bits (core/src/signs layout)
 *         0x02 dense         1 + 4d              float32 little-endian
 *         0x03 scaled-signs  1 + 4 + ceil(d/8)   float32 LE scale, then sign bits
 * update  0x00..0x02 verdict exactly `encodeVerdict` (its own form tag: no ties / bitmap / list)
 *         0x80 dense         1 + 4d              float32 little-endian
 *
 * Decoders reject wrong lengths, unknown tags, nonzero padding bits and non-finite floats (and,
 * given one, another kind than expected) with a DecodeError that names the problem, so a
 * malformed or poisoned message from a peer fails here and never reaches the tally or the
 * parameters. What they return is `Trusted`: the strategy's `aggregate` and `apply` check nothing
 * again.
 */

const BALLOT_SIGNS = 0x01;
const BALLOT_DENSE = 0x02;
const BALLOT_SCALED_SIGNS = 0x03;
const UPDATE_DENSE = 0x80;

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

export function ballotBytes(kind: BallotKind, d: number): number {
  const B = packedBytes(d);
  switch (kind) {
    case 'signs':
      return 1 + B;
    case 'dense':
      return 1 + 4 * d;
    case 'scaled-signs':
      return 1 + 4 + B;
  }
}

/** Size of an update without ties (the common case; see `encodedUpdateBytes` for the exact one). */
export function updateBytes(kind: UpdateKind, d: number): number {
  if (kind === 'verdict') return encodedVerdictBytes(d, 0);
  packedBytes(d); // validates d
  return 1 + 4 * d;
}

/** Exact encoded size of this update. */
export function encodedUpdateBytes(update: Update, d: number): number {
  if (update.kind === 'dense') return updateBytes('dense', d);
  let ties = 0;
  if (update.ties !== null) for (const b of update.ties) ties += popcount8(b);
  return encodedVerdictBytes(d, ties);
}

function checkFinite(values: Float32Array, what: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) throw new RangeError(`${what} has a non-finite value ${v} at coordinate ${i}`);
  }
}

function checkDense(values: Float32Array, d: number, what: string): void {
  if (!(values instanceof Float32Array)) throw new TypeError(`${what} must be a Float32Array`);
  if (values.length !== d) throw new RangeError(`${what} has ${values.length} values, expected d = ${d}`);
  checkFinite(values, what);
}

function checkScale(scale: number, what: string): void {
  if (!(typeof scale === 'number' && Number.isFinite(scale) && scale >= 0)) {
    throw new RangeError(`${what} scale must be a finite number >= 0, got ${scale}`);
  }
}

/** Throws unless `ballot` is a well-formed ballot of d coordinates. */
export function checkBallot(ballot: Ballot, d: number, what = 'ballot'): void {
  if (ballot === null || typeof ballot !== 'object') throw new TypeError(`${what} must be an object`);
  switch (ballot.kind) {
    case 'signs':
      checkPacked(ballot.bits, d, `${what} bits`);
      return;
    case 'dense':
      checkDense(ballot.values, d, `${what} values`);
      return;
    case 'scaled-signs':
      checkScale(ballot.scale, what);
      checkPacked(ballot.bits, d, `${what} bits`);
      return;
    default:
      throw new TypeError(`${what} has unknown kind ${String((ballot as { kind: unknown }).kind)}`);
  }
}

/** `ballot`, checked (as `checkBallot`) and marked trusted: for ballots built in-process. */
export function trustBallot(ballot: Ballot, d: number): TrustedBallot {
  checkBallot(ballot, d);
  return ballot as TrustedBallot;
}

/** `update`, checked (as `checkUpdate`) and marked trusted: for updates built in-process. */
export function trustUpdate(update: Update, d: number): TrustedUpdate {
  checkUpdate(update, d);
  return update as TrustedUpdate;
}

export function checkUpdate(update: Update, d: number, what = 'update'): void {
  if (update === null || typeof update !== 'object') throw new TypeError(`${what} must be an object`);
  switch (update.kind) {
    case 'verdict':
      checkVerdict(update, d, what);
      return;
    case 'dense':
      checkDense(update.values, d, `${what} values`);
      return;
    default:
      throw new TypeError(`${what} has unknown kind ${String((update as { kind: unknown }).kind)}`);
  }
}

function writeFloats(out: Uint8Array, at: number, values: Float32Array): void {
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), at);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < values.length; i++) view.setFloat32(at + 4 * i, values[i], true);
}

function readFloats(bytes: Uint8Array, at: number, d: number): Float32Array {
  if (LITTLE_ENDIAN) return new Float32Array(bytes.slice(at, at + 4 * d).buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(d);
  for (let i = 0; i < d; i++) out[i] = view.getFloat32(at + 4 * i, true);
  return out;
}

function checkBytes(bytes: Uint8Array, what: string): void {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError(`encoded ${what} must be a Uint8Array`);
  if (bytes.length === 0) throw new DecodeError(`encoded ${what} is empty`);
}

function checkSize(bytes: Uint8Array, expected: number, what: string, d: number): void {
  if (bytes.length !== expected) {
    throw new DecodeError(`encoded ${what} has ${bytes.length} bytes, expected ${expected} for d = ${d}`);
  }
}

export function encodeBallot(ballot: Ballot, d: number): Uint8Array {
  checkBallot(ballot, d);
  const out = new Uint8Array(ballotBytes(ballot.kind, d));
  switch (ballot.kind) {
    case 'signs':
      out[0] = BALLOT_SIGNS;
      out.set(ballot.bits, 1);
      break;
    case 'dense':
      out[0] = BALLOT_DENSE;
      writeFloats(out, 1, ballot.values);
      break;
    case 'scaled-signs': {
      out[0] = BALLOT_SCALED_SIGNS;
      new DataView(out.buffer).setFloat32(1, ballot.scale, true);
      out.set(ballot.bits, 5);
      break;
    }
  }
  return out;
}

/**
 * The ballot in `bytes`, checked for d (and, given `kind`, of that kind); throws a DecodeError
 * naming the problem on any malformed input.
 */
export function decodeBallot(bytes: Uint8Array, d: number, kind?: BallotKind): TrustedBallot {
  packedBytes(d); // a bad d is the caller's bug (RangeError), not bad input
  checkBytes(bytes, 'ballot');
  const tag = bytes[0];
  let ballot: Ballot;
  if (tag === BALLOT_SIGNS) {
    checkSize(bytes, ballotBytes('signs', d), 'signs ballot', d);
    ballot = { kind: 'signs', bits: bytes.slice(1) };
  } else if (tag === BALLOT_DENSE) {
    checkSize(bytes, ballotBytes('dense', d), 'dense ballot', d);
    ballot = { kind: 'dense', values: readFloats(bytes, 1, d) };
  } else if (tag === BALLOT_SCALED_SIGNS) {
    checkSize(bytes, ballotBytes('scaled-signs', d), 'scaled-signs ballot', d);
    const scale = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat32(1, true);
    ballot = { kind: 'scaled-signs', scale, bits: bytes.slice(5) };
  } else {
    throw new DecodeError(`encoded ballot has unknown tag 0x${tag.toString(16)}`);
  }
  if (kind !== undefined && ballot.kind !== kind) throw new DecodeError(`a ${ballot.kind} ballot, expected ${kind}`);
  decodeCheck(() => checkBallot(ballot, d, 'decoded ballot'));
  return ballot as TrustedBallot;
}

export function encodeUpdate(update: Update, d: number): Uint8Array {
  checkUpdate(update, d);
  if (update.kind === 'verdict') return encodeVerdict(update, d);
  const out = new Uint8Array(updateBytes('dense', d));
  out[0] = UPDATE_DENSE;
  writeFloats(out, 1, update.values);
  return out;
}

/**
 * The update in `bytes`, checked for d (and, given `kind`, of that kind); throws a DecodeError
 * naming the problem on any malformed input.
 */
export function decodeUpdate(bytes: Uint8Array, d: number, kind?: UpdateKind): TrustedUpdate {
  packedBytes(d); // a bad d is the caller's bug (RangeError), not bad input
  checkBytes(bytes, 'update');
  const found: UpdateKind = bytes[0] === UPDATE_DENSE ? 'dense' : 'verdict';
  if (kind !== undefined && found !== kind) throw new DecodeError(`a ${found} update, expected ${kind}`);
  if (found === 'dense') {
    checkSize(bytes, updateBytes('dense', d), 'dense update', d);
    const values = readFloats(bytes, 1, d);
    decodeCheck(() => checkDense(values, d, 'decoded update values'));
    return { kind: 'dense', values } as TrustedUpdate;
  }
  // every other tag is one of encodeVerdict's forms; decodeVerdict names a bad tag or length
  const verdict = decodeVerdict(bytes, d);
  return { kind: 'verdict', signs: verdict.signs, ties: verdict.ties } as TrustedUpdate;
}

function popcount8(b: number): number {
  b = b - ((b >>> 1) & 0x55);
  b = (b & 0x33) + ((b >>> 2) & 0x33);
  return (b + (b >>> 4)) & 0x0f;
}
