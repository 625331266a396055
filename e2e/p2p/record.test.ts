import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint, hashParams } from '@signvote/core';
import { readFile } from 'node:fs/promises';
import { createSession, expectClean, finalHash, killAll, runCli, startPeerProcess, startServer, type PeerProcess, type ServerProcess } from './harness';

/**
 * Issue 12, "One session, one model", across real processes: each finding that was seen with
 * real peers, as a test (docs/session.md, "The session record"). Findings 1 and 4 (many peers
 * at once) are in scale.test.ts; the churn of 200 peers is core/src/session/churn.test.ts.
 */

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
}, 60_000);
afterAll(async () => {
  killAll();
  await server?.stop();
});

const base = { model: 'mlp', dataset: 'mnist', batchSize: 8, evalEvery: 0, algorithm: { name: 'mv-sto-signsgd-sim', lr: 3e-3 } } as const;
const finishedEvent = (p: PeerProcess) => p.events.find((e) => e.event === 'finished');

describe('one session, one model (real processes)', () => {
  it('finding 2: a SIGSTOPped worker continued after the other peer finished and left ends on the same parameters', async () => {
    // 200 rounds: the verdicts sent to the stopped peer overflow its socket buffers, so, as in
    // the finding, it cannot get them after it is continued (a is gone by then)
    const rounds = 200;
    const session = await createSession(server.url, { ...base, expectedPeers: 2, rounds, deadlineMs: 1000, seed: 21 });
    // a joins first, so it leads and w is the worker that gets stopped (as in the finding)
    const a = startPeerProcess('a', server.url, session);
    await a.waitForEvent((e) => e.event === 'joined');
    const w = startPeerProcess('w', server.url, session);
    await w.waitForRound(10);
    expect(w.rounds.at(-1)!.role).toBe('worker');
    w.kill('SIGSTOP');
    try {
      await expectClean(a, 120_000);
    } finally {
      w.kill('SIGCONT');
    }
    await expectClean(w, 120_000);
    const end = finishedEvent(a)!;
    expect(finishedEvent(w), w.describe()).toMatchObject({ rounds, hash: end.hash });
    // it decided nothing alone: every round it applied is a's (the verdicts still queued for it,
    // or none and the end from the record's snapshot), and it never led a round
    const aHash = new Map(a.rounds.map((r) => [r.round, r.hash]));
    for (const r of w.rounds) expect(r.hash, `round ${r.round}`).toBe(aHash.get(r.round));
    expect(w.rounds.filter((r) => r.role === 'aggregator')).toEqual([]);
    const viaRecord = w.events.some((e) => e.event === 'resync' && e.from === 'record');
    expect(viaRecord || w.rounds.at(-1)!.round === rounds - 1).toBe(true);
    console.log(`finding 2: the stopped worker applied rounds up to ${w.rounds.at(-1)!.round}, then ${viaRecord ? "took the end from the record's snapshot" : 'the verdicts still queued for it'}`);
  }, 240_000);

  it('finding 3: a finished session stays finished; a late joiner is told its final numbers and can download its parameters', async () => {
    const session = await createSession(server.url, { ...base, expectedPeers: 2, rounds: 8, evalEvery: 8, deadlineMs: 5000, seed: 22 });
    const peers = ['p1', 'p2'].map((n) => startPeerProcess(n, server.url, session));
    await Promise.all(peers.map((p) => expectClean(p, 120_000)));
    const hash = finishedEvent(peers[0])!.hash as string;

    const late = startPeerProcess('late', server.url, session);
    expect((await late.exited).code, late.describe()).toBe(5);
    expect(late.rounds).toEqual([]);
    expect(late.events.find((e) => e.event === 'ended')).toMatchObject({ rounds: 8, hash, snapshot: 8 });

    const status = await runCli(['session', 'status', session.id, '--server', server.url, '--token', session.token]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`finished at round 8 with parameters ${hash}`);
    expect(status.stdout).toMatch(/test accuracy \d+\.\d% after round 8/);
    // a list of servers (as `peer --server` takes): the first that answers; a bad entry is a usage error
    const listed = await runCli(['session', 'status', session.id, '--server', `http://127.0.0.1:9,${server.url}`, '--token', session.token]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(`finished at round 8 with parameters ${hash}`);
    const junk = await runCli(['session', 'status', session.id, '--server', `${server.url},not a url`, '--token', session.token]);
    expect(junk.code).toBe(2);
    expect(junk.stderr).toMatch(/--server: "not a url" is not a URL/);
    const dir = mkdtempSync(join(tmpdir(), 'signvote-final-'));
    try {
      const file = join(dir, 'final.ckpt');
      const download = await runCli(['session', 'download', session.id, '--server', server.url, '--token', session.token, '-o', file]);
      expect(download.code, download.stderr).toBe(0);
      const cp = decodeCheckpoint(new Uint8Array(await readFile(file)));
      expect(cp.round).toBe(8);
      expect(hashParams(cp.x)).toBe(hash);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);

  it('finding 5: a replacement for a crashed peer trains the crashed peer\'s shard, not shard 0 again', async () => {
    const session = await createSession(server.url, { ...base, expectedPeers: 3, rounds: 400, deadlineMs: 3000, seed: 23 });
    const peers = ['p1', 'p2', 'p3'].map((n) => startPeerProcess(n, server.url, session));
    await Promise.all(peers.map((p) => p.waitForEvent((e) => e.event === 'shard')));
    const shardOf = (p: PeerProcess) => p.events.find((e) => e.event === 'shard')?.shard;
    expect(peers.map(shardOf).sort()).toEqual([0, 1, 2]);
    await peers[2].waitForRound(5);
    peers[2].kill('SIGKILL');
    const replacement = startPeerProcess('p4', server.url, session);
    await replacement.waitForEvent((e) => e.event === 'shard', 120_000);
    expect(replacement.events.find((e) => e.event === 'shard')).toMatchObject({ shard: shardOf(peers[2]), shards: 3 });
    for (const p of [peers[0], peers[1], replacement]) await expectClean(p, 240_000);
    expect(new Set([peers[0], peers[1], replacement].map(finalHash)).size).toBe(1);
  }, 360_000);

  it('finding 6: expectedPeers over the member cap is refused at create; the creator starts with the peers present', async () => {
    const tooMany = await runCli(['session', 'create', '--server', server.url, '--peers', '300']);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toContain("expectedPeers: 300 exceeds this server's cap of 256 peers per session");

    const session = await createSession(server.url, { ...base, expectedPeers: 3, rounds: 10, deadlineMs: 5000, seed: 24 });
    const peers = ['p1', 'p2'].map((n) => startPeerProcess(n, server.url, session));
    await Promise.all(peers.map((p) => p.waitForEvent((e) => e.event === 'waiting' || e.event === 'term')));
    expect(peers.every((p) => p.rounds.length === 0)).toBe(true);
    const wrong = await runCli(['session', 'start', session.id, '--server', server.url, '--admin', session.token]);
    expect(wrong.code).toBe(4);
    const start = await runCli(['session', 'start', session.id, '--server', server.url, '--admin', session.admin!]);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toContain('started with 2 peers: the data is split into 2 shards');
    await Promise.all(peers.map((p) => expectClean(p, 120_000)));
    expect(new Set(peers.map(finalHash)).size).toBe(1);
    expect(peers.map((p) => p.events.find((e) => e.event === 'shard'))).toEqual([
      expect.objectContaining({ shards: 2 }),
      expect.objectContaining({ shards: 2 }),
    ]);
  }, 240_000);
});
