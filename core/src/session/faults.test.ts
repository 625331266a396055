import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, type Message } from '../protocol/messages';
import type { Role } from './events';
import type { Checkpoint, CheckpointStore } from './checkpoint';
import { FaultNet, type FaultNetOptions, type FaultPeer } from '../sim/fault-net';

/**
 * The session's fault matrix, in the spirit of hivemind's fault-injection tests: every fault
 * hits one peer, in the worker role or in the aggregator role, at an exact round, on the
 * in-memory hub and virtual time (fault-net.ts). Every cell asserts the session's invariants
 * (every peer still present finishes every round exactly once, in order, and all end on one
 * parameter hash, with no error) and then what that fault should cost, and no more.
 *
 * Peer 0 (p1) leads the first term; the worker hit is p3 unless a cell says otherwise.
 *
 * Over 400 lines: the cells are the table of docs/session.md, one per line of it, and share the
 * helpers and the invariants below, so they stay in one file.
 */

type Fault = 'drop' | 'slow' | 'die before send' | 'die during send' | 'die after send' | 'stall' | 'rejoin' | 'corrupt' | 'garbage';

interface Cell {
  readonly fault: Fault;
  /** 'shard aggregator': with k > 1 vote shards, the member that tallies range 2 (p3), not the term's aggregator */
  readonly role: Role | 'shard aggregator';
  /** what happens, in words */
  readonly what: string;
  readonly net?: Partial<FaultNetOptions>;
  /** sets the fault up on a fresh network, before it runs */
  inject(net: FaultNet): void;
  /** what this fault should cost, besides the invariants */
  check?(net: FaultNet): void;
}

const P3 = 2;
const rounds = (p: FaultPeer) => p.events.flatMap((e) => (e.type === 'round' ? [e] : []));
const roundEvent = (p: FaultPeer, r: number) => {
  const e = rounds(p).find((x) => x.round === r);
  if (e === undefined) throw new Error(`${p.id} has no event for round ${r}`);
  return e;
};
const messageOf = (bytes: Uint8Array): Message => decodeMessage(bytes);
/** `fn` once, right after peer i applied round r */
const afterRound = (net: FaultNet, i: number, r: number, fn: () => void): void => {
  let done = false;
  net.on((p, e) => {
    if (done || p !== net.at(i) || e.type !== 'round' || e.round !== r) return;
    done = true;
    fn();
  });
};
/**
 * Where a peer's rounds break continuity: a round applied that is not the one after the last
 * (skipped or applied twice), unless a snapshot (`resync`) moved it there; the first is round 0
 * unless the peer may have resumed from a checkpoint. Empty when continuous.
 */
const continuity = (p: FaultPeer): string[] => {
  const breaks: string[] = [];
  let at: number | null = p.resumable ? null : 0;
  for (const e of p.events) {
    if (e.type === 'resync') at = e.round;
    if (e.type !== 'round') continue;
    if (at !== null && e.round !== at) breaks.push(`applied ${e.round} at round ${at}`);
    at = e.round + 1;
  }
  return breaks;
};
const memoryStore = (): CheckpointStore => {
  let latest: Checkpoint | null = null;
  return {
    save: async (cp) => void (latest = cp),
    load: async () => latest,
  };
};

/** the aggregator dies in the middle of broadcasting verdict 12: only `lucky` get it, then it dies at the last member */
const dieDuringBroadcast = (lucky: string[]) => (net: FaultNet): void => {
  let killed = false;
  net.hub.setFault(({ from, to, bytes }) => {
    if (from !== 'p1') return 'deliver';
    if (killed) return 'drop';
    const msg = messageOf(bytes);
    if (msg.type !== 'verdict' || msg.round !== 12) return 'deliver';
    if (to === net.hub.epoch.peers.at(-1)) {
      killed = true;
      queueMicrotask(() => net.hub.leave('p1'));
    }
    return lucky.includes(to) ? 'deliver' : 'drop';
  });
};

