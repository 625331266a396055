import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION } from '../protocol/messages';
import { createManualClock } from '../sim/clock';
import { createSim, waitFor, type SimPeer } from '../sim/testing';

const continuous = (p: SimPeer, from: number, to: number): void => {
  expect(p.applied).toEqual(Array.from({ length: to - from }, (_, i) => from + i));
};

describe('session over the in-memory hub', () => {
  it('8 peers train to lower loss with identical parameters and continuous rounds', async () => {
    const sim = createSim({ n: 8, config: { rounds: 40 } });
    const loss0 = sim.problem.loss(sim.problem.x0);
    const results = await Promise.all(sim.peers.map((p) => p.peer.finished));
    const hashes = new Set(results.map((r) => r.hash));
    expect(hashes.size).toBe(1);
    for (const p of sim.peers) continuous(p, 0, 40);
    const loss = sim.problem.loss(sim.peers[0].peer.state().x);
    expect(loss).toBeLessThan(loss0 * 0.5);
    // every verdict counted every peer (no deadline hit)
    const agg = sim.peers[0];
    expect(agg.peer.state().role).toBe('aggregator');
    const rounds = agg.events.filter((e) => e.type === 'round');
    expect(rounds.every((e) => e.type === 'round' && e.counted === 8 && e.mine)).toBe(true);
    // every tab can name the voters and their latencies: a worker's view equals the aggregator's
    const ids = sim.peers.map((p) => p.peer.self);
    const seenBy = (p: SimPeer) => p.events.flatMap((e) => (e.type === 'round' ? [{ round: e.round, voters: e.voters, latencies: e.latencies }] : []));
    for (const r of seenBy(agg)) {
      expect(r.voters).toEqual(ids);
      expect(Object.keys(r.latencies).sort()).toEqual([...ids].sort());
      for (const ms of Object.values(r.latencies)) expect(Number.isInteger(ms) && ms >= 0).toBe(true);
    }
    expect(seenBy(sim.peers[5])).toEqual(seenBy(agg));
    // after the first round, the aggregator receives exactly 7 ballot messages per round and
    // sends 7 verdicts: d/8 sign bytes plus the strategy tag plus the protocol header (a fresh
    // verdict has no result hash: the aggregator sends it before applying it)
    const hash = '0'.repeat(16);
    const ballotBytes = encodeMessage({ v: PROTOCOL_VERSION, type: 'ballot', session: 'local', term: 8, round: 20, hash, payload: new Uint8Array(1 + 64 / 8) }).length;
    for (const e of rounds.slice(1)) {
      if (e.type !== 'round') continue;
      expect(e.bytesDown).toBe(7 * ballotBytes);
      // the verdict also carries each voter's arrival latency (1-5 bytes each)
      const latencies = e.voters.map((p) => e.latencies[p]);
      const verdictBytes = encodeMessage({
        v: PROTOCOL_VERSION, type: 'verdict', session: 'local', term: 8, round: 20, origin: 8, base: hash, counted: new Uint8Array([0xff]), payload: new Uint8Array(1 + 64 / 8), latencies,
      }).length;
      // an even number of voters can tie: then the verdict carries a d/8-byte tie bitmap
      expect([7 * verdictBytes, 7 * (verdictBytes + 64 / 8)]).toContain(e.bytesUp);
    }
    await sim.stop();
  });

  it('is deterministic: same seed and peers give the same final hash, another seed does not', async () => {
    const run = async (seed: number): Promise<string> => {
      const sim = createSim({ n: 5, config: { rounds: 25, seed } });
      const r = await Promise.all(sim.peers.map((p) => p.peer.finished));
      await sim.stop();
      return r[0].hash;
    };
    const a = await run(3);
    const b = await run(3);
    const c = await run(4);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it('fails over when the aggregator leaves mid-run: no round skipped or applied twice', async () => {
    const sim = createSim({
      n: 6,
      config: { rounds: 30 },
      onEvent: (i, e) => {
        if (i === 0 && e.type === 'round' && e.round === 10) queueMicrotask(() => sim.hub.leave(sim.peers[0].peer.self));
      },
    });
    const [p1, p2] = sim.peers;
    const survivors = sim.peers.slice(1);
    const res = await Promise.all(survivors.map((p) => p.peer.finished));
    expect(new Set(res.map((r) => r.hash)).size).toBe(1);
    for (const p of survivors) continuous(p, 0, 30);
    expect(p2.peer.state().role).toBe('aggregator');
    expect(p2.events.some((e) => e.type === 'aggregator' && e.aggregator === p2.peer.self && e.previous === p1.peer.self)).toBe(true);
    await sim.stop();
  });

  for (const variant of ['new aggregator has it', 'only a later peer has it'] as const) {
    it(`recovers when the aggregator dies after sending a verdict to some peers only (${variant})`, async () => {
      const sim = createSim({ n: 6, config: { rounds: 30 } });
      const [p1] = sim.peers;
      const lucky = variant === 'new aggregator has it' ? [sim.peers[1].peer.self, sim.peers[3].peer.self] : [sim.peers[4].peer.self];
      const killRound = 12;
      let killed = false;
      sim.hub.setFault(({ from, to, bytes }) => {
        if (from !== p1.peer.self) return 'deliver';
        if (killed) return 'drop';
        const msg = decodeMessage(bytes);
        if (msg.type !== 'verdict' || msg.round !== killRound) return 'deliver';
        if (lucky.includes(to)) return 'deliver';
        // the first unlucky recipient: die in the middle of the broadcast
        killed = true;
        queueMicrotask(() => sim.hub.leave(p1.peer.self));
        return 'drop';
      });
      const survivors = sim.peers.slice(1);
      const res = await Promise.all(survivors.map((p) => p.peer.finished));
      expect(killed).toBe(true);
      expect(new Set(res.map((r) => r.hash)).size).toBe(1);
      for (const p of survivors) continuous(p, 0, 30);
      // nobody needed a full snapshot: the verdict was replayed
      expect(survivors.every((p) => p.peer.stats().snapshotsInstalled === 0)).toBe(true);
      await sim.stop();
    });
  }

  it('a late joiner at round >= 20 installs a snapshot and then votes with a matching hash', async () => {
    let joined: SimPeer | null = null;
    const sim = createSim({
      n: 4,
      config: { rounds: 40 },
      onEvent: (i, e) => {
        if (i === 0 && e.type === 'round' && e.round === 20) joined = sim.add();
      },
    });
    await waitFor(() => joined !== null, 20_000, 'the late joiner');
    const late = joined as unknown as SimPeer;
    const res = await Promise.all(sim.peers.map((p) => p.peer.finished));
    expect(new Set(res.map((r) => r.hash)).size).toBe(1);
    const resync = late.events.find((e) => e.type === 'resync');
    expect(resync && resync.type === 'resync' && resync.round >= 20).toBe(true);
    expect(late.peer.stats().snapshotsInstalled).toBe(1);
    const start = late.applied[0];
    continuous(late, start, 40);
    // its ballots were counted (hash matched the aggregator's)
    const counted = late.events.filter((e) => e.type === 'round' && e.mine);
    expect(counted.length).toBeGreaterThan(5);
    expect(sim.peers[0].peer.stats().dropped['hash-mismatch'] ?? 0).toBe(0);
    await sim.stop();
  });

  it('detects a peer with corrupted parameters by hash and resyncs it', async () => {
    const sim = createSim({
      n: 5,
      config: { rounds: 30 },
      onEvent: (i, e) => {
        // a flipped bit in memory, say
        if (i === 3 && e.type === 'round' && e.round === 10) sim.peers[3].peer.state().x[5] += 1;
      },
    });
    const victim = sim.peers[3];
    const res = await Promise.all(sim.peers.map((p) => p.peer.finished));
    expect(new Set(res.map((r) => r.hash)).size).toBe(1);
    expect(victim.peer.stats().snapshotsInstalled).toBe(1);
    expect(victim.events.some((e) => e.type === 'resync')).toBe(true);
    await sim.stop();
  });

  it('a straggler past the deadline is not counted and does not block the round', async () => {
    const slowRound = 5;
    const sim = createSim({ n: 4, config: { rounds: 12, deadlineMs: 150 } });
    // late for one deadline, in time for the next round's
    const straggler = sim.add({ slow: (r) => (r === slowRound ? 250 : 0) });
    const res = await Promise.all(sim.peers.map((p) => p.peer.finished));
    expect(new Set(res.map((r) => r.hash)).size).toBe(1);
    const agg = sim.peers[0];
    const ev = agg.events.find((e) => e.type === 'round' && e.round === slowRound);
    expect(ev && ev.type === 'round' && ev.counted).toBe(4);
    const mine = straggler.events.find((e) => e.type === 'round' && e.round === slowRound);
    expect(mine && mine.type === 'round' && mine.mine).toBe(false);
    // it caught up and votes again afterwards
    const last = straggler.events.filter((e) => e.type === 'round').at(-1);
    expect(last && last.type === 'round' && last.mine).toBe(true);
    for (const p of sim.peers) continuous(p, 0, 12);
    await sim.stop();
  });

  it('a hung peer costs two deadlines, then rounds go on without waiting for it; back, it votes again', async () => {
    const deadlineMs = 100;
    // 2 ms per message: a round takes a few ms, so the session is still running when it is back
    const sim = createSim({ n: 4, config: { rounds: 200, deadlineMs }, hub: { delayMs: 2 } });
    const hung = sim.add({ slow: (r) => (r >= 5 && r < 8 ? 700 : 0) });
    const res = await Promise.all(sim.peers.map((p) => p.peer.finished));
    expect(new Set(res.map((r) => r.hash)).size).toBe(1);
    const rounds = sim.peers[0].events.flatMap((e) => (e.type === 'round' ? [e] : []));
    // rounds 5 and 6 waited for it; from round 7 on it was not waited for (without the rule,
    // every round until it is back, about 7 of them, would wait a whole deadline)
    // (timers may fire a little early by performance.now())
    expect(rounds.filter((e) => e.ms >= 0.9 * deadlineMs).map((e) => e.round)).toEqual([5, 6]);
    const missing = rounds.filter((e) => !e.voters.includes(hung.peer.self)).map((e) => e.round);
    expect(missing[0]).toBe(5);
    // back: any ballot of its, even one too late to count, makes the aggregator wait for it again
    expect(rounds.slice(-50).every((e) => e.voters.includes(hung.peer.self))).toBe(true);
    for (const p of sim.peers) continuous(p, 0, 200);
    await sim.stop();
  });

  it('reports evaluations every evalEvery rounds, events staying in round order', async () => {
    const sim = createSim({
      n: 3,
      config: { rounds: 12, evalEvery: 4 },
      evaluate: async (x) => {
        await new Promise((r) => setTimeout(r, 5));
        return { loss: sim.problem.loss(x), accuracy: 0.5 };
      },
    });
    await Promise.all(sim.peers.map((p) => p.peer.finished));
    const p = sim.peers[1];
    continuous(p, 0, 12);
    const withAcc = p.events.flatMap((e) => (e.type === 'round' && e.accuracy !== undefined ? [e.round] : []));
    expect(withAcc).toEqual([3, 7, 11]);
    expect(p.events.at(-1)?.type).toBe('finished');
    await sim.stop();
  });

  it('with an injected clock, deadlines follow that clock; a hung worker still applies every verdict', async () => {
    const clock = createManualClock();
    const sim = createSim({ n: 2, config: { rounds: 8, deadlineMs: 1000 }, clock });
    const hung = sim.add({ slow: (r) => (r >= 3 ? Infinity : 0) });
    let done = false;
    void Promise.all(sim.peers.map((p) => p.peer.finished)).then(() => (done = true));
    // wall time alone never closes round 3: it waits on the (manual) deadline
    await waitFor(() => sim.peers[0].peer.state().round === 3, 5000, 'round 3');
    await new Promise((r) => setTimeout(r, 30));
    expect(sim.peers[0].peer.state().round).toBe(3);
    clock.advance(999);
    await new Promise((r) => setTimeout(r, 10));
    expect(sim.peers[0].peer.state().round).toBe(3);
    for (let i = 0; i < 50 && !done; i++) {
      clock.advance(1000);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(done).toBe(true);
    expect(new Set(sim.peers.map((p) => p.peer.state().hash)).size).toBe(1);
    continuous(hung, 0, 8);
    const agg = sim.peers[0].events.filter((e) => e.type === 'round');
    expect(agg.map((e) => (e.type === 'round' ? e.counted : 0))).toEqual([3, 3, 3, 2, 2, 2, 2, 2]);
    await sim.stop();
  });
});

