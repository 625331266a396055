import { describe, expect, it } from 'vitest';
import { createRng } from '../random';
import { createSim, waitFor, type SimPeer } from '../sim/testing';
import type { Checkpoint, CheckpointStore } from './checkpoint';
import type { SessionEvent } from './events';

/**
 * Issue 12's churn test: 200 peers on the in-memory hub with the session record, and random
 * joins, leaves, crashes, stalls (a peer that hears and says nothing for a while, as under
 * SIGSTOP), aggregator crashes in the middle of a broadcast, and resumes from checkpoints, during
 * the run and around its end. One seed, so a failure reruns the same churn.
 *
 * Invariants: every peer that reports `finished` holds the record's final hash; the record never
 * committed two hashes for one round; the peers that finished applied one hash per round; and
 * every committed point is the state those peers passed through.
 */

const PEERS = 200;
const ROUNDS = 60;

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

describe('churn with the session record', () => {
  it(`${PEERS} peers, random joins, leaves, crashes, stalls and resumes: one model, the record's`, async () => {
    const rng = createRng('churn-12');
    const stores = new Map<SimPeer, ReturnType<typeof memoryStore>>();
    const frozen = new Set<string>();
    /** aggregator -> the peers its messages do not reach (a crash mid-broadcast) */
    let cutFrom: { from: string; to: Set<string> } | null = null;
    const log: string[] = [];
    let top = -1;
    let lastChurnAt = -1;
    const crashed: SimPeer[] = [];
    const gone = new Set<SimPeer>();

    const sim = createSim({
      n: 0,
      record: true,
      config: { rounds: ROUNDS, expectedPeers: PEERS, deadlineMs: 250, checkpointEvery: 5 },
      onEvent: (_i, e) => {
        if (e.type !== 'round' || e.round <= top) return;
        top = e.round;
        // churn between rounds, not inside an event handler
        if (top >= 2 && top - lastChurnAt >= 2) {
          lastChurnAt = top;
          setTimeout(() => churn(top), 0);
        }
      },
    });
    sim.hub.setFault(({ from, to }) => {
      if (frozen.has(from) || frozen.has(to)) return 'drop';
      if (cutFrom !== null && from === cutFrom.from && cutFrom.to.has(to)) return 'drop';
      return 'deliver';
    });

    const add = (store = memoryStore()): SimPeer => {
      const p = sim.add({ checkpoints: store });
      stores.set(p, store);
      return p;
    };
    for (let i = 0; i < PEERS; i++) add();

    const alive = (): SimPeer[] => sim.peers.filter((p) => !gone.has(p) && sim.hub.epoch.peers.includes(p.peer.self));
    const pick = (ps: SimPeer[]): SimPeer => ps[rng.int(ps.length)];
    const crash = (p: SimPeer, why: string): void => {
      gone.add(p);
      crashed.push(p);
      sim.hub.leave(p.peer.self);
      void p.peer.stop();
      log.push(`${why} ${p.peer.self}`);
    };

    function churn(round: number): void {
      const live = alive();
      if (live.length < 40) return;
      const actions = 1 + rng.int(3);
      for (let k = 0; k < actions; k++) {
        const x = rng.float();
        const workers = alive().slice(1);
        if (x < 0.2) {
          log.push(`join at ${round}: ${add().peer.self}`);
        } else if (x < 0.4) {
          crash(pick(workers), `crash at ${round}:`);
        } else if (x < 0.5) {
          // a graceful leave is a crash on the hub, but at the end of the peer's own turn
          const p = pick(workers);
          queueMicrotask(() => crash(p, `leave at ${round}:`));
        } else if (x < 0.65) {
          const p = pick(workers);
          frozen.add(p.peer.self);
          log.push(`stall at ${round}: ${p.peer.self}`);
          setTimeout(() => frozen.delete(p.peer.self), 200 + rng.int(1500));
        } else if (x < 0.8) {
          const back = crashed.find((c) => (stores.get(c)?.latest ?? null) !== null);
          if (back) {
            crashed.splice(crashed.indexOf(back), 1);
            log.push(`resume at ${round}: ${add(stores.get(back)).peer.self} from ${back.peer.self}'s checkpoint`);
          }
        } else if (x < 0.9) {
          // the aggregator dies after its verdict reached only some peers
          const agg = alive()[0];
          const others = alive().slice(1);
          cutFrom = { from: agg.peer.self, to: new Set(others.filter(() => rng.float() < 0.5).map((p) => p.peer.self)) };
          const onNext = (e: SessionEvent): boolean => e.type === 'round' && e.round > round;
          const check = setInterval(() => {
            if (agg.events.some(onNext) || gone.has(agg)) {
              clearInterval(check);
              if (!gone.has(agg)) crash(agg, `aggregator crash mid-broadcast after round ${round}:`);
              cutFrom = null;
            }
          }, 1);
        }
      }
    }

    await waitFor(() => top >= ROUNDS - 1, 120_000, 'the last round');
    // and at its end: a crash, a stall, a join and a resume right as it finishes
    crash(pick(alive().slice(1)), 'crash at the end:');
    const stalledAtEnd = pick(alive().slice(1));
    frozen.add(stalledAtEnd.peer.self);
    setTimeout(() => frozen.delete(stalledAtEnd.peer.self), 1000);
    add();
    const back = crashed.find((c) => (stores.get(c)?.latest ?? null) !== null);
    if (back) add(stores.get(back));

    // every peer alive at the end finishes or gives up, with a reason
    const settled = (p: SimPeer) => p.events.some((e) => e.type === 'finished' || e.type === 'gave-up');
    await waitFor(() => alive().every(settled), 120_000, 'every live peer settled');
    await new Promise((r) => setTimeout(r, 200));

    const record = sim.record!.ledger.view();
    expect(record.status, log.join('\n')).toBe('finished');
    const end = record.finished!;
    const finishers = sim.peers.filter((p) => p.events.some((e) => e.type === 'finished'));
    for (const p of finishers) {
      const f = p.events.find((e) => e.type === 'finished')!;
      expect(f, p.peer.self).toMatchObject({ round: end.round, hash: end.hash });
    }
    // one hash per round among the peers that finished, and every committed point among them
    const byRound = new Map<number, Set<string>>();
    for (const p of finishers) for (const e of p.events) if (e.type === 'round') (byRound.get(e.round + 1) ?? byRound.set(e.round + 1, new Set()).get(e.round + 1)!).add(e.hash);
    for (const [round, hashes] of byRound) expect(hashes.size, `round ${round}`).toBe(1);
    const committed = new Map<number, Set<string>>();
    for (const p of sim.peers) for (const e of p.events) if (e.type === 'committed') (committed.get(e.round) ?? committed.set(e.round, new Set()).get(e.round)!).add(e.hash);
    for (const [round, hashes] of committed) {
      expect(hashes.size, `committed round ${round}`).toBe(1);
      const applied = byRound.get(round);
      if (applied) expect([...applied]).toEqual([...hashes]);
    }
    const live = alive();
    const gaveUp = live.filter((p) => p.events.some((e) => e.type === 'gave-up'));
    for (const p of gaveUp) expect((p.events.find((e) => e.type === 'gave-up') as { reason: string }).reason).toMatch(/\S/);
    expect(finishers.length).toBeGreaterThanOrEqual(live.length - gaveUp.length);
    expect(gaveUp.length, gaveUp.map((p) => (p.events.find((e) => e.type === 'gave-up') as { reason: string }).reason).join('\n')).toBeLessThanOrEqual(live.length / 10);
    console.log(
      `churn: ${sim.peers.length} peers over the run, ${live.length} at the end, ${finishers.length} finished, ${gaveUp.length} gave up; ` +
        `${log.length} churn events (${["join", "crash", "leave", "stall", "resume", "aggregator crash"].map((k) => `${log.filter((l) => l.startsWith(k)).length} ${k}`).join(", ")}); ${committed.size} points committed`,
    );
    await sim.stop();
  }, 300_000);
});