const matrix: Cell[] = [
  {
    fault: 'drop', role: 'worker', what: 'its ballot for round 5 is lost: the round closes at the deadline without it, the next counts it',
    inject: (net) => net.hub.setFault(({ from, bytes }) => {
      const msg = messageOf(bytes);
      return from === 'p3' && msg.type === 'ballot' && msg.round === 5 ? 'drop' : 'deliver';
    }),
    check: (net) => {
      expect(roundEvent(net.at(0), 5).voters).toEqual(['p1', 'p2', 'p4', 'p5']);
      expect(roundEvent(net.at(P3), 5).mine).toBe(false);
      expect(roundEvent(net.at(0), 6).counted).toBe(5);
      expect(net.clock.deadlinesFired).toBe(1);
    },
  },
  {
    fault: 'drop', role: 'aggregator', what: 'its verdict 5 to one worker is lost: that worker finds the gap at verdict 6 and is resynced',
    inject: (net) => net.hub.setFault(({ from, to, bytes }) => {
      const msg = messageOf(bytes);
      return from === 'p1' && to === 'p3' && msg.type === 'verdict' && msg.round === 5 ? 'drop' : 'deliver';
    }),
    check: (net) => {
      expect(net.at(P3).peer.stats().snapshotsInstalled).toBe(1);
      expect(net.at(P3).peer.stats().dropped['hash-mismatch']).toBe(1);
      expect(roundEvent(net.at(0), 6).voters).not.toContain('p3');
      expect(rounds(net.at(0)).at(-1)!.voters).toContain('p3');
    },
  },
  {
    fault: 'slow', role: 'worker', what: 'its ballot for round 5 is late: not counted, and it votes in time again in round 6',
    inject: (net) => (net.gradientTime = (i, r) => (i === P3 && r === 5 ? 150 : undefined)),
    check: (net) => {
      expect(roundEvent(net.at(0), 5).counted).toBe(4);
      expect(roundEvent(net.at(P3), 5).mine).toBe(false);
      expect(roundEvent(net.at(P3), 6).mine).toBe(true);
      expect(roundEvent(net.at(0), 6).counted).toBe(5);
      expect(rounds(net.at(P3)).at(-1)!.mine).toBe(true);
    },
  },
  {
    fault: 'slow', role: 'aggregator', what: 'its own ballot for round 5 is late: the round closes at the deadline on the workers\' ballots',
    inject: (net) => (net.gradientTime = (i, r) => (i === 0 && r === 5 ? 150 : undefined)),
    check: (net) => {
      expect(roundEvent(net.at(0), 5).voters).toEqual(['p2', 'p3', 'p4', 'p5']);
      expect(roundEvent(net.at(0), 6).counted).toBe(5);
    },
  },
  {
    fault: 'die before send', role: 'worker', what: 'it crashes while computing its ballot for round 5: a new term decides round 5 without it, at once',
    inject: (net) => (net.gradientTime = (i, r) => {
      if (i !== P3 || r !== 5) return undefined;
      queueMicrotask(() => net.leave(net.at(P3)));
      return Infinity;
    }),
    check: (net) => {
      const agg = net.at(0);
      expect(roundEvent(agg, 5).term).toBeGreaterThan(roundEvent(agg, 4).term);
      expect(roundEvent(agg, 5).counted).toBe(4);
      expect(agg.peer.state().role).toBe('aggregator');
      // the survivors reported to the (same) aggregator at once: nobody waited for a deadline
      expect(net.clock.deadlinesFired).toBe(0);
    },
  },
  {
    fault: 'die before send', role: 'aggregator', what: 'it crashes with round 5 open, before its ballot and the verdict: the next peer leads and decides round 5',
    inject: (net) => (net.gradientTime = (i, r) => {
      if (i !== 0 || r !== 5) return undefined;
      queueMicrotask(() => net.leave(net.at(0)));
      return Infinity;
    }),
    check: (net) => {
      const next = net.at(1);
      expect(roundEvent(next, 5)).toMatchObject({ role: 'aggregator', counted: 4 });
      expect(next.events.some((e) => e.type === 'aggregator' && e.aggregator === 'p2' && e.previous === 'p1')).toBe(true);
      expect(net.peers.every((p) => p.peer.stats().snapshotsInstalled === 0)).toBe(true);
    },
  },
  {
    fault: 'die during send', role: 'worker', what: 'it crashes right after its ballot for round 5 left: the ballot counts, round 6 goes on without it',
    inject: (net) => net.hub.setFault(({ from, bytes }) => {
      const msg = messageOf(bytes);
      if (from === 'p3' && msg.type === 'ballot' && msg.round === 5) queueMicrotask(() => net.leave(net.at(P3)));
      return 'deliver';
    }),
    check: (net) => {
      expect(roundEvent(net.at(0), 5).voters).toContain('p3');
      expect(roundEvent(net.at(0), 6).counted).toBe(4);
    },
  },
  ...(['the next aggregator', 'only a later worker'] as const).map((who): Cell => ({
    fault: 'die during send', role: 'aggregator',
    what: `it crashes while broadcasting verdict 12, which ${who} received: replayed to the rest, never decided twice, no snapshot`,
    net: { n: 6, config: { rounds: 30 } },
    inject: dieDuringBroadcast(who === 'the next aggregator' ? ['p2', 'p4'] : ['p5']),
    check: (net) => {
      expect(net.present(net.at(0))).toBe(false);
      expect(net.peers.every((p) => p.peer.stats().snapshotsInstalled === 0)).toBe(true);
      // verdict 12 was decided once, by p1 with all six ballots; decided again it would count five
      for (const p of net.peers.slice(1)) expect(roundEvent(p, 12).counted).toBe(6);
    },
  })),
  {
    fault: 'die after send', role: 'worker', what: 'it crashes right after applying round 10: the rounds go on without it, no deadline waited',
    inject: (net) => afterRound(net, P3, 10, () => queueMicrotask(() => net.leave(net.at(P3)))),
    check: (net) => {
      expect(roundEvent(net.at(0), 11).counted).toBe(4);
      expect(net.at(0).peer.state().role).toBe('aggregator');
      expect(net.clock.deadlinesFired).toBe(0);
    },
  },
  {
    fault: 'die after send', role: 'aggregator', what: 'it crashes right after broadcasting verdict 10: the next peer leads from round 11, nothing skipped or repeated',
    net: { n: 6, config: { rounds: 30 } },
    inject: (net) => afterRound(net, 0, 10, () => queueMicrotask(() => net.leave(net.at(0)))),
    check: (net) => {
      const next = net.at(1);
      expect(next.peer.state().role).toBe('aggregator');
      expect(roundEvent(next, 11).role).toBe('aggregator');
      expect(next.events.some((e) => e.type === 'aggregator' && e.aggregator === 'p2' && e.previous === 'p1')).toBe(true);
      expect(net.clock.deadlinesFired).toBe(0);
    },
  },
  {
    fault: 'stall', role: 'worker',
    what: 'it hangs in rounds 5-7 (2.5 deadlines): rounds 5 and 6 wait for it, later ones do not; back, it votes again and applied every verdict meanwhile',
    // rounds take virtual time (2 ms of gradient), so the session still runs when it is back;
    // back, it is exactly as fast as the others: its first step back finishes after its round
    // closed, and only that late ballot tells the aggregator to wait for it again
    net: { config: { rounds: 200 }, gradientMs: 2 },
    inject: (net) => (net.gradientTime = (i, r) => (i !== P3 ? undefined : r >= 5 && r < 8 ? 250 : undefined)),
    check: (net) => {
      const agg = rounds(net.at(0));
      expect(agg.filter((e) => e.ms >= net.config.deadlineMs).map((e) => e.round)).toEqual([5, 6]);
      expect(agg.find((e) => !e.voters.includes('p3'))?.round).toBe(5);
      // back: any ballot of its, even one too late to count, makes the aggregator wait for it again
      expect(agg.slice(-20).every((e) => e.voters.includes('p3'))).toBe(true);
    },
  },
  {
    fault: 'stall', role: 'aggregator',
    what: 'it hangs after round 5 (silent, still connected) until a worker\'s transport reports it unreachable: the next peer leads on',
    inject: (net) => afterRound(net, 0, 5, () => {
      net.hub.dropOutgoing('p1', true);
      net.clock.after(3 * net.config.deadlineMs, () => net.at(1).transport.reportUnreachable?.('p1'));
    }),
    check: (net) => {
      expect(net.present(net.at(0))).toBe(false);
      const next = net.at(1);
      expect(next.peer.state().role).toBe('aggregator');
      // verdict 5 went out before it hung, verdict 6 did not
      expect(roundEvent(next, 5).role).toBe('worker');
      expect(roundEvent(next, 6).role).toBe('aggregator');
    },
  },
  {
    fault: 'rejoin', role: 'worker', what: 'it leaves at round 8 and a fresh peer joins at round 20: a snapshot, then its ballots count (hash matches)',
    net: { n: 4, config: { rounds: 40 } },
    inject: (net) => {
      afterRound(net, 0, 8, () => queueMicrotask(() => net.leave(net.at(P3))));
      afterRound(net, 0, 20, () => net.join());
    },
    check: (net) => {
      const late = net.peers.at(-1)!;
      const resync = late.events.find((e) => e.type === 'resync');
      expect(resync?.type === 'resync' && resync.round >= 20).toBe(true);
      expect(late.peer.stats().snapshotsInstalled).toBe(1);
      expect(rounds(late).filter((e) => e.mine).length).toBeGreaterThan(5);
      expect(net.at(0).peer.stats().dropped['hash-mismatch'] ?? 0).toBe(0);
    },
  },
  ((): Cell => {
    const store = memoryStore();
    return {
      fault: 'rejoin', role: 'aggregator',
      what: 'it crashes after round 12 and comes back from its round-10 checkpoint at round 20: brought up by replayed verdicts, and does not lead',
      net: { config: { rounds: 30, checkpointEvery: 5 }, checkpoints: (i) => (i === 0 ? store : undefined) },
      inject: (net) => {
        afterRound(net, 0, 12, () => queueMicrotask(() => net.leave(net.at(0))));
        afterRound(net, 1, 20, () => net.join({ checkpoints: store }));
      },
      check: (net) => {
        const back = net.peers.at(-1)!;
        expect(back.applied[0]).toBe(10);
        expect(back.peer.stats().snapshotsInstalled).toBe(0);
        expect(back.peer.state().aggregator).toBe('p2');
      },
    };
  })(),
  {
    fault: 'corrupt', role: 'worker', what: 'a bit of its parameters flips after round 10: its next ballot\'s hash gives it away and it is resynced',
    inject: (net) => afterRound(net, 3, 10, () => (net.at(3).peer.state().x[5] += 1)),
    check: (net) => {
      expect(net.at(3).peer.stats().snapshotsInstalled).toBe(1);
      expect(net.at(3).events.some((e) => e.type === 'resync')).toBe(true);
      expect(net.peers.filter((p) => p !== net.at(3)).every((p) => p.peer.stats().snapshotsInstalled === 0)).toBe(true);
    },
  },
  {
    fault: 'corrupt', role: 'aggregator', what: 'a bit of its parameters flips after round 10: it is authoritative, so every worker is resynced to its state, once',
    inject: (net) => afterRound(net, 0, 10, () => (net.at(0).peer.state().x[5] += 1)),
    check: (net) => {
      expect(net.peers.slice(1).map((p) => p.peer.stats().snapshotsInstalled)).toEqual([1, 1, 1, 1]);
      expect(net.at(0).peer.stats().snapshotsSent).toBe(4);
    },
  },
  {
    fault: 'garbage', role: 'worker', what: 'a member sends a ballot with a truncated payload for the open round: dropped, not tallied, its real ballot counts',
    inject: (net) => afterRound(net, 0, 2, () => {
      const agg = net.at(0).peer.state();
      const bytes = encodeMessage({ v: PROTOCOL_VERSION, type: 'ballot', session: 'local', term: agg.term, round: agg.round, hash: agg.hash, payload: Uint8Array.of(1, 0xff) });
      void net.at(1).transport.send('p1', bytes);
    }),
    check: (net) => {
      expect(net.at(0).peer.stats().dropped['bad-payload']).toBe(1);
      expect(rounds(net.at(0)).every((e) => e.counted === 5)).toBe(true);
    },
  },
  {
    fault: 'garbage', role: 'aggregator', what: 'a verdict with an undecodable payload reaches a worker: dropped, and the real verdict applies',
    inject: (net) => afterRound(net, 0, 4, () => {
      const agg = net.at(0).peer.state();
      const bytes = encodeMessage({
        v: PROTOCOL_VERSION, type: 'verdict', session: 'local', term: agg.term, round: agg.round, origin: agg.term, base: agg.hash, counted: Uint8Array.of(0x1f), payload: Uint8Array.of(0x42, 1, 2),
      });
      void net.at(0).transport.send('p3', bytes);
    }),
    check: (net) => {
      expect(net.at(P3).peer.stats().dropped['bad-payload']).toBe(1);
      expect(net.at(P3).peer.stats().snapshotsInstalled).toBe(0);
    },
  },
];

