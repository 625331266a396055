import { packedBytes } from '../signs';
import { ballotBytes, trustUpdate } from './codec';
import type { BallotKind, TrustedUpdate, Update } from './strategy';

/**
 * Vote shards (docs/session.md, "Vote shards"): the coordinates [0, d) cut into k contiguous
 * ranges, each tallied by its own aggregator. Every strategy is coordinate-wise (strategy.ts,
 * `aggregate`), so the k updates of the ranges, joined, are exactly the update of the whole vote.
 *
 * Ranges start on a byte of the packed signs (a multiple of 8 coordinates), so a range of a
 * packed ballot or verdict is a run of whole bytes and nothing is shifted; only the last range
 * may end inside a byte, at d, where the whole vector's padding bits are. The bytes are spread
 * as evenly as whole bytes allow: ranges differ by at most one byte (8 coordinates).
 *
 * Not to be confused with a peer's data shard (its part of the training set).
 */

/** Coordinates [start, end) of one vote shard. */
export interface VoteShardRange {
  readonly start: number;
  readonly end: number;
}

/**
 * How many vote shards a term has: the configured number, at most one per member and one per
 * byte of packed signs (a range holds at least 8 coordinates, the last one at least 1).
 */
export function effectiveVoteShards(voteShards: number, members: number, d: number): number {
  if (!(Number.isInteger(voteShards) && voteShards >= 1)) throw new RangeError(`voteShards must be an integer >= 1, got ${voteShards}`);
  return Math.max(1, Math.min(voteShards, members, packedBytes(d)));
}

/** The k ranges of [0, d), in order; throws when k does not fit d (more shards than packed bytes). */
export function voteShardRanges(d: number, k: number): VoteShardRange[] {
  const bytes = packedBytes(d);
  if (!(Number.isInteger(k) && k >= 1 && k <= bytes)) throw new RangeError(`cannot cut d = ${d} (${bytes} packed bytes) into ${k} vote shards`);
  const ranges: VoteShardRange[] = [];
  for (let j = 0; j < k; j++) {
    const from = Math.floor((j * bytes) / k), to = Math.floor(((j + 1) * bytes) / k);
    ranges.push({ start: 8 * from, end: Math.min(d, 8 * to) });
  }
  return ranges;
}

/**
 * The encoded ballot (./codec, of d coordinates) cut to `range`: an encoded ballot of
 * range.end - range.start coordinates, of the same kind (EF-signSGD's scale goes with every
 * range). Throws on a payload that is not a `kind` ballot of d coordinates (this peer's own
 * ballot: a bug, not bad input).
 */
export function sliceBallot(payload: Uint8Array, kind: BallotKind, d: number, range: VoteShardRange): Uint8Array {
  if (payload.length !== ballotBytes(kind, d)) throw new RangeError(`a ${kind} ballot of d = ${d} has ${ballotBytes(kind, d)} bytes, got ${payload.length}`);
  const { start, end } = range;
  if (!(start % 8 === 0 && start < end && end <= d)) throw new RangeError(`bad vote shard range [${start}, ${end}) of d = ${d}`);
  const n = end - start;
  const out = new Uint8Array(ballotBytes(kind, n));
  switch (kind) {
    case 'signs':
      out[0] = payload[0];
      out.set(payload.subarray(1 + start / 8, 1 + start / 8 + packedBytes(n)), 1);
      return out;
    case 'dense':
      out[0] = payload[0];
      out.set(payload.subarray(1 + 4 * start, 1 + 4 * end), 1);
      return out;
    case 'scaled-signs':
      out.set(payload.subarray(0, 5));
      out.set(payload.subarray(5 + start / 8, 5 + start / 8 + packedBytes(n)), 5);
      return out;
  }
}

/**
 * The update of the whole vote from the updates of its ranges (index for index with `ranges`,
 * which cover [0, d) in order). A verdict keeps a tie bitmap when any range has one.
 */
export function joinUpdates(parts: readonly TrustedUpdate[], ranges: readonly VoteShardRange[], d: number): TrustedUpdate {
  if (parts.length !== ranges.length || parts.length === 0) throw new RangeError(`${parts.length} updates for ${ranges.length} vote shards`);
  if (ranges[0].start !== 0 || ranges[ranges.length - 1].end !== d) throw new RangeError(`vote shard ranges do not cover [0, ${d})`);
  const kind = parts[0].kind;
  let joined: Update;
  if (kind === 'dense') {
    const values = new Float32Array(d);
    parts.forEach((u, j) => {
      if (u.kind !== 'dense') throw new TypeError(`vote shard ${j} sent a ${u.kind} update, shard 0 a dense one`);
      values.set(u.values, ranges[j].start);
    });
    joined = { kind: 'dense', values };
  } else {
    const signs = new Uint8Array(packedBytes(d));
    const anyTies = parts.some((u) => u.kind === 'verdict' && u.ties !== null);
    const ties = anyTies ? new Uint8Array(signs.length) : null;
    parts.forEach((u, j) => {
      if (u.kind !== 'verdict') throw new TypeError(`vote shard ${j} sent a ${u.kind} update, shard 0 a verdict`);
      signs.set(u.signs, ranges[j].start / 8);
      if (ties !== null && u.ties !== null) ties.set(u.ties, ranges[j].start / 8);
    });
    joined = { kind: 'verdict', signs, ties };
  }
  // checks the lengths (each part's against its range) and the padding once more, on the whole
  return trustUpdate(joined, d);
}
