import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, expectClean, finalHash, killAll, startPeerProcess, startServer, type ServerProcess } from './harness';

/**
 * Issue 12, findings 1 and 4 across real processes: many peers started at once on one machine
 * (loopback). Before the session record and per-link signaling budgets, 16-24 peers ended with
 * two models (a group that never got a verdict trained the session again after the others left)
 * and peers were disconnected by the signaling server's rate limit. `SCALE_PEERS` sizes it
 * (default 32).
 */

const N = Number(process.env.SCALE_PEERS ?? 32);
const ROUNDS = 40;

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
}, 60_000);
afterAll(async () => {
  killAll();
  await server?.stop();
});

describe(`${N} Node peers on loopback`, () => {
  it('all counted in steady state, one final hash, nobody disconnected', async () => {
    const session = await createSession(server.url, {
      model: 'mlp',
      dataset: 'mnist',
      batchSize: 8,
      evalEvery: 0,
      rounds: ROUNDS,
      expectedPeers: N,
      // every live member's ballot is waited for (a generous deadline on a loaded 2-core machine)
      deadlineMs: 30_000,
      seed: 32,
      algorithm: { name: 'mv-sto-signsgd-sim', lr: 3e-3 },
    });
    const started = Date.now();
    const peers = Array.from({ length: N }, (_, i) => startPeerProcess(`p${i + 1}`, server.url, session, ['--timings']));
    await Promise.all(peers.map((p) => expectClean(p, 570_000)));
    const seconds = (Date.now() - started) / 1000;

    expect(new Set(peers.map(finalHash)).size).toBe(1);
    for (const p of peers) {
      expect(p.rounds.map((r) => r.round), p.name).toEqual(Array.from({ length: ROUNDS }, (_, i) => i));
      const trouble = p.events.filter((e) => ['disconnected', 'left', 'not-counted', 'gave-up', 'error'].includes(e.event));
      expect(trouble, p.describe()).toEqual([]);
    }
    // steady state: after the first rounds (while the mesh settles) every verdict counts everyone
    const counted = peers[0].rounds.map((r) => r.counted);
    expect(counted.slice(5)).toEqual(Array(ROUNDS - 5).fill(N));
    const term = peers[0].rounds.at(-1)!.term;
    expect(peers.every((p) => p.rounds.slice(5).every((r) => r.term === term))).toBe(true);
    console.log(`${N} peers: ${ROUNDS} rounds in ${seconds.toFixed(0)} s from the first spawn; counted per round: ${counted.join(',')}`);
  }, 600_000);
});