/**
 * Faults on top of faults, under seeded per-message delays (wall time, so these runs are not
 * the same twice; the invariants must hold in every interleaving).
 */
const compound: Cell[] = [
  ...[1, 2, 3].map((seed): Cell => ({
    fault: 'die after send', role: 'aggregator',
    what: `two aggregators die in turn and a peer joins, under message delays (seed ${seed})`,
    net: { n: 6, jitterSeed: seed, config: { rounds: 30 } },
    inject: (net) => {
      afterRound(net, 0, 8, () => queueMicrotask(() => net.leave(net.at(0))));
      afterRound(net, 1, 12, () => net.join());
      afterRound(net, 1, 16, () => queueMicrotask(() => net.leave(net.at(1))));
    },
    check: (net) => {
      expect(net.peers.filter((p) => net.present(p)).length).toBe(5);
      expect(net.at(2).peer.state().aggregator).toBe('p3');
    },
  })),
  ...[4, 5, 6].map((seed): Cell => {
    let cut = false;
    return {
      fault: 'die during send', role: 'aggregator',
      what: `the aggregator dies in a partial verdict broadcast and the next one dies as it learns it leads, under message delays (seed ${seed})`,
      net: { n: 7, jitterSeed: seed, config: { rounds: 24 } },
      inject: (net) => {
        // p2 dies the moment it learns it leads
        net.on((p, e) => {
          if (p === net.at(1) && e.type === 'aggregator' && e.aggregator === 'p2') queueMicrotask(() => net.leave(net.at(1)));
        });
        // p1's verdict 11 reaches p5 only, then p1 dies
        net.hub.setFault(({ from, to, bytes }) => {
          if (from !== 'p1') return 'deliver';
          if (cut) return 'drop';
          if (messageOf(bytes).type !== 'verdict' || net.at(0).peer.state().round !== 11) return 'deliver';
          if (to === 'p5') return 'deliver';
          if (to === 'p7') {
            cut = true;
            queueMicrotask(() => net.leave(net.at(0)));
          }
          return 'drop';
        });
      },
      check: (net) => {
        expect(cut).toBe(true);
        expect(net.at(2).peer.state().aggregator).toBe('p3');
        for (const p of net.peers.slice(2)) expect(p.applied[0]).toBe(0);
        // verdict 11 survived on p5 alone: fetched and replayed, no snapshot needed
        expect(net.peers.every((p) => p.peer.stats().snapshotsInstalled === 0)).toBe(true);
      },
    };
  }),
];

