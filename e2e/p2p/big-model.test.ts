import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel, decodeCheckpoint, hashParams } from '@signvote/core';
import { checkContinuous, createSession, expectClean, finalHash, killAll, startPeerProcess, startServer, type PeerProcess, type ServerProcess } from './harness';

/**
 * Issue 14, part 2: a 10M-parameter model (`mlp-10m`) over real WebRTC between Node processes.
 * Its snapshot (x || x_prev) is 80 MB, 1,226 pieces streamed as the channel drains; its ballots
 * and verdicts are 1.25 MB, 20 frames each. Three peers train, a fourth joins late and syncs by
 * snapshot, then votes; the aggregator is killed (kill -9) and the others fail over, finish on
 * one hash, and leave checkpoints and a stored snapshot of d = 10M. Small batches, few rounds and
 * no evaluation keep it to a few minutes on a loaded 2-core machine; every peer reports its
 * memory (RSS, heap, array buffers) in its round rows, which the test prints.
 */

let server: ServerProcess;
let dir: string;

beforeAll(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'signvote-big-'));
}, 60_000);

afterAll(async () => {
  killAll();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const MiB = 1024 * 1024;

describe('a 10M-parameter model over WebRTC', () => {
  it('3 peers train, a late joiner syncs by snapshot and votes, kill -9 of the aggregator: the others fail over and end on one hash', async () => {
    const d = createModel('mlp-10m').d;
    expect(d).toBeGreaterThanOrEqual(10_000_000);
    const rounds = 32;
    const session = await createSession(server.url, {
      model: 'mlp-10m',
      dataset: 'mnist',
      batchSize: 4,
      expectedPeers: 3,
      rounds,
      evalEvery: 0,
      checkpointEvery: 8,
      // a round moves 1.25 MB per ballot and verdict through processes sharing 2 loaded cores
      deadlineMs: 20_000,
      seed: 23,
      algorithm: { name: 'mv-sto-signsgd-sim', lr: 1e-3 },
    });
    const flags = (name: string) => ['--timings', '--checkpoint', join(dir, `${name}.ckpt`)];
    const founders = [1, 2, 3].map((i) => startPeerProcess(`p${i}`, server.url, session, flags(`p${i}`)));
    // past the 16 verdicts a peer keeps for replays: a joiner now can only sync by snapshot
    await Promise.all(founders.map((p) => p.waitForRound(17, 300_000)));

    // the founders pause while the late process starts (seconds: tsx, MNIST, the 10M model, ORT)
    for (const p of founders) p.kill('SIGSTOP');
    const late = startPeerProcess('late', server.url, session, flags('late'));
    try {
      await late.waitForEvent((e) => e.event === 'joined', 120_000);
    } finally {
      for (const p of founders) p.kill('SIGCONT');
    }
    const synced = await late.waitForEvent((e) => e.event === 'resync', 180_000);
    const joinedAt = synced.round as number;
    // it votes: a verdict after its sync counts four ballots
    const leaderOf = (): PeerProcess | undefined => [...founders, late].find((p) => p.rounds.at(-1)?.role === 'aggregator');
    const fourBallots = await waitFor(() => [...founders, late].flatMap((p) => p.rounds).find((r) => r.round >= joinedAt && r.counted === 4), 180_000, 'a verdict counting 4 ballots');
    expect(fourBallots.round).toBeLessThan(rounds - 4);

    const victim = leaderOf()!;
    expect(victim).toBeDefined();
    const term = victim.rounds.at(-1)!.term;
    victim.kill('SIGKILL');
    const survivors = [...founders, late].filter((p) => p !== victim);
    await Promise.all(survivors.map((p) => expectClean(p, 300_000)));

    for (const p of survivors.filter((q) => q !== late)) expect(checkContinuous(p.rounds, 0, rounds), p.name).toBeNull();
    expect(checkContinuous(late.rounds, late.rounds[0].round, rounds)).toBeNull();
    expect(late.rounds[0].round).toBe(joinedAt);
    expect(new Set(survivors.map(finalHash)).size).toBe(1);
    // a new term after the kill, led by a survivor
    expect(survivors.some((p) => p.rounds.some((r) => r.term > term && r.role === 'aggregator'))).toBe(true);
    // every round the late peer applied matches the founders' parameters at that round
    const reference = new Map(survivors.find((p) => p !== late)!.rounds.map((r) => [r.round, r.hash]));
    for (const r of late.rounds) expect(r.hash, `round ${r.round}`).toBe(reference.get(r.round));

    // checkpoints of d = 10M, holding the parameters the peers reported
    for (const p of survivors) {
      const cp = decodeCheckpoint(new Uint8Array(await readFile(join(dir, `${p.name}.ckpt`))));
      expect(cp.x.length).toBe(d);
      expect(cp.round).toBe(rounds);
      expect(hashParams(cp.x), p.name).toBe(reference.get(cp.round - 1));
    }
    // the server stored the final snapshot (80 MB), which anyone with the token downloads
    const download = () => fetch(`${server.url}/api/sessions/${session.id}/snapshot?token=${encodeURIComponent(session.token)}`);
    // the finishing aggregator uploads it after its last round, and exits once it is stored
    let res = await download();
    for (let i = 0; i < 60 && res.status === 404; i++) {
      await new Promise((r) => setTimeout(r, 500));
      res = await download();
    }
    expect(res.status).toBe(200);
    const stored = decodeCheckpoint(new Uint8Array(await res.arrayBuffer()));
    const errors = survivors.flatMap((p) => p.events.filter((e) => e.event === 'error').map((e) => `${p.name}: ${String(e.error)}`));
    expect(stored.round, errors.join('; ')).toBe(rounds);
    expect(hashParams(stored.x)).toBe(finalHash(survivors[0]));

    const memory = (p: PeerProcess) => {
      const rows = p.rounds as unknown as { rss: number; heap: number; arrayBuffers: number }[];
      const max = (k: 'rss' | 'heap' | 'arrayBuffers') => Math.max(...rows.map((r) => r[k])) / MiB;
      return `${p.name} RSS ${max('rss').toFixed(0)} MiB, heap ${max('heap').toFixed(0)} MiB, array buffers ${max('arrayBuffers').toFixed(0)} MiB`;
    };
    console.log(`d = ${d}: late joiner synced at round ${joinedAt}, 4 ballots counted in round ${fourBallots.round}; after kill -9 of ${victim.name}, ${survivors.length} finished on ${finalHash(survivors[0])}`);
    console.log(`peak memory per peer (4d = ${((4 * d) / MiB).toFixed(0)} MiB): ${survivors.map(memory).join('; ')}`);
  }, 600_000);
});

function waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      const v = check();
      if (v !== undefined) {
        clearInterval(poll);
        resolve(v);
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(poll);
        reject(new Error(`${what}: timed out after ${timeoutMs} ms`));
      }
    }, 100);
  });
}
