import { describe, expect, it } from 'vitest';
import type { AlgorithmName } from '../config';
import { decodeMessage } from '../protocol/messages';
import { createSim, type SimPeer } from '../sim/testing';

/**
 * Vote shards on the in-memory hub (docs/session.md, "Vote shards"): the vote is coordinate-wise,
 * so a session cut into k ranges ends on exactly the parameters of the star (k = 1), tie coins
 * included, for any d (here not a multiple of 8 nor of k).
 */

interface Run {
  readonly hash: string;
  readonly peers: SimPeer[];
}

async function run(n: number, voteShards: number, d: number, name: AlgorithmName = 'mv-sto-signsgd-sim', rounds = 20, record = false): Promise<Run> {
  const sim = createSim({ n, d, record, config: { rounds, seed: 5, voteShards, algorithm: { name, ties: 'coin' } } });
  const results = await Promise.all(sim.peers.map((p) => p.peer.finished));
  await sim.stop();
  expect(new Set(results.map((r) => r.hash)).size).toBe(1);
  for (const p of sim.peers) expect(p.applied).toEqual(Array.from({ length: rounds }, (_, i) => i));
  for (const p of sim.peers) expect(p.events.filter((e) => e.type === 'error')).toEqual([]);
  return { hash: results[0].hash, peers: sim.peers };
}

