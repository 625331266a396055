import { describe, expect, it } from 'vitest';
import type { Checkpoint, CheckpointStore } from './checkpoint';
import type { SessionEvent } from './events';
import { createSim, waitFor, type SimPeer } from '../sim/testing';

const memoryStore = (): CheckpointStore & { latest: Checkpoint | null } => {
  const store = {
    latest: null as Checkpoint | null,
    async save(cp: Checkpoint) {
      store.latest = cp;
    },
    async load() {
      return store.latest;
    },
  };
  return store;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const continuous = (p: SimPeer, from: number, to: number): void => {
  expect(p.applied).toEqual(Array.from({ length: to - from }, (_, i) => from + i));
};
const waitings = (p: SimPeer) => p.events.filter((e): e is Extract<SessionEvent, { type: 'waiting' }> => e.type === 'waiting');

describe('when a session starts and finishes', () => {
  it('a session resumed from checkpoints applies no round until expectedPeers are present, then goes on with fewer', async () => {
    const stores = [memoryStore(), memoryStore(), memoryStore()];
    const first = createSim({ n: 3, config: { rounds: 20, checkpointEvery: 10 }, checkpoints: (i) => stores[i] });
    await Promise.all(first.peers.map((p) => p.peer.finished));
    await first.stop();
    await waitFor(() => stores.every((s) => s.latest?.round === 20), 5000, 'the last checkpoints');

    // new processes: peer 0 and peer 2 resume from their checkpoints, peer 1 starts fresh
    let third: SimPeer | null = null;
    const sim = createSim({
      n: 1,
      config: { rounds: 30, expectedPeers: 3, checkpointEvery: 10, deadlineMs: 50 },
      checkpoints: (i) => (i === 1 ? undefined : stores[i]),
      onEvent: (i, e) => {
        // started: losing a peer now is failover, not a reason to wait again
        if (i === 0 && e.type === 'round' && e.round === 24 && third) queueMicrotask(() => sim.hub.leave(third!.peer.self));
      },
    });
    const [resumed] = sim.peers;
    await waitFor(() => waitings(resumed).length > 0, 5000, 'the waiting event');
    await sleep(200); // four deadlines
    expect(resumed.applied).toEqual([]);
    expect(resumed.peer.state().round).toBe(20);
    expect(waitings(resumed)[0]).toMatchObject({ have: 1, need: 3 });

    const fresh = sim.add();
    // the fresh peer is brought to the resumed state, but still no round is decided
    await waitFor(() => fresh.peer.state().round === 20, 5000, 'the snapshot');
    await waitFor(() => waitings(resumed).some((w) => w.have === 2), 5000, 'waiting with 2 of 3');
    await sleep(200);
    expect(resumed.applied).toEqual([]);
    expect(fresh.applied).toEqual([]);
    expect(fresh.events.some((e) => e.type === 'resync')).toBe(true);

    third = sim.add();
    const survivors = [resumed, fresh];
    const res = await Promise.all(survivors.map((p) => p.peer.finished));
    expect(new Set(res.map((r) => r.hash)).size).toBe(1);
    for (const p of survivors) continuous(p, 20, 30);
    expect(third.applied[0]).toBe(20);
    expect(third.applied.length).toBeLessThan(10);
    // after the quorum was reached nobody waited again, although only 2 of 3 were left
    expect(waitings(resumed).every((w) => w.have < 3)).toBe(true);
    expect(resumed.events.filter((e) => e.type === 'waiting').length).toBe(2);
    await sim.stop();
  });

  it('a peer joining a finished session learns the final round from whoever is present; alone, it waits', async () => {
    // 20 rounds: more than the 16 verdicts a peer keeps, so the newcomer needs a snapshot
    const sim = createSim({ n: 3, config: { rounds: 20, deadlineMs: 100 } });
    const done = await Promise.all(sim.peers.map((p) => p.peer.finished));
    const final = done[0].hash;

    // everyone still present
    const a = sim.add();
    expect(await a.peer.finished).toEqual({ round: 20, hash: final });
    expect(a.applied).toEqual([]);

    // only a finished worker is left: it leads the new term and hands the final state on
    for (const p of [sim.peers[0], sim.peers[1], a]) sim.hub.leave(p.peer.self);
    const remaining = sim.peers[2];
    const b = sim.add();
    expect(await b.peer.finished).toEqual({ round: 20, hash: final });
    expect(b.events.some((e) => e.type === 'resync')).toBe(true);
    expect(remaining.events.some((e) => e.type === 'waiting')).toBe(false);

    // nobody left who knows: the newcomer waits (and says so) rather than train from scratch
    sim.hub.leave(remaining.peer.self);
    sim.hub.leave(b.peer.self);
    const alone = sim.add();
    await waitFor(() => waitings(alone).length > 0, 5000, 'the waiting event');
    await sleep(150);
    expect(alone.applied).toEqual([]);
    expect(waitings(alone)[0]).toMatchObject({ have: 1, need: 3 });
    await sim.stop();
  });

  it('every peer learns who voted and how late each ballot arrived', async () => {
    const slowRound = 3;
    const sim = createSim({ n: 3, config: { rounds: 6, deadlineMs: 5000 } });
    const slow = sim.add({ slow: (r) => (r === slowRound ? 120 : 0) });
    await Promise.all(sim.peers.map((p) => p.peer.finished));
    const ids = sim.peers.map((p) => p.peer.self);
    const at = (p: SimPeer) => {
      const e = p.events.find((x) => x.type === 'round' && x.round === slowRound);
      if (e?.type !== 'round') throw new Error('no round event');
      return e;
    };
    const agg = at(sim.peers[0]);
    expect(agg.role).toBe('aggregator');
    expect(agg.voters).toEqual(ids);
    expect(agg.latencies[slow.peer.self]).toBeGreaterThanOrEqual(120);
    for (const id of ids.slice(0, 3)) expect(agg.latencies[id]).toBeLessThan(agg.latencies[slow.peer.self]);
    // a worker sees the same voters and latencies, its own included
    for (const p of sim.peers.slice(1)) {
      const e = at(p);
      expect(e.role).toBe('worker');
      expect(e.voters).toEqual(agg.voters);
      expect(e.latencies).toEqual(agg.latencies);
      expect(e.mine).toBe(true);
    }
    await sim.stop();
  });
});
