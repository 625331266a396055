import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkContinuous,
  createSession,
  expectClean,
  finalHash,
  killAll,
  runCli,
  startPeerProcess,
  startServer,
  type PeerProcess,
  type ServerProcess,
} from './harness';

/**
 * Vote shards across processes (docs/session.md, "Vote shards"): 4 `signvote peer` processes
 * over WebRTC, each tallying a quarter of the MLP's coordinates. A range's aggregator that is
 * not the term's aggregator is killed with SIGKILL mid-run: the next term plans 3 ranges and the
 * survivors finish every round on one hash.
 */

let server: ServerProcess;

beforeAll(async () => {
  server = await startServer();
}, 60_000);

afterAll(async () => {
  killAll();
  await server?.stop();
});

describe('vote shards across processes', () => {
  it('4 peers, 4 vote shards: kill -9 of the aggregator of range 2, the rest go on and finish on one hash', async () => {
    const rounds = 60;
    const session = await createSession(server.url, {
      model: 'mlp', dataset: 'mnist', batchSize: 32, deadlineMs: 5000,
      algorithm: { name: 'mv-sto-signsgd-sim', lr: 3e-3 },
      expectedPeers: 4, rounds, evalEvery: 0, seed: 13, voteShards: 4,
    });
    const peers = [1, 2, 3, 4].map((i) => startPeerProcess(`p${i}`, server.url, session));
    await Promise.all(peers.map((p) => p.waitForRound(20, 150_000)));
    const idOf = (p: PeerProcess): string => p.events.find((e) => e.event === 'joined')!.peerId as string;
    const term = peers[0].events.filter((e) => e.event === 'term').at(-1)!;
    const members = term.peers as string[];
    expect(members).toHaveLength(4);
    // member 2 tallies range 2; member 0 leads the term
    const victim = peers.find((p) => idOf(p) === members[2])!;
    const d = peers[0].events.find((e) => e.event === 'joined')!.d as number;
    const oldTerm = victim.rounds.at(-1)!.term;
    // every row names the term's split and the range its peer tallies: member j, range j
    for (const p of peers) {
      const row = p.rounds.findLast((r) => r.term === term.term)!;
      const j = members.indexOf(idOf(p));
      expect(row.split, p.name).toEqual({ k: 4, asked: 4, limit: null });
      expect(row.voteShard, p.name).toMatchObject({ index: j, of: 4 });
      expect(row.role, p.name).toBe(j === 0 ? 'aggregator' : 'worker');
    }
    // before the kill: no peer carries every ballot (the star's aggregator gets 3 x d/8 a round)
    const B = Math.ceil(d / 8);
    for (const p of peers) {
      const down = p.rounds.slice(5, 20).map((r) => r.bytesDown).sort((a, b) => a - b);
      const median = down[down.length >> 1];
      expect(median, p.name).toBeLessThan(2 * B);
    }
    victim.kill('SIGKILL');
    const survivors = peers.filter((p) => p !== victim);
    await Promise.all(survivors.map((p) => expectClean(p, 150_000)));
    for (const p of survivors) expect(checkContinuous(p.rounds, 0, rounds), p.name).toBeNull();
    expect(new Set(survivors.map(finalHash)).size).toBe(1);
    for (const p of survivors) expect(p.rounds.at(-1)!.term, p.name).toBeGreaterThan(oldTerm);
    console.log(`vote shards: d = ${d}, killed ${victim.name} (range 2), survivors finished ${rounds} rounds on ${finalHash(survivors[0])}`);
  }, 300_000);

  it('start --vote-shards 8 with 2 peers: says at creation and per term that the vote runs in 2 shards, and why', async () => {
    const run = await runCli(['start', '--port', '0', '--peers', '2', '--rounds', '4', '--eval-every', '0', '--vote-shards', '8', '--exit']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/note: --vote-shards 8 with 2 expected peers: a term has at most one vote shard per member/);
    // peer 1's stderr: the term's split once, then its progress lines with the range it tallies
    const splits = run.stderr.split('\n').filter((l) => / vote in \d+ shards?/.test(l));
    expect(splits.length, run.stderr).toBeGreaterThanOrEqual(1);
    for (const l of splits) expect(l).toMatch(/^term \d+: vote in 2 shards \(asked 8: at most one per member\); this peer tallies range [12] of 2, coordinates \[\d+, \d+\)$/);
    expect(run.stderr).toMatch(/round 4\/4 term \d+ (aggregator|worker) · range [12]\/2 loss/);
  }, 120_000);
});

