import { describe, expect, it } from 'vitest';
import { parseSessionConfig, type SessionConfigInput } from '../config';
import { createStrategy } from '../optim';
import { encodeMessage, PROTOCOL_VERSION } from '../protocol/messages';
import type { SessionEvent, SessionGradient } from '../session';
import { runLocalSession, type LocalSessionOptions } from './local';
import { createSkewedQuadratic } from './skewed-quadratic';

const problem = createSkewedQuadratic({ d: 32, seed: 4, noise: 0.5 });

function setup(n: number, config: SessionConfigInput = {}, extra: Partial<LocalSessionOptions> = {}): LocalSessionOptions {
  return {
    config: parseSessionConfig({
      dataset: 'synthetic',
      rounds: 60,
      expectedPeers: n,
      seed: 9,
      deadlineMs: 500,
      evalEvery: 0,
      ...config,
      algorithm: { name: 'mv-sto-signsgd-sim', lr: 0.05, R: 1, ...config.algorithm },
    }),
    peers: n,
    params: problem.x0,
    gradientFor: (i): SessionGradient => {
      const g = problem.gradient(i, 4, 'local-test');
      return async (at) => ({ grad: await g(at), loss: problem.loss(at) });
    },
    ...extra,
  };
}

describe('runLocalSession', () => {
  it('runs n session peers to the same parameters, with every byte accounted for', async () => {
    const n = 8;
    const r = await runLocalSession(setup(n));
    expect(r.peers).toHaveLength(n);
    for (const p of r.peers) {
      expect(p.round).toBe(60);
      expect(p.hash).toBe(r.hash);
      expect(p.params).toEqual(r.params);
      expect(p.gradientCalls).toBe(60);
    }
    expect(problem.loss(r.params)).toBeLessThan(0.2 * problem.loss(problem.x0));
    expect(r.rounds).toHaveLength(60);
    // healthy in-memory rounds never wait for a deadline
    expect(r.timersFired).toBe(0);
    expect(r.virtualMs).toBe(0);

    const ballotBytes = createStrategy(parseSessionConfig(setup(n).config).algorithm).bytesUp(32);
    for (const round of r.rounds) {
      expect(round.aggregator).toBe(0);
      expect(round.counted).toBe(n);
      expect(round.trainLoss).toBeGreaterThan(0);
      if (round.round === 0) continue;
      // after the join handshake a worker sends exactly one ballot message per round
      const ballot = encodeMessage({
        v: PROTOCOL_VERSION, session: 'local', type: 'ballot', term: n, round: round.round, hash: r.hash, payload: new Uint8Array(ballotBytes),
      }).length;
      for (let i = 1; i < n; i++) expect(round.bytesUp[i]).toBe(ballot);
      expect(round.bytesDown[0]).toBe((n - 1) * ballot);
    }
    // everything the hub carried is in some peer's round, once as sent and once as received
    const sum = (k: 'bytesUp' | 'bytesDown') => r.rounds.reduce((s, x) => s + x[k].reduce((a, b) => a + b, 0), 0);
    expect(sum('bytesUp')).toBe(r.hub.bytes);
    expect(sum('bytesDown')).toBe(r.hub.bytes);
    expect(r.peers.reduce((s, p) => s + p.stats.bytesUp, 0)).toBe(r.hub.bytes);
    // all peers join before the first epoch is delivered: one term, nothing dropped
    expect(r.dropped).toEqual({});
    expect(r.rounds[0].bytesUp[1]).toBeGreaterThan(r.rounds[1].bytesUp[1]);
  });

  it('never fires a deadline while the hub still holds messages or epochs (600 peers)', async () => {
    // 600 peers make drains long enough for the hub to yield mid-drain (at the join and at
    // verdict broadcasts), so the clock's driver runs while deliveries are pending
    const n = 600;
    const r = await runLocalSession(setup(n, { rounds: 3 }));
    expect(r.timersFired).toBe(0);
    expect(r.rounds.map((x) => x.counted)).toEqual([n, n, n]);
    expect(new Set(r.peers.map((p) => p.hash)).size).toBe(1);
  });

  it('is deterministic in the seed', async () => {
    const a = await runLocalSession(setup(5, { rounds: 30 }));
    const b = await runLocalSession(setup(5, { rounds: 30 }));
    const c = await runLocalSession(setup(5, { rounds: 30, seed: 10 }));
    expect(b.hash).toBe(a.hash);
    expect(b.params).toEqual(a.params);
    expect(b.rounds.map((x) => x.trainLoss)).toEqual(a.rounds.map((x) => x.trainLoss));
    // the seed drives the peers' stochastic signs
    expect(c.hash).not.toBe(a.hash);
  });

  it('keeps the event loop turning (the hub yields), without changing the outcome', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    const busy = await runLocalSession(setup(50, { rounds: 40 }));
    const ms = performance.now() - t0;
    clearInterval(timer);
    // instant gradients: without the hub's slices the whole run is one microtask chain (0 ticks)
    expect(ticks).toBeGreaterThan(Math.max(5, ms / 100));
    const again = await runLocalSession(setup(50, { rounds: 40 }));
    expect(again.hash).toBe(busy.hash);
    expect(busy.timersFired).toBe(0);
  });

  it('tallies without lost ballots at the (virtual) deadline', async () => {
    const lost = (round: number, i: number) => (i === 2 && round % 3 === 0) || (i === 4 && round === 7);
    const r = await runLocalSession(setup(5, { rounds: 30, deadlineMs: 750 }, { absent: lost }));
    const late = r.rounds.filter((x) => x.counted < 5).map((x) => [x.round, x.counted]);
    const expected = Array.from({ length: 30 }, (_, t) => t)
      .filter((t) => lost(t, 2) || lost(t, 4))
      .map((t) => [t, 5 - Number(lost(t, 2)) - Number(lost(t, 4))]);
    expect(late).toEqual(expected);
    // one deadline per round with a lost ballot, and time moved by exactly that much
    expect(r.timersFired).toBe(expected.length);
    expect(r.virtualMs).toBe(750 * expected.length);
    expect(r.hub.dropped).toBe(expected.reduce((s, [, c]) => s + 5 - c, 0));
    for (const p of r.peers) expect(p.hash).toBe(r.hash);
    const full = await runLocalSession(setup(5, { rounds: 30 }));
    expect(full.hash).not.toBe(r.hash);
  });

  it('calls a run stalled when deadlines keep firing without a round applied', async () => {
    // every worker's ballot is lost, so each round waits for one deadline: allowed once, not at all
    const lostAll = (_: number, i: number) => i > 0;
    const once = await runLocalSession(setup(3, { rounds: 5 }, { absent: lostAll, maxIdleTimers: 1 }));
    expect(once.rounds.map((x) => x.counted)).toEqual([1, 1, 1, 1, 1]);
    // after two deadlines in a row without their ballots the workers are not waited for
    expect(once.timersFired).toBe(2);
    await expect(runLocalSession(setup(3, { rounds: 5 }, { absent: lostAll, maxIdleTimers: 0 }))).rejects.toThrow(/stalled: 0 deadlines fired without a round applied \(peer@round: 0@0 1@0 2@0\)/);
  });

  it('survives crashes, the aggregator\'s included: a new term elects the next peer', async () => {
    const terms: number[] = [];
    const r = await runLocalSession(setup(5, { rounds: 30 }, {
      crashes: [{ peer: 0, afterRound: 9 }, { peer: 3, afterRound: 19 }],
      onEvent: (i, e) => {
        if (i === 1 && e.type === 'term') terms.push(e.term);
      },
    }));
    expect(r.peers.map((p) => p.crashed)).toEqual([true, false, false, true, false]);
    expect(r.peers.map((p) => p.round)).toEqual([10, 30, 30, 20, 30]);
    for (const p of r.peers) if (!p.crashed) expect(p.hash).toBe(r.hash);
    expect(r.rounds.map((x) => x.aggregator)).toEqual([...Array(10).fill(0), ...Array(20).fill(1)]);
    expect(r.rounds.map((x) => x.counted)).toEqual([...Array(10).fill(5), ...Array(10).fill(4), ...Array(10).fill(3)]);
    // one term for the start (the hub's joinMany: one epoch), one per crash
    expect(terms).toEqual([1, 2, 3]);
    // nothing waited on a deadline: the survivors reported to the new aggregator at once
    expect(r.timersFired).toBe(0);
    expect(problem.loss(r.params)).toBeLessThan(0.5 * problem.loss(problem.x0));
  });

  it('evaluates every evalEvery rounds and after the last, in order, beside the session', async () => {
    const seen: number[] = [];
    const reported: number[] = [];
    const r = await runLocalSession(setup(3, { rounds: 25, evalEvery: 10 }, {
      evaluate: async (x) => {
        // slow and uneven: calls still settle in round order, and virtual time waits for them
        await new Promise((resolve) => setTimeout(resolve, 8 - reported.length * 3));
        return { loss: problem.loss(x), accuracy: 0.5 };
      },
      onEvaluation: (round) => reported.push(round),
      onEvent: (i, e) => {
        if (i === 0 && e.type === 'round') {
          seen.push(e.round);
          // the session does not evaluate: no round event announces an evaluation
          expect(e.evaluating).toBe(false);
        }
      },
    }));
    expect(seen).toEqual(Array.from({ length: 25 }, (_, t) => t));
    expect(reported).toEqual([9, 19, 24]);
    const evaluated = r.rounds.filter((x) => x.evaluation !== undefined);
    expect(evaluated.map((x) => x.round)).toEqual([9, 19, 24]);
    expect(evaluated[1].evaluation!.loss).toBeLessThan(evaluated[0].evaluation!.loss);
    // the evaluation after the last round is of the final parameters
    expect(evaluated[2].evaluation!.loss).toBe(problem.loss(r.params));
    expect(r.timersFired).toBe(0);
  });

  it('evaluates on a survivor once peer 0 has crashed', async () => {
    const r = await runLocalSession(setup(4, { rounds: 20, evalEvery: 5 }, {
      crashes: [{ peer: 0, afterRound: 6 }],
      evaluate: async (x) => ({ loss: problem.loss(x), accuracy: 0 }),
    }));
    expect(r.rounds.filter((x) => x.evaluation !== undefined).map((x) => x.round)).toEqual([4, 9, 14, 19]);
    expect(r.rounds[19].evaluation!.loss).toBe(problem.loss(r.params));
  });

  it('fails the run when an evaluation fails', async () => {
    await expect(runLocalSession(setup(3, { rounds: 12, evalEvery: 5 }, {
      evaluate: async (x) => {
        if (problem.loss(x) < problem.loss(problem.x0)) throw new Error('test set unreadable');
        return { loss: 0, accuracy: 0 };
      },
    }))).rejects.toThrow(/evaluate after round 4: test set unreadable/);
  });

  it('lets the peers arrive one by one: a term per arrival, the same parameters, more bytes', async () => {
    const together = await runLocalSession(setup(5, { rounds: 20 }));
    const terms: number[] = [];
    const oneByOne = await runLocalSession(setup(5, { rounds: 20 }, {
      arrival: 'one-by-one',
      onEvent: (i, e) => {
        if (i === 0 && e.type === 'term') terms.push(e.term);
      },
    }));
    expect(oneByOne.hash).toBe(together.hash);
    expect(terms[terms.length - 1]).toBe(5);
    expect(oneByOne.timersFired).toBe(0);
    // the intermediate terms' status reports, all in the first round
    expect(oneByOne.hub.bytes).toBeGreaterThan(together.hub.bytes);
    for (let t = 1; t < 20; t++) expect(oneByOne.rounds[t].bytesUp).toEqual(together.rounds[t].bytesUp);
  });

  it('also runs on a real clock', async () => {
    const r = await runLocalSession(setup(3, { rounds: 15 }, {
      clock: { now: () => performance.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) },
    }));
    expect(r.peers.every((p) => p.hash === r.hash && p.round === 15)).toBe(true);
    expect(r.virtualMs).toBe(0);
  });

  it('rejects on a session error and stops every peer', async () => {
    const events: SessionEvent[] = [];
    const opts = setup(4, { rounds: 40 });
    const run = runLocalSession({
      ...opts,
      gradientFor: (i) => {
        const inner = opts.gradientFor(i);
        return async (at, round) => {
          if (i === 3 && round === 5) throw new Error('oracle crashed');
          return inner(at, round);
        };
      },
      onEvent: (_, e) => events.push(e),
    });
    await expect(run).rejects.toThrow(/peer 3 .*oracle crashed/);
    const count = events.length;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(events.length).toBe(count);
  });

  it('rejects options it cannot run', async () => {
    await expect(runLocalSession({ ...setup(2), peers: 0 })).rejects.toThrow(/peers/);
    await expect(runLocalSession({ ...setup(2), config: setup(3).config })).rejects.toThrow(/expectedPeers/);
    await expect(runLocalSession({ ...setup(2), params: new Float32Array(0) })).rejects.toThrow(/params/);
    await expect(runLocalSession({ ...setup(2), crashes: [{ peer: 0, afterRound: 1 }, { peer: 1, afterRound: 2 }] })).rejects.toThrow(/survive/);
    await expect(runLocalSession({ ...setup(2), crashes: [{ peer: 1, afterRound: 59 }] })).rejects.toThrow(/afterRound/);
    await expect(runLocalSession({ ...setup(2), arrival: 'staggered' as 'together' })).rejects.toThrow(/arrival/);
    const absent = () => {
      throw new Error('bad predicate');
    };
    await expect(runLocalSession({ ...setup(2), absent })).rejects.toThrow(/absent\(0, 1\) threw: bad predicate/);
  });
});
