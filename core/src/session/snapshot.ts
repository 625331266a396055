import { SNAPSHOT_CHUNK_FLOATS, type SnapshotMessage } from '../protocol/messages';
import { hashPair } from './hash';

/**
 * Snapshots travel as pieces of the 2d-float vector x || x_prev (64 KiB each), so no single
 * message nears a data channel's size limit (simple-peer #895, #934).
 */
export interface SnapshotState {
  readonly round: number;
  readonly x: Float32Array;
  readonly xPrev: Float32Array;
}

export type SnapshotPiece = Pick<SnapshotMessage, 'round' | 'hash' | 'd' | 'offset' | 'data'>;

export function snapshotPieces(state: SnapshotState): SnapshotPiece[] {
  const d = state.x.length;
  const hash = hashPair(state.x, state.xPrev);
  const pieces: SnapshotPiece[] = [];
  for (let offset = 0; offset < 2 * d; offset += SNAPSHOT_CHUNK_FLOATS) {
    const end = Math.min(2 * d, offset + SNAPSHOT_CHUNK_FLOATS);
    const chunk = new Float32Array(end - offset);
    // a piece may straddle the x / x_prev boundary
    const xEnd = Math.min(end, d);
    if (offset < xEnd) chunk.set(state.x.subarray(offset, xEnd), 0);
    if (end > d) chunk.set(state.xPrev.subarray(Math.max(offset, d) - d, end - d), Math.max(0, d - offset));
    pieces.push({ round: state.round, hash, d, offset, data: new Uint8Array(chunk.buffer) });
  }
  return pieces;
}

/** Collects the pieces of one snapshot; a piece of a different snapshot starts over. */
export class SnapshotAssembler {
  private key = '';
  private buf: Float32Array | null = null;
  private got = new Set<number>();
  private total = 0;

  constructor(private readonly d: number) {}

  /** the complete, hash-checked state once the last piece is in; throws on a bad piece */
  add(from: string, piece: SnapshotPiece): SnapshotState | null {
    if (piece.d !== this.d) throw new Error(`snapshot for d = ${piece.d}, this session has d = ${this.d}`);
    if (piece.offset % SNAPSHOT_CHUNK_FLOATS !== 0) throw new Error(`snapshot piece offset ${piece.offset} is not on a piece boundary`);
    const n = piece.data.byteLength / 4;
    const expected = Math.min(SNAPSHOT_CHUNK_FLOATS, 2 * this.d - piece.offset);
    if (n !== expected) throw new Error(`snapshot piece at ${piece.offset} has ${n} values, expected ${expected}`);
    const key = `${from}/${piece.round}/${piece.hash}`;
    if (key !== this.key || this.buf === null) {
      this.key = key;
      this.buf = new Float32Array(2 * this.d);
      this.got = new Set();
      this.total = Math.ceil((2 * this.d) / SNAPSHOT_CHUNK_FLOATS);
    }
    const bytes = new Uint8Array(this.buf.buffer, piece.offset * 4, n * 4);
    bytes.set(piece.data);
    this.got.add(piece.offset);
    if (this.got.size < this.total) return null;
    const x = this.buf.slice(0, this.d);
    const xPrev = this.buf.slice(this.d);
    this.reset();
    const actual = hashPair(x, xPrev);
    if (actual !== piece.hash) throw new Error(`snapshot from ${from} hashes to ${actual}, announced ${piece.hash}`);
    return { round: piece.round, x, xPrev };
  }

  reset(): void {
    this.key = '';
    this.buf = null;
    this.got = new Set();
  }
}
