import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, SNAPSHOT_CHUNK_FLOATS, type SnapshotMessage } from '../protocol/messages';
import { SnapshotAssembler, snapshotPieces, type SnapshotPiece, type SnapshotState } from '../session/snapshot';
import { budget, check, decodeOrTypedError, mutated, paramHash, reportCases, FUZZ_TIMEOUT_MS } from './harness';

/**
 * Snapshot pieces (session/snapshot.ts): whatever decodeMessage lets through as a snapshot, and
 * pieces with arbitrary numbers, go to a SnapshotAssembler. A rejected piece must leave no
 * trace: the snapshot being assembled still completes, bit for bit.
 */

afterAll(() => reportCases('snapshot'));

/** one piece, two (straddling x | x_prev), and three pieces */
const dim = fc.constantFrom(1, 5, SNAPSHOT_CHUNK_FLOATS / 2, SNAPSHOT_CHUNK_FLOATS / 2 + 3, SNAPSHOT_CHUNK_FLOATS + 1);

/** a state of d parameters, drawn as (round, seed) so a counterexample prints short */
const state = fc.record({ round: fc.nat({ max: 100 }), seed: fc.nat() });
type StateSeed = { round: number; seed: number };

function stateOf(d: number, { round, seed }: StateSeed): SnapshotState {
  const x = new Float32Array(d), xPrev = new Float32Array(d);
  for (let i = 0; i < d; i++) {
    x[i] = Math.sin(seed + i);
    xPrev[i] = Math.cos(seed - i);
  }
  return { round, x, xPrev };
}

/** pieces with any numbers in them, as a caller other than decodeMessage could pass */
const rawPiece = (d: number): fc.Arbitrary<SnapshotPiece> =>
  fc.record({
    round: fc.oneof(fc.nat({ max: 100 }), fc.constantFrom(-1, 1.5, Number.NaN)),
    hash: paramHash,
    d: fc.oneof(fc.constant(d), fc.integer({ min: -2, max: 2 * d }), fc.constantFrom(Number.NaN, Infinity, 0.5)),
    offset: fc.oneof(
      fc.constantFrom(0, SNAPSHOT_CHUNK_FLOATS, 2 * SNAPSHOT_CHUNK_FLOATS, -SNAPSHOT_CHUNK_FLOATS, -0, 2 * d, Number.NaN, Infinity, SNAPSHOT_CHUNK_FLOATS + 0.5),
      fc.integer({ min: -4 * d, max: 4 * d }),
    ),
    data: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 2 * d + 2 }).map((n) => new Uint8Array(4 * Math.min(n, SNAPSHOT_CHUNK_FLOATS)))),
  });

/** pieces that a mutated snapshot message decodes to (when it still decodes as one) */
const decodedPiece = (valid: SnapshotPiece[]): fc.Arbitrary<SnapshotPiece | null> =>
  mutated(fc.constantFrom(...valid).map((p) => encodeMessage({ v: 2, session: 's', type: 'snapshot', term: 0, ...p })), 3).map((bytes) => {
    try {
      const m = decodeMessage(bytes);
      return m.type === 'snapshot' ? (m as SnapshotMessage) : null;
    } catch {
      return null;
    }
  });

function assemble(d: number, s: SnapshotState, order: number[], garbage: { at: number; piece: SnapshotPiece | null }[]): void {
  const pieces = [...snapshotPieces(s)];
  const assembler = new SnapshotAssembler(d);
  let accepted = 0;
  let result: SnapshotState | null = null;
  const sequence: SnapshotPiece[] = order.map((i) => pieces[i % pieces.length]);
  // garbage goes anywhere before the last valid piece
  for (const g of garbage) if (g.piece !== null) sequence.splice(g.at % sequence.length, 0, g.piece);
  const firstTime = new Set<SnapshotPiece>();
  for (const piece of sequence) {
    const isValid = pieces.includes(piece);
    const out = decodeOrTypedError(() => assembler.add('peer', piece));
    if ('value' in out && out.value !== null) result = out.value;
    // a piece of the right shape that corrupts the content is caught only by the hash of the
    // whole snapshot, which then starts over: it passed every check one piece can be given
    if (!isValid && ('value' in out || /hashes to/.test(out.error.message))) accepted++;
    if (isValid) firstTime.add(piece);
  }
  // every piece sent at least once, no garbage accepted: the snapshot is exactly the state
  if (accepted === 0 && pieces.every((p) => firstTime.has(p))) {
    expect(result).not.toBeNull();
    expect(result!.round).toBe(s.round);
    // bytewise: vitest's deep equality walks a 16k-element array slowly
    expect(sameBits(result!.x, s.x) && sameBits(result!.xPrev, s.xPrev)).toBe(true);
  }
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

describe('fuzz: snapshot pieces (SnapshotAssembler)', () => {
  it('pieces with arbitrary numbers: a DecodeError, and the snapshot in progress still completes', () => {
    const arb = dim.chain((d) =>
      fc.tuple(fc.constant(d), state, fc.array(fc.record({ at: fc.nat(), piece: rawPiece(d) }), { maxLength: 6 })),
    );
    check(
      fc.property(arb, ([d, seed, garbage]) => {
        const s = stateOf(d, seed);
        const n = [...snapshotPieces(s)].length;
        assemble(d, s, Array.from({ length: n }, (_, i) => i), garbage);
      }),
      budget(400, 0.2),
    );
  }, FUZZ_TIMEOUT_MS);

  it('mutated snapshot messages that still decode: a DecodeError or accepted, never another throw', () => {
    const arb = dim.chain((d) =>
      state.chain((seed) => {
        const valid = [...snapshotPieces(stateOf(d, seed))];
        return fc.tuple(
          fc.constant(d),
          fc.constant(seed),
          fc.array(fc.nat(), { minLength: valid.length, maxLength: valid.length + 2 }),
          fc.array(fc.record({ at: fc.nat(), piece: decodedPiece(valid) }), { maxLength: 4 }),
        );
      }),
    );
    check(
      fc.property(arb, ([d, seed, order, garbage]) => {
        const s = stateOf(d, seed);
        const n = [...snapshotPieces(s)].length;
        // every piece once, then the drawn repeats (duplicates are harmless)
        assemble(d, s, [...Array.from({ length: n }, (_, i) => i), ...order.slice(n)], garbage);
      }),
      budget(200, 0.1),
    );
  }, FUZZ_TIMEOUT_MS);
});
