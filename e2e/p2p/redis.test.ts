import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '@signvote/signaling';
import { checkContinuous, createSession, expectClean, finalHash, killAll, repoRoot, startPeerProcess, startServer, type ServerProcess } from './harness';

/**
 * Signaling scale-out (docs/signaling.md, "Several servers on one Redis"): two `signvote serve
 * --redis` processes on one real redis-server, two `signvote peer` processes on each, real
 * WebRTC between all four. Peers are given both servers (`--server OWN,OTHER`).
 */

let redis: RedisServer;
let a: ServerProcess;
let b: ServerProcess;

beforeAll(async () => {
  redis = await startRedisServer();
  [a, b] = await Promise.all([startServer(['--redis', redis.url]), startServer(['--redis', redis.url])]);
}, 60_000);

afterAll(async () => {
  killAll();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

const base = { model: 'mlp', dataset: 'mnist', batchSize: 32, deadlineMs: 5000, algorithm: { name: 'mv-sto-signsgd-sim', lr: 3e-3 }, evalEvery: 0 } as const;

/** p1, p2 on server `first`; p3, p4 on `second`; each knows both */
function fourPeers(first: ServerProcess, second: ServerProcess, session: { id: string; token: string }) {
  return [
    startPeerProcess('p1', `${first.url},${second.url}`, session),
    startPeerProcess('p2', `${first.url},${second.url}`, session),
    startPeerProcess('p3', `${second.url},${first.url}`, session),
    startPeerProcess('p4', `${second.url},${first.url}`, session),
  ];
}

describe('two signaling processes on one Redis', () => {
  it('2 peers on each server train one session to one final hash', async () => {
    const rounds = 30;
    // created through one server, joined through both: the session lives in Redis
    const session = await createSession(a.url, { ...base, expectedPeers: 4, rounds, seed: 5 });
    const peers = fourPeers(a, b, session);
    await Promise.all(peers.map((p) => expectClean(p, 180_000)));
    for (const p of peers) expect(checkContinuous(p.rounds, 0, rounds), p.name).toBeNull();
    expect(new Set(peers.map(finalHash)).size).toBe(1);
    // one aggregator a round, wherever its server
    for (let r = 0; r < rounds; r++) expect(peers.filter((p) => p.rounds[r].role === 'aggregator')).toHaveLength(1);
    const status = (await (await fetch(`${b.url}/api/sessions/${session.id}?token=${session.token}`)).json()) as { record: { status: string; round: number; hash: string } };
    expect(status.record).toMatchObject({ status: 'finished', round: rounds, hash: finalHash(peers[0]) });
  }, 200_000);

  it('a session on an uploaded model: uploaded to one server, created on the other, one peer on each fetches it from its own', async () => {
    const rounds = 10;
    const onnx = readFileSync(resolve(repoRoot, 'core/fixtures/onnx/mlp.onnx'));
    const up = await fetch(`${a.url}/api/models?name=mlp.onnx`, { method: 'POST', body: onnx });
    expect(up.status).toBe(201);
    const { sha256, bytes } = (await up.json()) as { sha256: string; bytes: number };
    const session = await createSession(b.url, { ...base, modelFile: { sha256, bytes, name: 'mlp.onnx' }, expectedPeers: 2, rounds, seed: 7 });
    // each knows only its own server, so each fetches the model there
    const peers = [startPeerProcess('p1', a.url, session), startPeerProcess('p2', b.url, session)];
    await Promise.all(peers.map((p) => expectClean(p, 180_000)));
    for (const p of peers) expect(checkContinuous(p.rounds, 0, rounds), p.name).toBeNull();
    expect(new Set(peers.map(finalHash)).size).toBe(1);
  }, 200_000);

  it('kill -9 of one server mid-run: its peers resume their seats on the other, and all 4 finish on one hash', async () => {
    const rounds = 200;
    const session = await createSession(b.url, { ...base, expectedPeers: 4, rounds, seed: 9 });
    // this time a's peers are the ones that move
    const peers = fourPeers(a, b, session);
    await Promise.all(peers.map((p) => p.waitForRound(15, 150_000)));
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await Promise.all(peers.map((p) => expectClean(p, 180_000)));
    for (const p of peers) expect(checkContinuous(p.rounds, 0, rounds), p.name).toBeNull();
    expect(new Set(peers.map(finalHash)).size).toBe(1);
    // p1 and p2 moved to b, keeping their seats: no new epoch, so no new term, after the kill
    // (peers leaving after the last round make epochs of their own)
    const endedAt = Math.min(...peers.map((p) => Number(p.events.find((e) => e.event === 'finished')!.seenAt)));
    for (const p of peers) expect(p.events.filter((e) => e.event === 'term' && Number(e.at) > killedAt && Number(e.at) < endedAt), p.name).toEqual([]);
    for (const p of peers.slice(0, 2)) {
      const moved = p.events.find((e) => e.event === 'signaling' && e.ok === true);
      expect(moved, p.describe()).toMatchObject({ from: a.url, to: b.url });
      expect(Number(moved!.at) - killedAt).toBeLessThan(30_000);
    }
    for (const p of peers.slice(2)) expect(p.events.some((e) => e.event === 'signaling'), p.name).toBe(false);
    // training went on after both had moved: every peer applied rounds after the later move
    const resumedAt = Math.max(...peers.slice(0, 2).map((p) => Number(p.events.find((e) => e.event === 'signaling' && e.ok === true)!.at)));
    for (const p of peers) expect(p.rounds.filter((r) => r.seenAt > resumedAt).length, p.name).toBeGreaterThan(0);
    const status = (await (await fetch(`${b.url}/api/sessions/${session.id}?token=${session.token}`)).json()) as { record: { status: string; hash: string }; members: number };
    expect(status.record).toMatchObject({ status: 'finished', hash: finalHash(peers[0]) });
  }, 300_000);
});
