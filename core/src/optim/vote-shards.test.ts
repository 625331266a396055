import { describe, expect, it } from 'vitest';
import { algorithmNames, type AlgorithmName } from '../config';
import { createRng } from '../random';
import { decodeBallot, encodeBallot, encodeUpdate } from './codec';
import { createStrategy } from './index';
import type { Ballot, BallotKind } from './strategy';
import { effectiveVoteShards, joinUpdates, sliceBallot, voteShardRanges } from './vote-shards';

function randomBallot(kind: BallotKind, d: number, seed: number): Ballot {
  const rng = createRng(seed);
  const bits = new Uint8Array((d + 7) >> 3);
  for (let i = 0; i < d; i++) if (rng.u32() & 1) bits[i >> 3] |= 1 << (i & 7);
  if (kind === 'signs') return { kind, bits };
  if (kind === 'scaled-signs') return { kind, scale: Math.fround(0.1 + rng.float()), bits };
  return { kind, values: Float32Array.from({ length: d }, () => rng.normal()) };
}

describe('vote shard ranges', () => {
  it('cover [0, d) in order, start on a byte, differ by at most 8 coordinates', () => {
    for (const d of [1, 7, 8, 9, 64, 1001, 4097]) {
      for (let k = 1; k <= Math.min(12, (d + 7) >> 3); k++) {
        const r = voteShardRanges(d, k);
        expect(r.length).toBe(k);
        expect(r[0].start).toBe(0);
        expect(r[k - 1].end).toBe(d);
        for (let j = 0; j < k; j++) {
          expect(r[j].start % 8).toBe(0);
          expect(r[j].end).toBeGreaterThan(r[j].start);
          if (j > 0) expect(r[j].start).toBe(r[j - 1].end);
        }
        const bytes = r.map((x) => Math.ceil((x.end - x.start) / 8));
        expect(Math.max(...bytes) - Math.min(...bytes)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('are at most one per member and one per packed byte', () => {
    expect(effectiveVoteShards(4, 3, 1000)).toBe(3);
    expect(effectiveVoteShards(4, 9, 1000)).toBe(4);
    expect(effectiveVoteShards(8, 8, 17)).toBe(3);
    expect(effectiveVoteShards(1, 50, 1000)).toBe(1);
    expect(() => voteShardRanges(17, 4)).toThrow(/cannot cut d = 17/);
    expect(() => effectiveVoteShards(0, 3, 100)).toThrow(/voteShards/);
  });
});

describe('a vote cut into shards', () => {
  const names: AlgorithmName[] = [...algorithmNames];
  for (const name of names) {
    for (const ties of ['coin', 'zero'] as const) {
      it(`${name} (ties ${ties}): the joined updates of the ranges are the whole vote's, byte for byte`, () => {
        const s = createStrategy({ name, ties });
        const d = 1001;
        // an even number of ballots, so sign votes tie on many coordinates
        for (const n of [1, 2, 4, 5]) {
          const payloads = Array.from({ length: n }, (_, i) => encodeBallot(randomBallot(s.ballotKind, d, 100 * n + i), d));
          const voters = payloads.map((_, i) => `p${i}`);
          const whole = s.aggregate({ ballots: payloads.map((p) => decodeBallot(p, d, s.ballotKind)), voters, absent: [] }, d, 9);
          for (const k of [2, 3, 7, 126]) {
            const ranges = voteShardRanges(d, k);
            const parts = ranges.map((r) => {
              const n = r.end - r.start;
              const ballots = payloads.map((p) => decodeBallot(sliceBallot(p, s.ballotKind, d, r), n, s.ballotKind));
              return s.aggregate({ ballots, voters, absent: [] }, n, 9, r.start);
            });
            expect(encodeUpdate(joinUpdates(parts, ranges, d), d)).toEqual(encodeUpdate(whole, d));
          }
        }
      });
    }
  }

  it('the tie coin of a coordinate is the same wherever its range starts, and another round flips others', () => {
    const s = createStrategy({ name: 'mv-signsgd', ties: 'coin' });
    const d = 4096;
    const a = randomBallot('signs', d, 1) as { kind: 'signs'; bits: Uint8Array };
    const b: Ballot = { kind: 'signs', bits: a.bits.map((x) => ~x & 0xff) };
    const tally = (x: Ballot[], n: number) => ({ ballots: x.map((y) => decodeBallot(encodeBallot(y, n), n, 'signs')), voters: ['p', 'q'], absent: [] });
    const whole = s.aggregate(tally([a, b], d), d, 3);
    const other = s.aggregate(tally([a, b], d), d, 4);
    if (whole.kind !== 'verdict' || other.kind !== 'verdict') throw new Error('expected verdicts');
    expect(whole.ties).toBeNull();
    expect(whole.signs).not.toEqual(other.signs);
    // the second half alone, placed at 2048
    const half = (x: Ballot): Ballot => ({ kind: 'signs', bits: (x as { bits: Uint8Array }).bits.slice(256) });
    const tail = s.aggregate(tally([half(a), half(b)], 2048), 2048, 3, 2048);
    if (tail.kind !== 'verdict') throw new Error('expected a verdict');
    expect(tail.signs).toEqual(whole.signs.slice(256));
    expect(() => s.aggregate(tally([a, b], d), d, 3, 4)).toThrow(/multiple of 8/);
  });
});
