import { describe, expect, it } from 'vitest';
import { createSkewedQuadratic } from './skewed-quadratic';
import { encodeMessage, PROTOCOL_VERSION } from '../protocol/messages';
import { runSimulation } from './synthetic';

describe('runSimulation on the skewed-noise quadratic (batch 8)', () => {
  it('signSGD without momentum stalls far above SIGNSGD-SIM (Alg. 1)', async () => {
    const common = { peers: 1, batch: 8, rounds: 1500, seed: 1 } as const;
    const plain = await runSimulation({ ...common, algorithm: { name: 'signsgd', lr: 0.01 } });
    const sim = await runSimulation({ ...common, algorithm: { name: 'signsgd-sim', lr: 0.01, theta: 0.9 } });
    expect(plain.initialLoss).toBe(sim.initialLoss);
    expect(sim.finalLoss).toBeLessThan(0.1 * sim.initialLoss);
    expect(plain.finalLoss).toBeGreaterThan(5 * sim.finalLoss);
  });

  it('MV-STO-SIGNSGD-SIM (Alg. 2) with 50 peers converges; MV-signSGD does not', async () => {
    const common = { peers: 50, batch: 8, rounds: 400, seed: 2, problemOptions: { d: 40 } } as const;
    const alg2 = await runSimulation({ ...common, algorithm: { name: 'mv-sto-signsgd-sim', lr: 0.01, R: 1 } });
    const mv = await runSimulation({ ...common, algorithm: { name: 'mv-signsgd', lr: 0.01 } });
    expect(alg2.finalLoss).toBeLessThan(0.01 * alg2.initialLoss);
    expect(mv.finalLoss).toBeGreaterThan(10 * alg2.finalLoss);
    // a worker sends one ballot message per round (1 + 40/8 payload bytes plus the protocol
    // framing; msgpack's round number grows from 1 to 3 bytes) and one status report at the start
    const ballotMessage = (round: number) =>
      encodeMessage({ v: PROTOCOL_VERSION, session: 'local', type: 'ballot', term: 50, round, hash: '0'.repeat(16), payload: new Uint8Array(1 + 5) }).length;
    expect(alg2.bytesUpPerPeerPerRound).toBeGreaterThan(ballotMessage(0));
    expect(alg2.bytesUpPerPeerPerRound).toBeLessThan(ballotMessage(399) + 2);
    // the verdict carries two hashes and the counted bitmap on top of the same framing
    expect(alg2.bytesDownPerPeerPerRound).toBeGreaterThan(alg2.bytesUpPerPeerPerRound);
    expect(alg2.aggregatorBytesUpPerRound).toBeCloseTo(49 * alg2.bytesDownPerPeerPerRound, -2);
    expect(alg2.missedBallots).toBe(0);
    expect(alg2.nonFiniteGradients).toBe(0);
    expect(alg2.gradientCalls).toBe(50 * 400);
  });

  it('is deterministic in the seed', async () => {
    const opts = { peers: 5, batch: 2, rounds: 30, algorithm: { name: 'fed-mv-sto-signsgd-sim', R: 1, K: 2 } } as const;
    const a = await runSimulation({ ...opts, seed: 7 });
    const b = await runSimulation({ ...opts, seed: 7 });
    const c = await runSimulation({ ...opts, seed: 8 });
    expect(a.finalLoss).toBe(b.finalLoss);
    expect(a.finalParams).toEqual(b.finalParams);
    expect(a.bytesUpPerPeerPerRound).toBe(b.bytesUpPerPeerPerRound);
    expect(a.curve).toEqual(b.curve);
    expect(a.finalParams).not.toEqual(c.finalParams);
    expect(a.gradientCalls).toBe(5 * 30 * 3);
  });

  it('vote shards end on the same parameters (and with d = 203 the headers outweigh what they save)', async () => {
    const opts = { peers: 6, batch: 2, rounds: 30, seed: 3, problemOptions: { d: 203 }, algorithm: { name: 'mv-sto-signsgd-sim', R: 1, ties: 'coin' } } as const;
    const star = await runSimulation(opts);
    const sharded = await runSimulation({ ...opts, voteShards: 6 });
    expect(sharded.finalParams).toEqual(star.finalParams);
    expect(sharded.missedBallots).toBe(0);
    // 26 bytes of signs: 5 slices and 5 parts of ~100 bytes of header each, against 5 ballots
    expect(sharded.aggregatorBytesDownPerRound).toBeGreaterThan(star.aggregatorBytesDownPerRound);
  });

  it('tallies without lost ballots at the deadline, also when only the aggregator votes', async () => {
    // all workers' ballots lost in rounds 5, 15, ..., one worker's in rounds 2, 12, ...: never
    // two in a row for one peer, after which the aggregator would stop waiting for it
    const absent = (round: number, peer: number) => round % 10 === 5 || (round % 10 === 2 && peer === 1 + (Math.floor(round / 10) % 3));
    const opts = { algorithm: { name: 'mv-sto-signsgd-sim', R: 1, lr: 0.01 }, peers: 4, batch: 4, rounds: 40, seed: 3 } as const;
    const r = await runSimulation({ ...opts, absent });
    let lost = 0;
    // peer 0 aggregates: its own ballot never crosses the wire
    for (let round = 0; round < 40; round++) for (let peer = 1; peer < 4; peer++) if (absent(round, peer)) lost++;
    expect(r.missedBallots).toBe(lost);
    expect(r.skippedRounds).toBe(0);
    expect(r.finalLoss).toBeLessThan(r.initialLoss);
    // the gaps change the trajectory, and do so reproducibly
    const full = await runSimulation(opts);
    expect(full.missedBallots).toBe(0);
    expect(full.finalParams).not.toEqual(r.finalParams);
    const again = await runSimulation({ ...opts, absent });
    expect(again.finalParams).toEqual(r.finalParams);
  });

  it('keeps parameters finite when a peer\'s gradients are poisoned', async () => {
    const problem = createSkewedQuadratic({ d: 20, seed: 5 });
    let calls = 0;
    const poisoned = {
      ...problem,
      gradient: (peer: number, batch: number, stream?: number | string) => {
        const inner = problem.gradient(peer, batch, stream);
        return async (at: Float32Array) => {
          const g = await inner(at);
          if (peer === 0 && ++calls % 2 === 0) g[calls % 20] = Number.NaN;
          return g;
        };
      },
    };
    for (const name of ['sgd-m', 'ef-signsgd', 'mv-sto-signsgd-sim'] as const) {
      calls = 0;
      const r = await runSimulation({ algorithm: { name, lr: 0.01, R: 1 }, peers: 3, batch: 4, rounds: 50, seed: 1, problem: poisoned });
      expect(r.nonFiniteGradients).toBe(25);
      expect(r.finalParams.every(Number.isFinite)).toBe(true);
      expect(r.finalLoss).toBeLessThan(r.initialLoss);
    }
  });

  it('rejects bad options', async () => {
    await expect(runSimulation({ algorithm: { name: 'signsgd' }, peers: 0, batch: 1, rounds: 1, seed: 1 })).rejects.toThrow(/peers/);
    await expect(runSimulation({ algorithm: { name: 'signsgd' }, peers: 1001, batch: 1, rounds: 1, seed: 1 })).rejects.toThrow(/peers must be .* <= 1000/);
    await expect(runSimulation({ algorithm: { name: 'signsgd', theta: 2 }, peers: 1, batch: 1, rounds: 1, seed: 1 })).rejects.toThrow(/theta/);
  });
});
