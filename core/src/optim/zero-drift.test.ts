import { describe, expect, it } from 'vitest';
import { algorithmNames, type AlgorithmName } from '../config';
import { createRng } from '../random';
import { createStrategy } from './index';
import type { Ballot } from './strategy';
import { tallyOf } from './test-helpers';

/**
 * Sign(0) drift (issue 15): a coordinate whose gradient is exactly 0 must not move in
 * expectation under any 1-bit ballot. With Sign(0) = +1 every such coordinate moved by -gamma a
 * round, deterministically; with a fair coin its displacement is a zero-mean walk, so the mean
 * over many such coordinates sits within a few standard errors of 0.
 */

const ZEROS = 400;
const LIVE = 40;
const D = ZEROS + LIVE;
const ROUNDS = 300;
const LR = 0.01;

/** peers 1 (single node) and 5 (majority vote) for every algorithm that sends one bit per coordinate */
const oneBit = algorithmNames.filter((n): n is AlgorithmName => n !== 'sgd-m');

async function displacement(name: AlgorithmName, peers: number): Promise<Float64Array> {
  const strategy = createStrategy({ name, lr: LR, R: 1, K: 2, eta: 0.01 });
  const x = new Float32Array(D).fill(0.5);
  let xPrev = Float32Array.from(x);
  const rng = createRng(`zero-drift:${name}:${peers}`);
  const workers = Array.from({ length: peers }, (_, i) => ({ state: strategy.createWorkerState(D), rng: rng.fork(i), noise: rng.fork(`g${i}`) }));
  for (let round = 0; round < ROUNDS; round++) {
    const ballots: Ballot[] = [];
    for (const w of workers) {
      // the first ZEROS coordinates get exactly 0 (or -0) always; the others a noisy pull to 0
      const gradient = async (at: Float32Array): Promise<Float32Array> =>
        Float32Array.from(at, (a, i) => (i < ZEROS ? (i % 2 === 0 ? 0 : -0) : a + w.noise.normal()));
      ballots.push(await strategy.workerStep({ x, xPrev, round, gradient, rng: w.rng }, w.state));
    }
    const update = strategy.aggregate(tallyOf(ballots, D), D, round);
    xPrev = Float32Array.from(x);
    strategy.apply(x, update, round);
  }
  return Float64Array.from(x.subarray(0, ZEROS), (v) => v - 0.5);
}

function meanAndStandardError(v: Float64Array): { mean: number; se: number } {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1);
  return { mean, se: Math.sqrt(variance / v.length) };
}

describe('Sign(0) carries no direction', () => {
  for (const name of oneBit) {
    for (const peers of [1, 5]) {
      it(`${name}, ${peers} peer${peers > 1 ? 's' : ''}: coordinates with zero gradient do not move in expectation`, async () => {
        const moved = await displacement(name, peers);
        const { mean, se } = meanAndStandardError(moved);
        // Sign(0) = +1 moved each by exactly -LR * ROUNDS = -3 (se 0); a fair coin gives a walk
        expect(se).toBeGreaterThan(0);
        expect(Math.abs(mean)).toBeLessThan(5 * se);
        expect(Math.abs(mean)).toBeLessThan(0.05 * LR * ROUNDS);
      });
    }
  }
});
