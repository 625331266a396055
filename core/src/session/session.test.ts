import { describe, expect, it } from 'vitest';
import { encodeMessage, PROTOCOL_VERSION } from '../protocol/messages';
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
    const seenBy = (p: SimPeer) => p.events.flatMap((e) => (e.type === 'round' ? [{ round: e.round, voters: e.voters, latencies: e.latencies, agreement: e.agreement }] : []));
    for (const r of seenBy(agg)) {
      expect(r.voters).toEqual(ids);
      expect(Object.keys(r.latencies).sort()).toEqual([...ids].sort());
      for (const ms of Object.values(r.latencies)) expect(Number.isInteger(ms) && ms >= 0).toBe(true);
      // and how often each voted with the verdict: honest voters of one problem, all above a coin
      expect(Object.keys(r.agreement).sort()).toEqual([...ids].sort());
      for (const a of Object.values(r.agreement)) expect(a > 0.5 && a <= 1).toBe(true);
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
      // the verdict also carries each voter's arrival latency (1-5 bytes each) and agreement (1 byte each)
      const latencies = e.voters.map((p) => e.latencies[p]);
      const verdictBytes = encodeMessage({
        v: PROTOCOL_VERSION, type: 'verdict', session: 'local', term: 8, round: 20, origin: 8, base: hash, counted: new Uint8Array([0xff]), payload: new Uint8Array(1 + 64 / 8), latencies,
        agreement: new Uint8Array(8),
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

  it('reports evaluations every evalEvery rounds beside the rounds, which never wait for them', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const sim = createSim({
      n: 3,
      config: { rounds: 12, evalEvery: 4 },
      evaluate: async (x) => {
        // the first evaluation holds until every peer has applied round 7: rounds go on without it
        await gate;
        return { loss: sim.problem.loss(x), accuracy: 0.5 };
      },
    });
    await waitFor(() => sim.peers.every((q) => q.peer.state().round >= 8), 5000, 'round 8 everywhere');
    release();
    await Promise.all(sim.peers.map((q) => q.peer.finished));
    const p = sim.peers[1];
    continuous(p, 0, 12);
    const announced = p.events.flatMap((e) => (e.type === 'round' && e.evaluating ? [e.round] : []));
    expect(announced).toEqual([3, 7, 11]);
    const evaluations = p.events.flatMap((e) => (e.type === 'evaluation' ? [e] : []));
    // one answer per announced evaluation; 7's may have been replaced by 11 while 3 was held
    expect(evaluations.map((e) => e.round).sort((a, b) => a - b)).toEqual([3, 7, 11]);
    const ran = evaluations.filter((e) => e.result !== null);
    expect(ran.map((e) => e.round)).toContain(3);
    expect(ran.map((e) => e.round)).toContain(11);
    expect(ran.every((e) => e.result!.accuracy === 0.5)).toBe(true);
    // round 3's evaluation was reported after later rounds; each after its own round
    const at = (pred: (e: (typeof p.events)[number]) => boolean) => p.events.findIndex(pred);
    expect(at((e) => e.type === 'evaluation' && e.round === 3)).toBeGreaterThan(at((e) => e.type === 'round' && e.round === 7));
    for (const e of evaluations) expect(at((x) => x === e)).toBeGreaterThan(at((x) => x.type === 'round' && x.round === e.round));
    expect(p.events.at(-1)?.type).toBe('finished');
    await sim.stop();
  });

  it('skips an evaluation a newer one replaced while the engine was busy', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const sim = createSim({
      n: 2,
      config: { rounds: 12, evalEvery: 2 },
      evaluate: async (x) => {
        await gate;
        return { loss: sim.problem.loss(x), accuracy: 0.25 };
      },
    });
    await waitFor(() => sim.peers.every((q) => q.peer.state().round >= 12), 5000, 'every round');
    release();
    await Promise.all(sim.peers.map((q) => q.peer.finished));
    const evaluations = sim.peers[0].events.flatMap((e) => (e.type === 'evaluation' ? [e] : []));
    // round 1 ran (held), 3..9 were each replaced by the next, 11 (the last) ran
    expect(evaluations.map((e) => [e.round, e.result === null])).toEqual([
      [3, true],
      [5, true],
      [7, true],
      [9, true],
      [1, false],
      [11, false],
    ]);
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