describe('vote shards', () => {
  for (const n of [2, 3, 5, 8]) {
    it(`${n} peers: k = 2 and k = ${n} end on the star's hash (d = 61)`, async () => {
      const star = await run(n, 1, 61);
      for (const k of [...new Set([2, n])]) {
        const sharded = await run(n, k, 61);
        expect(sharded.hash).toBe(star.hash);
        // every peer's round events count every member: no part was decided at a deadline
        for (const p of sharded.peers) {
          const rounds = p.events.filter((e) => e.type === 'round');
          expect(rounds.every((e) => e.type === 'round' && e.counted === n && e.mine)).toBe(true);
        }
      }
    });
  }

  for (const name of ['sgd-m', 'ef-signsgd', 'mv-signsgd'] as const) {
    it(`${name}: 4 peers, k = 3 end on the star's hash (d = 203)`, async () => {
      const star = await run(4, 1, 203, name, 12);
      const sharded = await run(4, 3, 203, name, 12);
      expect(sharded.hash).toBe(star.hash);
    });
  }

  it('with a session record (as real peers have): the record commits the sharded run and ends on the star\'s hash', async () => {
    const star = await run(4, 1, 99, 'mv-sto-signsgd-sim', 15, true);
    const sharded = await run(4, 4, 99, 'mv-sto-signsgd-sim', 15, true);
    expect(sharded.hash).toBe(star.hash);
    for (const p of sharded.peers) expect(p.events.some((e) => e.type === 'finished' && e.hash === star.hash)).toBe(true);
    expect(sharded.peers[0].events.some((e) => e.type === 'committed' && e.round === 15)).toBe(true);
  });

  it('the last round: a worker that has every part before the term\'s aggregator does is ahead, not astray: nobody resyncs at the end', async () => {
    const rounds = 10;
    // the term's aggregator (p1) gets range 3's part of the last round late, so the others apply
    // it and confirm the end (status) while p1 still waits for that part. The deadline is a
    // minute: the end must be reported on those confirmations, not a deadline after the last round
    const lastApplied: number[] = [];
    const sim = createSim({
      n: 4, d: 99, record: true, config: { rounds, seed: 5, voteShards: 4, deadlineMs: 60_000 },
      hub: {
        delayMs: ({ from, to, bytes }) => {
          if (to !== 'p1' || from !== 'p4') return 0;
          const msg = decodeMessage(bytes);
          return msg.type === 'verdict' && msg.slice === 3 && msg.round === rounds - 1 ? 300 : 0;
        },
      },
      onEvent: (i, e) => {
        if (e.type === 'round' && e.round === rounds - 1) lastApplied.push(i);
      },
    });
    const results = await Promise.all(sim.peers.map((p) => p.peer.finished));
    await sim.stop();
    // the case under test: the aggregator applied the last round after every worker
    expect(lastApplied.at(-1)).toBe(0);
    expect(new Set(results.map((r) => r.hash)).size).toBe(1);
    for (const p of sim.peers) {
      expect(p.applied, p.peer.self).toEqual(Array.from({ length: rounds }, (_, i) => i));
      expect(p.events.filter((e) => e.type === 'resync'), p.peer.self).toEqual([]);
      expect(p.events.filter((e) => e.type === 'error'), p.peer.self).toEqual([]);
    }
    expect(sim.peers[0].events.some((e) => e.type === 'committed' && e.round === rounds)).toBe(true);
  });

  it('with k = n each peer sends and receives about 2 (n-1)/n x d/8 a round, the star aggregator (n-1) d/8', async () => {
    const n = 5, d = 4001;
    const star = await run(n, 1, d, 'mv-sto-signsgd-sim', 12);
    const sharded = await run(n, n, d, 'mv-sto-signsgd-sim', 12);
    expect(sharded.hash).toBe(star.hash);
    const busiest = (r: Run, dir: 'bytesUp' | 'bytesDown'): number =>
      Math.max(...r.peers.flatMap((p) => p.events.flatMap((e) => (e.type === 'round' && e.round >= 2 ? [e[dir]] : []))));
    const B = Math.ceil(d / 8);
    // the star's aggregator: n - 1 ballots in, n - 1 verdicts out
    expect(busiest(star, 'bytesDown')).toBeGreaterThan((n - 1) * B);
    for (const dir of ['bytesUp', 'bytesDown'] as const) {
      // 2 (n - 1) / n of d/8 each way (a slice of the ballot to each, a part of the verdict to
      // each), plus headers: about 2 x 0.8 here, far below the star's 4 x
      expect(busiest(sharded, dir)).toBeLessThan(1.15 * ((2 * (n - 1)) / n) * B + 300 * n);
    }
  });

  describe('the round and term events say how the term splits the vote, and which range each peer tallies', () => {
    /** every peer's round events of the last term, with the members of that term in join order */
    const lastTerm = (peers: readonly SimPeer[]) =>
      peers.map((p) => {
        const term = p.events.filter((e) => e.type === 'term').at(-1);
        if (term?.type !== 'term') throw new Error(`${p.peer.self} saw no term`);
        const rounds = p.events.flatMap((e) => (e.type === 'round' && e.term === term.term ? [e] : []));
        return { self: p.peer.self, term, rounds, member: term.peers.indexOf(p.peer.self) };
      });

    const cases = [
      // asked more ranges than members: one per member
      { n: 4, asked: 8, d: 61, k: 4, limit: 'members' },
      // d = 20 has 3 bytes of packed signs: at most 3 ranges although 5 members could tally
      { n: 5, asked: 5, d: 20, k: 3, limit: 'coordinates' },
      { n: 3, asked: 2, d: 61, k: 2, limit: null },
      // the star: the term's aggregator tallies the one range, [0, d)
      { n: 3, asked: 1, d: 61, k: 1, limit: null },
    ] as const;
    for (const c of cases) {
      it(`${c.n} peers asking ${c.asked} at d = ${c.d}: k = ${c.k} (${c.limit ?? 'as asked'})`, async () => {
        const { peers } = await run(c.n, c.asked, c.d, 'mv-sto-signsgd-sim', 6);
        const seen = lastTerm(peers);
        const covered: [number, number][] = [];
        for (const s of seen) {
          const split = { k: c.k, asked: c.asked, limit: c.limit };
          expect(s.term.split, s.self).toEqual(split);
          expect(s.rounds.length, s.self).toBeGreaterThan(0);
          // member 0 alone keeps the term's duties, whatever the split
          for (const r of s.rounds) expect(r.role, s.self).toBe(s.member === 0 ? 'aggregator' : 'worker');
          for (const r of s.rounds) expect(r.split, s.self).toEqual(split);
          for (const r of s.rounds) expect(r.voteShard, s.self).toEqual(s.term.voteShard);
          if (s.member < c.k) {
            expect(s.term.voteShard, s.self).toMatchObject({ index: s.member, of: c.k });
            covered[s.member] = [s.term.voteShard!.start, s.term.voteShard!.end];
          } else {
            expect(s.term.voteShard, s.self).toBeNull();
          }
        }
        // the k ranges the peers report cover [0, d) in order, each starting on a byte
        expect(covered.length).toBe(c.k);
        expect(covered[0][0]).toBe(0);
        expect(covered[c.k - 1][1]).toBe(c.d);
        for (let j = 1; j < c.k; j++) expect(covered[j][0]).toBe(covered[j - 1][1]);
        for (const [start, end] of covered) expect(start % 8 === 0 && end > start).toBe(true);
      });
    }
  });
});

