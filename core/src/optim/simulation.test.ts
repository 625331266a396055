import { describe, expect, it } from 'vitest';
import { createSkewedQuadratic } from '../problems/skewed-quadratic';
import { runSimulation } from './simulation';

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
    expect(alg2.bytesUpPerPeerPerRound).toBe(1 + 5);
    expect(alg2.nonFiniteGradients).toBe(0);
    expect(alg2.gradientCalls).toBe(50 * 400);
  });

  it('is deterministic in the seed', async () => {
    const opts = { peers: 5, batch: 2, rounds: 30, algorithm: { name: 'fed-mv-sto-signsgd-sim', R: 1, K: 2 } } as const;
    const a = await runSimulation({ ...opts, seed: 7 });
    const b = await runSimulation({ ...opts, seed: 7 });
    const c = await runSimulation({ ...opts, seed: 8 });
    expect(a.finalParams).toEqual(b.finalParams);
    expect(a.curve).toEqual(b.curve);
    expect(a.finalParams).not.toEqual(c.finalParams);
    expect(a.gradientCalls).toBe(5 * 30 * 3);
  });

  it('tolerates absent peers and rounds with no ballot at all', async () => {
    const r = await runSimulation({
      algorithm: { name: 'mv-sto-signsgd-sim', R: 1, lr: 0.01 },
      peers: 4,
      batch: 4,
      rounds: 40,
      seed: 3,
      absent: (round, peer) => round % 10 === 0 || peer === round % 4,
    });
    expect(r.skippedRounds).toBe(4);
    expect(r.finalLoss).toBeLessThan(r.initialLoss);
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
    await expect(runSimulation({ algorithm: { name: 'signsgd', theta: 2 }, peers: 1, batch: 1, rounds: 1, seed: 1 })).rejects.toThrow(/theta/);
  });
});
