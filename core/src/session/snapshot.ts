import { SNAPSHOT_CHUNK_FLOATS, type SnapshotMessage } from '../protocol/messages';
import { DecodeError, describeValue } from '../decode-error';
import { hashPair } from './hash';

/**
 * Snapshots travel as pieces of the 2d-float vector x || x_prev (64 KiB each), so no single
 * message nears a data channel's size limit (simple-peer #895, #934). At d = 10M that is 80 MB
 * in 1,226 pieces: the sender makes them one at a time as the channel drains (outbox.ts), and
 * the receiver fills one 8d-byte buffer in place.
 */
export interface SnapshotState {
  readonly round: number;
  readonly x: Float32Array;
  readonly xPrev: Float32Array;
}

export type SnapshotPiece = Pick<SnapshotMessage, 'round' | 'hash' | 'd' | 'offset' | 'data'>;

/** The pieces of `state`, each made when asked for: `state` must not change until the last is taken. */
export function* snapshotPieces(state: SnapshotState): Generator<SnapshotPiece, void, undefined> {
  const d = state.x.length;
  const hash = hashPair(state.x, state.xPrev);
  for (let offset = 0; offset < 2 * d; offset += SNAPSHOT_CHUNK_FLOATS) {
    const end = Math.min(2 * d, offset + SNAPSHOT_CHUNK_FLOATS);
    const chunk = new Float32Array(end - offset);
    // a piece may straddle the x / x_prev boundary
    const xEnd = Math.min(end, d);
    if (offset < xEnd) chunk.set(state.x.subarray(offset, xEnd), 0);
    if (end > d) chunk.set(state.xPrev.subarray(Math.max(offset, d) - d, end - d), Math.max(0, d - offset));
    yield { round: state.round, hash, d, offset, data: new Uint8Array(chunk.buffer) };
  }
}

/** Collects the pieces of one snapshot; a piece of a different snapshot starts over. */
export class SnapshotAssembler {
  private key = '';
  private buf: Float32Array | null = null;
  private got = new Set<number>();
  private total = 0;

  constructor(private readonly d: number) {}

  /**
   * The complete, hash-checked state once the last piece is in, else null. A bad piece throws a
   * DecodeError and changes nothing; a piece of another snapshot (another sender, round or hash)
   * starts over.
   */
  add(from: string, piece: SnapshotPiece): SnapshotState | null {
    if (piece.d !== this.d) throw new DecodeError(`snapshot for d = ${describeValue(piece.d)}, this session has d = ${this.d}`);
    const { offset, data } = piece;
    if (!(Number.isSafeInteger(offset) && offset >= 0 && offset < 2 * this.d && offset % SNAPSHOT_CHUNK_FLOATS === 0)) {
      throw new DecodeError(`snapshot piece offset ${describeValue(offset)} is not a piece boundary in [0, ${2 * this.d})`);
    }
    if (!Number.isSafeInteger(piece.round) || piece.round < 0) throw new DecodeError(`snapshot round ${describeValue(piece.round)} is not a round`);
    if (!(data instanceof Uint8Array)) throw new DecodeError('snapshot piece data must be binary');
    const n = data.byteLength / 4;
    const expected = Math.min(SNAPSHOT_CHUNK_FLOATS, 2 * this.d - offset);
    if (n !== expected) throw new DecodeError(`snapshot piece at ${offset} has ${n} values, expected ${expected}`);
    const key = `${from}/${piece.round}/${piece.hash}`;
    if (key !== this.key || this.buf === null) {
      this.key = key;
      this.buf = new Float32Array(2 * this.d);
      this.got = new Set();
      this.total = Math.ceil((2 * this.d) / SNAPSHOT_CHUNK_FLOATS);
    }
    new Uint8Array(this.buf.buffer, offset * 4, n * 4).set(data);
    this.got.add(offset);
    if (this.got.size < this.total) return null;
    // views, not copies: the replica copies what it installs, so a third 8d bytes is not needed
    const x = this.buf.subarray(0, this.d);
    const xPrev = this.buf.subarray(this.d);
    this.reset();
    const actual = hashPair(x, xPrev);
    if (actual !== piece.hash) throw new DecodeError(`snapshot from ${from} hashes to ${actual}, announced ${describeValue(piece.hash)}`);
    return { round: piece.round, x, xPrev };
  }

  reset(): void {
    this.key = '';
    this.buf = null;
    this.got = new Set();
  }
}
