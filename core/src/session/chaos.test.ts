import { describe, expect, it } from 'vitest';
import { createRng } from '../random';
import { createSim, type SimPeer } from '../sim/testing';

describe('session under delays, joins and repeated failover', () => {
  for (const seed of [1, 2, 3]) {
    it(`two aggregators die and a peer joins, with random per-message delays (seed ${seed})`, async () => {
      const rng = createRng(seed);
      const rounds = 30;
      let late: SimPeer | null = null;
      const sim = createSim({
        n: 6,
        config: { rounds, deadlineMs: 500 },
        hub: { delayMs: () => (rng.float() < 0.3 ? rng.int(4) : 0) },
        onEvent: (i, e) => {
          if (e.type !== 'round') return;
          if (i === 0 && e.round === 8) queueMicrotask(() => sim.hub.leave(sim.peers[0].peer.self));
          if (i === 1 && e.round === 12 && late === null) late = sim.add();
          if (i === 1 && e.round === 16) queueMicrotask(() => sim.hub.leave(sim.peers[1].peer.self));
        },
      });
      const live = (): SimPeer[] => sim.peers.filter((p) => p.peer.self !== 'p1' && p.peer.self !== 'p2');
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('session did not finish')), 20_000);
        const poll = (): void => {
          if (late !== null) {
            Promise.all(live().map((p) => p.peer.finished)).then(() => {
              clearTimeout(t);
              resolve();
            }, reject);
          } else setTimeout(poll, 5);
        };
        poll();
      });
      const survivors = live();
      expect(survivors.length).toBe(5);
      expect(new Set(survivors.map((p) => p.peer.state().hash)).size).toBe(1);
      for (const p of survivors) {
        const first = p.applied[0];
        expect(p.applied).toEqual(Array.from({ length: rounds - first }, (_, i) => first + i));
      }
      expect(survivors[0].peer.state().aggregator).toBe('p3');
      await sim.stop();
    });
  }

  for (const seed of [4, 5, 6]) {
    it(`the new aggregator dies while reconciling, after a partial verdict broadcast (seed ${seed})`, async () => {
      const rng = createRng(seed);
      const rounds = 24;
      let cut = false;
      const sim = createSim({
        n: 7,
        config: { rounds, deadlineMs: 300 },
        hub: { delayMs: () => (rng.float() < 0.3 ? rng.int(3) : 0) },
        onEvent: (i, e) => {
          // p2 dies the moment it learns it leads
          if (i === 1 && e.type === 'aggregator' && e.aggregator === 'p2') queueMicrotask(() => sim.hub.leave('p2'));
        },
      });
      sim.hub.setFault(({ from, to, bytes }) => {
        if (from !== 'p1') return 'deliver';
        if (cut) return 'drop';
        // round 10's verdict reaches p5 only, then p1 dies
        if (bytes.length <= 80 || sim.peers[0].peer.state().round !== 11) return 'deliver';
        if (to === 'p5') return 'deliver';
        if (to === 'p6') {
          cut = true;
          queueMicrotask(() => sim.hub.leave('p1'));
        }
        return 'drop';
      });
      const survivors = sim.peers.slice(2);
      await Promise.all(survivors.map((p) => p.peer.finished));
      expect(cut).toBe(true);
      expect(new Set(survivors.map((p) => p.peer.state().hash)).size).toBe(1);
      for (const p of survivors) expect(p.applied).toEqual(Array.from({ length: rounds }, (_, i) => i));
      expect(survivors[0].peer.state().aggregator).toBe('p3');
      // verdict 10 survived on p5 alone: fetched and replayed, no snapshot needed
      expect(survivors.every((p) => p.peer.stats().snapshotsInstalled === 0)).toBe(true);
      await sim.stop();
    });
  }
});

