import { mkdtempSync, rmSync } from 'node:fs';
import { copyFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, decodeCheckpoint, hashParams, SIGNALING_EVENTS } from '@signvote/core';
import {
  checkContinuous,
  drops,
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
import { disconnectedWithin, emitAck, joinAsRogue, rawSocket } from './rogue';
import { ensureClientBuild } from '../src/build';

/**
 * Real multi-process P2P training: one signaling server process, peers as separate
 * `signvote peer --json` processes, WebRTC data channels over loopback.
 */

let server: ServerProcess;

beforeAll(async () => {
  server = await startServer();
}, 60_000);

afterAll(async () => {
  killAll();
  await server?.stop();
});

const base = {
  model: 'mlp',
  dataset: 'mnist',
  batchSize: 32,
  // generous: on a loaded 2-core machine a peer can stall for seconds; every peer should vote
  deadlineMs: 5000,
} as const;

describe('P2P training across processes', () => {
  it('4 peers reach >= 85% test accuracy on MNIST with MV-STO-SIGNSGD-SIM, with equal hashes', async () => {
    const rounds = 100;
    const session = await createSession(server.url, {
      ...base,
      algorithm: { name: 'mv-sto-signsgd-sim', lr: 3e-3 },
      expectedPeers: 4,
      rounds,
      evalEvery: 25,
      seed: 7,
    });
    const peers = [1, 2, 3, 4].map((i) => startPeerProcess(`p${i}`, server.url, session));
    await Promise.all(peers.map((p) => expectClean(p, 180_000)));
    for (const p of peers) expect(checkContinuous(p.rounds, 0, rounds), p.name).toBeNull();
    const hashes = new Set(peers.map(finalHash));
    expect(hashes.size).toBe(1);
    // every peer evaluated the same parameters on the same test set
    const accuracies = peers.map((p) => p.rounds.at(-1)!.accuracy);
    expect(new Set(accuracies).size).toBe(1);
    expect(accuracies[0]).toBeGreaterThanOrEqual(0.85);
    // every round had exactly one aggregator among the four
    for (let r = 0; r < rounds; r++) expect(peers.filter((p) => p.rounds[r].role === 'aggregator')).toHaveLength(1);
    console.log(`4 peers: ${rounds} rounds, accuracy ${(100 * accuracies[0]!).toFixed(1)}%, hash ${[...hashes][0]}`);
  }, 200_000);

  it('a sign-flip adversary (--adversary) trains along, and every peer sees its vote agreement far below the others', async () => {
    const rounds = 20;
    const session = await createSession(server.url, {
      ...base,
      algorithm: { name: 'mv-sto-signsgd-sim', lr: 3e-3 },
      expectedPeers: 5,
      rounds,
      evalEvery: 0,
      seed: 11,
    });
    const peers = [1, 2, 3, 4, 5].map((i) => startPeerProcess(`p${i}`, server.url, session, i === 3 ? ['--adversary', 'sign-flip'] : []));
    await Promise.all(peers.map((p) => expectClean(p, 180_000)));
    expect(new Set(peers.map(finalHash)).size).toBe(1);
    const idOf = (p: PeerProcess) => p.events.find((e) => e.event === 'joined')!.peerId as string;
    const flipper = idOf(peers[2]);
    for (const p of peers) {
      const last = p.rounds.at(-1)!;
      expect(Object.keys(last.agreement).sort(), p.describe()).toEqual(peers.map(idOf).sort());
      const honest = peers.filter((q) => q !== peers[2]).map((q) => last.agreement[idOf(q)]);
      expect(last.agreement[flipper]).toBeLessThan(Math.min(...honest));
      expect(last.lowAgreement).toEqual([flipper]);
    }
  }, 200_000);

  it('kill -9 of the aggregator: a new one leads within 3 s, rounds stay continuous, survivors agree', async () => {
    const rounds = 80;
    const { peers, lead: victim } = await fourPeersAt(25, { rounds, seed: 11 });
    expect(victim).toBeDefined();
    const oldTerm = victim.rounds.at(-1)!.term;
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    const survivors = peers.filter((p) => p !== victim);
    await Promise.all(survivors.map((p) => expectClean(p, 150_000)));
    const firstNewTerm = survivors.map((p) => p.rounds.find((r) => r.term > oldTerm && r.seenAt >= killedAt));
    for (const [i, r] of firstNewTerm.entries()) expect(r, survivors[i].name).toBeDefined();
    const latency = Math.min(...firstNewTerm.map((r) => r!.seenAt)) - killedAt;
    const latest = Math.max(...firstNewTerm.map((r) => r!.seenAt)) - killedAt;
    console.log(`failover: first verdict of the new term ${latency} ms after kill -9 (last survivor ${latest} ms)`);
    expect(latency).toBeLessThanOrEqual(3000);
    // exactly one survivor leads the new term
    const leaders = new Set(survivors.map((p) => p.rounds.at(-1)!).filter((r) => r.role === 'aggregator'));
    expect(leaders.size).toBe(1);
    for (const p of survivors) expect(checkContinuous(p.rounds, 0, rounds), p.name).toBeNull();
    expect(new Set(survivors.map(finalHash)).size).toBe(1);
  }, 200_000);

  it('a stopped worker (SIGSTOP) costs two deadlines, then rounds go on without it; continued, it votes again', async () => {
    const rounds = 300;
    const deadlineMs = 2000;
    const { peers, lead } = await fourPeersAt(20, { rounds, seed: 13, deadlineMs }, ['--timings']);
    const victim = peers.find((p) => p !== lead)!;
    // hung, while its WebRTC connections stay up (consent lasts ~30 s)
    victim.kill('SIGSTOP');
    const stoppedAt = lead.rounds.at(-1)!.round;
    // one deadline a round would take 80 s here
    await lead.waitForRound(stoppedAt + 40, 30_000);
    victim.kill('SIGCONT');
    await Promise.all(peers.map((p) => expectClean(p, 150_000)));
    const during = lead.rounds.filter((r) => r.round > stoppedAt && r.round <= stoppedAt + 40);
    const waited = during.filter((r) => r.ms! >= 0.9 * deadlineMs).map((r) => r.round);
    console.log(`SIGSTOP at round ${stoppedAt}: rounds that waited a deadline ${JSON.stringify(waited)}`);
    // two for the stopped peer (one more if another peer stalls on this busy machine)
    expect(waited.length).toBeLessThanOrEqual(3);
    for (const p of peers) expect(checkContinuous(p.rounds, 0, rounds), p.name).toBeNull();
    expect(new Set(peers.map(finalHash)).size).toBe(1);
    // back in the vote: (nearly) all of the last 100 rounds counted all four ballots
    expect(lead.rounds.slice(-100).filter((r) => r.counted === 4).length).toBeGreaterThanOrEqual(95);
  }, 200_000);

  it('a stopped aggregator (SIGSTOP) is replaced once its connections fail; the others finish with the same hash', async () => {
    const rounds = 120;
    const { peers, lead } = await fourPeersAt(20, { rounds, seed: 17 });
    const term = lead.rounds.at(-1)!.term;
    // hung, not gone: its sockets stay open, so only the failing WebRTC connections tell
    lead.kill('SIGSTOP');
    const stoppedAt = Date.now();
    const survivors = peers.filter((p) => p !== lead);
    await Promise.all(survivors.map((p) => p.waitForEvent((e) => e.event === 'term' && (e.term as number) > term, 60_000)));
    const after = Date.now() - stoppedAt;
    console.log(`SIGSTOP of the aggregator: new term ${after} ms later`);
    await Promise.all(survivors.map((p) => expectClean(p, 150_000)));
    lead.kill('SIGKILL');
    for (const p of survivors) expect(checkContinuous(p.rounds, 0, rounds), p.name).toBeNull();
    expect(new Set(survivors.map(finalHash)).size).toBe(1);
    expect(survivors.some((p) => p.rounds.at(-1)!.role === 'aggregator')).toBe(true);
  }, 200_000);

  it('a peer that joins at round >= 20 syncs, votes, and ends with the same hash', async () => {
    const rounds = 120;
    const session = await createSession(server.url, {
      ...base,
      deadlineMs: 1000,
      algorithm: { name: 'mv-sto-signsgd-sim', lr: 3e-3 },
      expectedPeers: 3,
      rounds,
      evalEvery: 0,
      seed: 13,
    });
    const peers = [1, 2, 3].map((i) => startPeerProcess(`p${i}`, server.url, session, ['--timings']));
    await Promise.all(peers.map((p) => p.waitForRound(20)));
    // The founders pause while the late process starts (seconds: tsx, MNIST, ORT), so it joins
    // mid-run on a fast machine too; the pause is far shorter than any liveness timeout.
    for (const p of peers) p.kill('SIGSTOP');
    const late = startPeerProcess('late', server.url, session, ['--timings']);
    try {
      await late.waitForEvent((e) => e.event === 'joined', 90_000);
    } finally {
      for (const p of peers) p.kill('SIGCONT');
    }
    await Promise.all([...peers, late].map((p) => expectClean(p, 150_000)));
    const first = late.rounds[0];
    expect(first.round).toBeGreaterThanOrEqual(20);
    expect(late.events.some((e) => e.event === 'resync')).toBe(true);
    expect(checkContinuous(late.rounds, first.round, rounds)).toBeNull();
    for (const p of peers) expect(checkContinuous(p.rounds, 0, rounds), p.name).toBeNull();
    // every round the late peer applied matches the founders' parameters at that round
    const reference = new Map(peers[0].rounds.map((r) => [r.round, r.hash]));
    for (const r of late.rounds) expect(r.hash, `round ${r.round}`).toBe(reference.get(r.round));
    // it votes: the last rounds tallied four ballots
    const leader = [...peers, late].find((p) => p.rounds.at(-1)!.role === 'aggregator')!;
    expect(leader.rounds.slice(-5).every((r) => r.counted === 4)).toBe(true);
    expect(new Set([...peers, late].map(finalHash)).size).toBe(1);
    console.log(`late join: first round ${first.round}, synced from a snapshot, ${late.rounds.length} rounds applied`);
  }, 200_000);

  it('a rogue client is refused on the signaling socket and on the data channels; training goes on', async () => {
    // enough rounds that the session still runs when the rogue joins (a finished one refuses joins)
    const rounds = 1000;
    const session = await createSession(server.url, {
      ...base,
      deadlineMs: 500,
      algorithm: { name: 'mv-sto-signsgd-sim', lr: 3e-3 },
      expectedPeers: 2,
      rounds,
      evalEvery: 0,
      seed: 17,
    });
    const peers = [1, 2].map((i) => startPeerProcess(`p${i}`, server.url, session));

    // --- signaling: raw socket.io ---
    const raw = await rawSocket(server.url);
    const info = { backend: 'node', label: 'rogue' };
    expect((await emitAck(raw, SIGNALING_EVENTS.join, { sessionId: session.id, token: 'not-the-token', info })).code).toBe('bad-token');
    expect((await emitAck(raw, SIGNALING_EVENTS.join, { sessionId: 'no-such-session', token: session.token, info })).code).toBe('unknown-session');
    expect((await emitAck(raw, SIGNALING_EVENTS.join, { sessionId: { $ne: 1 }, token: 42 })).code).toBe('invalid');
    expect((await emitAck(raw, SIGNALING_EVENTS.signal, { to: 'someone', data: { type: 'offer', sdp: 'x' } })).code).toBe('not-joined');
    expect((await emitAck(raw, SIGNALING_EVENTS.unreachable, { peer: 'someone' })).code).toBe('not-joined');
    // over the server's packet cap: the connection is cut, nothing is parsed
    raw.emit(SIGNALING_EVENTS.join, { sessionId: session.id, token: 'x'.repeat(200_000), info });
    expect(await disconnectedWithin(raw, 5000)).not.toBeNull();

    // --- data channels: join legitimately, then misbehave ---
    await Promise.all(peers.map((p) => p.waitForRound(10)));
    const rogue = await joinAsRogue(server.url, session.id, session.token);
    const targets = await rogue.connected(2);
    const term = rogue.epoch();
    const zeros = '0'.repeat(16);
    for (const to of targets) {
      rogue.sendRaw(to, new Uint8Array([1, 2, 3])); // shorter than a frame header
      rogue.sendFramed(to, new Uint8Array([0xc1, 0xc1, 0xc1, 0xff])); // not msgpack
      rogue.sendFramed(to, new Uint8Array(1 << 20)); // over the session's message cap
      rogue.sendFramed(to, rogue.message({ v: PROTOCOL_VERSION, session: 'another-session', type: 'status', term, round: 0, hash: zeros, oldest: 0 }));
      rogue.sendFramed(to, rogue.message({ v: PROTOCOL_VERSION, session: session.id, type: 'status', term: 0, round: 0, hash: zeros, oldest: 0 }));
      rogue.sendFramed(
        to,
        rogue.message({ v: PROTOCOL_VERSION, session: session.id, type: 'verdict', term, round: 0, origin: term, base: zeros, hash: zeros, counted: new Uint8Array(1), payload: new Uint8Array(16) }),
      );
      rogue.sendFramed(to, encodeWithVersion(PROTOCOL_VERSION + 1, session.id, term));
    }
    // the signaling server also refuses signals to peers outside the session
    expect((await emitAck(rogue.socket, SIGNALING_EVENTS.signal, { to: 'not-a-member', data: { type: 'offer', sdp: 'x' } })).code).toBe('unknown-peer');
    await new Promise((r) => setTimeout(r, 1500));
    rogue.close();

    await Promise.all(peers.map((p) => expectClean(p, 150_000)));
    for (const p of peers) expect(checkContinuous(p.rounds, 0, rounds), p.name).toBeNull();
    expect(new Set(peers.map(finalHash)).size).toBe(1);
    const seen: Record<string, number> = {};
    for (const p of peers) for (const [k, v] of Object.entries(drops(p))) seen[k] = (seen[k] ?? 0) + v;
    console.log(`rogue: refused on the data channels: ${JSON.stringify(seen)}`);
    for (const reason of ['malformed', 'too-large', 'wrong-session', 'stale-term', 'not-aggregator', 'version']) {
      expect(seen[reason] ?? 0, reason).toBeGreaterThanOrEqual(1);
    }
  }, 200_000);

  it('resumes from per-peer checkpoints after every peer stopped, and ends exactly where an uninterrupted run does', async () => {
    const rounds = 200;
    const dir = mkdtempSync(join(tmpdir(), 'signvote-resume-'));
    try {
      const config = { ...base, algorithm: { name: 'mv-sto-signsgd-sim', lr: 3e-3 }, expectedPeers: 3, rounds, evalEvery: 0, seed: 19 } as const;
      // the same session, never stopped
      const reference = await createSession(server.url, config);
      const unbroken = [1, 2, 3].map((i) => startPeerProcess(`r${i}`, server.url, reference));
      await Promise.all(unbroken.map((p) => expectClean(p, 150_000)));

      const session = await createSession(server.url, { ...config, checkpointEvery: 20 });
      const ckpt = (i: number) => ['--checkpoint', join(dir, `p${i}.ckpt`)];
      const first = [1, 2, 3].map((i) => startPeerProcess(`p${i}`, server.url, session, ckpt(i)));
      await Promise.all(first.map((p) => p.waitForRound(21)));
      for (const p of first) p.kill('SIGTERM');
      const exits = await Promise.all(first.map((p) => p.exited));
      for (const [i, p] of first.entries()) {
        // after leaving and saving, a peer ends by the signal itself (a shell reports 143)
        expect(exits[i], p.describe()).toEqual({ code: null, signal: 'SIGTERM' });
        expect(p.rounds.at(-1)!.round, p.name).toBeLessThan(39);
      }
      const saved = await Promise.all([1, 2, 3].map(async (i) => decodeCheckpoint(new Uint8Array(await readFile(join(dir, `p${i}.ckpt`))))));
      for (const cp of saved) {
        expect(cp.session).toBe(session.id);
        expect(cp.round).toBe(20);
        // each peer's own stream and data position travel with its memory
        expect(cp.memory?.coins).toBeDefined();
        expect(cp.memory?.data).toBeDefined();
        // the checkpoint holds exactly the parameters the peers reported after round cp.round - 1
        expect(hashParams(cp.x)).toBe(first[0].rounds.find((r) => r.round === cp.round - 1)!.hash);
      }
      const top = Math.max(...saved.map((cp) => cp.round));
      const oldFile = join(dir, 'old.ckpt');
      await copyFile(join(dir, 'p1.ckpt'), oldFile);

      // new processes, same session, same command line: the checkpoint files carry the state
      // started in the other order, so their places in the new join order differ from the first run's
      const second = [3, 2, 1].map((i) => startPeerProcess(`q${i}`, server.url, session, ckpt(i))).reverse();
      await Promise.all(second.map((p) => expectClean(p, 150_000)));
      for (const [i, p] of second.entries()) {
        const resumed = p.events.find((e) => e.event === 'resume');
        expect(resumed, p.name).toBeDefined();
        // it trains the shard it had, whatever its place in the new join order
        const shardOf = (q: typeof p) => q.events.find((e) => e.event === 'joined')?.shard;
        expect(shardOf(p), p.name).toBe(shardOf(first[i]));
        expect(resumed!.round).toBe(saved[i].round);
        expect(resumed!.hash).toBe(hashParams(saved[i].x));
        expect(checkContinuous(p.rounds, p.rounds[0].round, rounds), p.name).toBeNull();
        expect(p.rounds[0].round).toBeGreaterThanOrEqual(top);
      }
      // the session went on from the most advanced checkpoint, not from round 0
      expect(Math.min(...second.map((p) => p.rounds[0].round))).toBe(top);
      expect(new Set(second.map(finalHash)).size).toBe(1);
      // momentum, sign coins and batches all went on as if nothing had stopped
      expect(finalHash(second[0])).toBe(finalHash(unbroken[0]));

      // a NEW session (as after a server restart): --checkpoint alone refuses the foreign file,
      // --resume continues from it and checkpoints under the new session
      const fresh = await createSession(server.url, { ...config, expectedPeers: 1, rounds: saved[0].round + 10, checkpointEvery: 10 });
      const refused = startPeerProcess('refused', server.url, fresh, ['--checkpoint', oldFile]);
      expect((await refused.exited).code).toBe(1);
      expect(refused.stderr.join('\n')).toContain(`checkpoint is of session ${session.id}`);
      const newFile = join(dir, 'new.ckpt');
      const moved = startPeerProcess('moved', server.url, fresh, ['--resume', oldFile, '--checkpoint', newFile]);
      await expectClean(moved, 60_000);
      const resumed = moved.events.find((e) => e.event === 'resume')!;
      expect(resumed).toMatchObject({ round: saved[0].round, hash: hashParams(saved[0].x), fromSession: session.id });
      expect(checkContinuous(moved.rounds, saved[0].round, saved[0].round + 10)).toBeNull();
      const after = decodeCheckpoint(new Uint8Array(await readFile(newFile)));
      expect(after).toMatchObject({ session: fresh.id, round: saved[0].round + 10 });
      expect(hashParams(after.x)).toBe(finalHash(moved));

      console.log(`resume: stopped after round ${Math.max(...first.map((p) => p.rounds.at(-1)!.round))}, resumed at ${top}, finished ${rounds}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 200_000);

  it('the CLI: session create --json, and clear refusals with distinct exit codes', async () => {
    const created = await runCli(['session', 'create', '--server', server.url, '--peers', '2', '--rounds', '5', '--json']);
    expect(created.code).toBe(0);
    const { id, token } = JSON.parse(created.stdout) as { id: string; token: string };
    expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
    const wrongToken = await runCli(['peer', '--server', server.url, '--session', id, '--token', 'wrong']);
    expect(wrongToken.code).toBe(4);
    expect(wrongToken.stderr).toContain(`wrong token for session ${id}`);
    const unknown = await runCli(['peer', '--server', server.url, '--session', 'nope', '--token', token]);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('unknown session nope');
    const down = await runCli(['peer', '--server', 'http://127.0.0.1:9', '--session', id, '--token', token]);
    expect(down.code).toBe(3);
    expect(down.stderr).toContain('cannot reach signaling server');
    const bad = await runCli(['session', 'create', '--server', server.url, '--lr', '-1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('algorithm.lr');
    const helps = await Promise.all([[], ['serve'], ['session', 'create'], ['peer'], ['start']].map((c) => runCli([...c, '--help'])));
    for (const h of helps) {
      expect(h.code).toBe(0);
      expect(h.stdout).toContain('Usage: signvote');
    }
    expect(helps[3].stdout).toContain('Exit codes');
  }, 60_000);

  it('start --peers N runs a server, a session and N Node peers, and --exit stops after training', async () => {
    // a fresh clone (CI) has no client build, and start's line about browser tabs depends on it
    await ensureClientBuild();
    const run = await runCli(['start', '--port', '0', '--peers', '2', '--rounds', '6', '--eval-every', '3', '--exit']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/demo session \S+: 2 peers, mv-sto-signsgd-sim, mlp on mnist/);
    // the client was built before start ran (beforeAll); without it see cli/src/tab-lines.test.ts
    expect(run.stdout).toMatch(/more peers can join from a browser tab: http:\/\/127\.0\.0\.1:\d+\/\?session=/);
    // peer 1's progress: one line per round (not a terminal), then the summary
    expect(run.stderr).toMatch(/round 6\/6 term \d+ (aggregator|worker) loss [\d.]+ acc [\d.]+%/);
    expect(run.stderr).toMatch(/finished: 6 rounds, parameters [0-9a-f]{16}/);
  }, 270_000);
});

/** A well-formed message from a protocol version this build does not speak. */
/** A running 4-peer MV-STO-SIGNSGD-SIM session, once every peer reached `round`; `lead` is its aggregator then. */
async function fourPeersAt(round: number, config: { rounds: number; seed: number; deadlineMs?: number }, extra: string[] = []): Promise<{ peers: PeerProcess[]; lead: PeerProcess }> {
  const session = await createSession(server.url, { ...base, algorithm: { name: 'mv-sto-signsgd-sim', lr: 3e-3 }, expectedPeers: 4, evalEvery: 0, ...config });
  const peers = [1, 2, 3, 4].map((i) => startPeerProcess(`p${i}`, server.url, session, extra));
  await Promise.all(peers.map((p) => p.waitForRound(round)));
  return { peers, lead: peers.find((p) => p.rounds.at(-1)!.role === 'aggregator')! };
}

function encodeWithVersion(v: number, session: string, term: number): Uint8Array {
  return new Uint8Array(new Packr({ useRecords: false }).pack({ v, session, type: 'open', term, round: 0, hash: '0'.repeat(16) }));
}