/**
 * Vote shards (k = 5 of 5 members, docs/session.md "Vote shards"): p3 tallies range 2. When it
 * dies the next term has k = 4 and decides the open round again from the cached ballots; when
 * it dies in the middle of broadcasting its part, the peers that got every part applied the
 * round and the rest are brought up by replays of the whole verdict, as with a star aggregator.
 */
const sharded = (cell: Omit<Cell, 'role'> & { net?: Partial<FaultNetOptions> }): Cell => ({
  ...cell,
  role: 'shard aggregator',
  net: { ...cell.net, config: { rounds: 30, voteShards: 5, ...cell.net?.config } },
});
const partOf = (msg: Message, round: number): boolean => msg.type === 'verdict' && msg.slice !== undefined && msg.round === round;
const voteShardCells: Cell[] = [
  sharded({
    fault: 'drop', what: 'its part of verdict 5 to p4 is lost: p4 gets its part of a later round, knows one was lost and is resynced',
    inject: (net) => net.hub.setFault(({ from, to, bytes }) => (from === 'p3' && to === 'p4' && partOf(messageOf(bytes), 5) ? 'drop' : 'deliver')),
    check: (net) => {
      expect(net.at(3).peer.stats().snapshotsInstalled).toBe(1);
      expect(net.peers.filter((p) => p !== net.at(3)).every((p) => p.peer.stats().snapshotsInstalled === 0)).toBe(true);
    },
  }),
  sharded({
    fault: 'drop', what: 'every open from the term aggregator to it is lost (at the start, and again when p5 leaves after round 5): the first slice at its state opens its range, no deadline',
    inject: (net) => {
      afterRound(net, 0, 5, () => queueMicrotask(() => net.leave(net.at(4))));
      net.hub.setFault(({ from, to, bytes }) => (from === 'p1' && to === 'p3' && messageOf(bytes).type === 'open' ? 'drop' : 'deliver'));
    },
    check: (net) => {
      expect(roundEvent(net.at(0), 6).counted).toBe(4);
      expect(net.clock.deadlinesFired).toBe(0);
    },
  }),
  sharded({
    fault: 'slow', what: 'its own ballot for round 5 is late: every range closes at the deadline without it, and it counts again in round 6',
    inject: (net) => (net.gradientTime = (i, r) => (i === P3 && r === 5 ? 150 : undefined)),
    check: (net) => {
      expect(roundEvent(net.at(0), 5).voters).toEqual(['p1', 'p2', 'p4', 'p5']);
      expect(roundEvent(net.at(0), 6).counted).toBe(5);
    },
  }),
  {
    fault: 'stall', role: 'worker',
    what: 'with 2 vote shards (it tallies none), it hangs in rounds 5-7, then is exactly as fast as the others: its late slices tell both ranges to wait for it again',
    net: { config: { rounds: 200, voteShards: 2 }, gradientMs: 2 },
    inject: (net) => (net.gradientTime = (i, r) => (i === P3 && r >= 5 && r < 8 ? 250 : undefined)),
    check: (net) => {
      const agg = rounds(net.at(0));
      expect(agg.find((e) => !e.voters.includes('p3'))?.round).toBe(5);
      expect(agg.slice(-20).every((e) => e.voters.includes('p3'))).toBe(true);
    },
  },
  sharded({
    fault: 'die before send', what: 'it crashes while computing its ballot for round 5: a term of 4 vote shards decides round 5 without it, at once',
    inject: (net) => (net.gradientTime = (i, r) => {
      if (i !== P3 || r !== 5) return undefined;
      queueMicrotask(() => net.leave(net.at(P3)));
      return Infinity;
    }),
    check: (net) => {
      const agg = net.at(0);
      expect(roundEvent(agg, 5).term).toBeGreaterThan(roundEvent(agg, 4).term);
      expect(roundEvent(agg, 5).counted).toBe(4);
      expect(net.clock.deadlinesFired).toBe(0);
    },
  }),
  ...([['the term\'s aggregator', ['p1', 'p4']], ['only a later worker', ['p5']]] as const).map(([who, lucky]) => sharded({
    fault: 'die during send',
    what: `it crashes while broadcasting its part of verdict 12, which ${who} received: the whole verdict is replayed to the rest, never decided twice, no snapshot`,
    net: { n: 6, config: { voteShards: 6 } },
    inject: (net) => {
      let killed = false;
      net.hub.setFault(({ from, to, bytes }) => {
        if (from !== 'p3') return 'deliver';
        if (killed) return 'drop';
        if (!partOf(messageOf(bytes), 12)) return 'deliver';
        if (to === net.hub.epoch.peers.at(-1)) {
          killed = true;
          queueMicrotask(() => net.leave(net.at(P3)));
        }
        return (lucky as readonly string[]).includes(to) ? 'deliver' : 'drop';
      });
    },
    check: (net) => {
      expect(net.present(net.at(P3))).toBe(false);
      expect(net.peers.every((p) => p.peer.stats().snapshotsInstalled === 0)).toBe(true);
      // decided once, in the term of 6 with every ballot; decided again it would count five
      for (const p of net.peers.filter((q) => net.present(q))) expect(roundEvent(p, 12).counted).toBe(6);
    },
  })),
  sharded({
    fault: 'die during send', what: 'the term aggregator p1 (range 0) dies while broadcasting its part of verdict 12, which only p5 received: p2 leads, verdict 12 is fetched and replayed, never decided twice',
    net: { n: 6, config: { voteShards: 6 } },
    inject: (net) => {
      let killed = false;
      net.hub.setFault(({ from, to, bytes }) => {
        if (from !== 'p1') return 'deliver';
        if (killed) return 'drop';
        if (!partOf(messageOf(bytes), 12)) return 'deliver';
        if (to === net.hub.epoch.peers.at(-1)) {
          killed = true;
          queueMicrotask(() => net.leave(net.at(0)));
        }
        return to === 'p5' ? 'deliver' : 'drop';
      });
    },
    check: (net) => {
      expect(net.present(net.at(0))).toBe(false);
      expect(net.at(1).peer.state().aggregator).toBe('p2');
      expect(net.peers.every((p) => p.peer.stats().snapshotsInstalled === 0)).toBe(true);
      for (const p of net.peers.filter((q) => net.present(q))) expect(roundEvent(p, 12).counted).toBe(6);
    },
  }),
  sharded({
    fault: 'die after send', what: 'it crashes right after applying round 10: a term of 4 vote shards goes on from round 11, no deadline waited',
    inject: (net) => afterRound(net, P3, 10, () => queueMicrotask(() => net.leave(net.at(P3)))),
    check: (net) => {
      expect(roundEvent(net.at(0), 11).counted).toBe(4);
      expect(roundEvent(net.at(0), 11).term).toBeGreaterThan(roundEvent(net.at(0), 10).term);
      expect(net.clock.deadlinesFired).toBe(0);
    },
  }),
  sharded({
    fault: 'stall', what: 'it hangs after round 5 (silent, still connected) until a worker\'s transport reports it unreachable: the next term goes on without it',
    inject: (net) => afterRound(net, P3, 5, () => {
      net.hub.dropOutgoing('p3', true);
      net.clock.after(3 * net.config.deadlineMs, () => net.at(1).transport.reportUnreachable?.('p3'));
    }),
    check: (net) => {
      expect(net.present(net.at(P3))).toBe(false);
      expect(rounds(net.at(0)).at(-1)!.counted).toBe(4);
    },
  }),
  sharded({
    fault: 'rejoin', what: 'it leaves at round 8 (4 ranges become 3) and a fresh peer joins at round 20 and tallies range 3: a snapshot, then its ballots count',
    net: { n: 4 },
    inject: (net) => {
      afterRound(net, 0, 8, () => queueMicrotask(() => net.leave(net.at(P3))));
      afterRound(net, 0, 20, () => net.join());
    },
    check: (net) => {
      const late = net.peers.at(-1)!;
      expect(late.peer.stats().snapshotsInstalled).toBe(1);
      expect(rounds(late).filter((e) => e.mine).length).toBeGreaterThan(5);
      expect(rounds(net.at(0)).at(-1)!.counted).toBe(4);
    },
  }),
  sharded({
    fault: 'corrupt', what: 'a bit of its parameters flips after round 10: the term\'s aggregator resyncs it, its part at the wrong base is never applied',
    inject: (net) => afterRound(net, P3, 10, () => (net.at(P3).peer.state().x[5] += 1)),
    check: (net) => {
      expect(net.at(P3).peer.stats().snapshotsInstalled).toBe(1);
      expect(net.peers.filter((p) => p !== net.at(P3)).every((p) => p.peer.stats().snapshotsInstalled === 0)).toBe(true);
    },
  }),
];

describe('fault matrix', () => {
  for (const cell of [...matrix, ...compound, ...voteShardCells]) {
    it(`${cell.fault} x ${cell.role}: ${cell.what}`, async () => {
      const net = new FaultNet({ n: 5, ...cell.net });
      cell.inject(net);
      await net.run();
      const finishers = net.peers.filter((p) => net.present(p));
      expect(finishers.length).toBeGreaterThan(0);
      for (const p of finishers) {
        // every round exactly once and in order, but for those a snapshot brought
        expect(continuity(p), p.id).toEqual([]);
        expect(p.peer.state().round).toBe(net.config.rounds);
      }
      expect(new Set(finishers.map((p) => p.peer.state().hash)).size).toBe(1);
      cell.check?.(net);
      await net.stop();
    });
  }
});
