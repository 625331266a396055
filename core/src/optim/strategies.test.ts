import { describe, expect, it } from 'vitest';
import { createRng } from '../random';
import { algorithmNames } from '../config';
import { packSigns, stochasticSignPack } from '../signs';
import { decodeBallot, decodeUpdate, encodeBallot, encodeUpdate, trustBallot, trustUpdate } from './codec';
import { createStrategy } from './index';
import type { Ballot, Update } from './strategy';
import { context, scriptedGradient, signsOf, tallyOf, verdictValues } from './test-helpers';

function signBits(b: Ballot): Uint8Array {
  if (b.kind !== 'signs') throw new Error(`expected a signs ballot, got ${b.kind}`);
  return b.bits;
}

function dense(u: Update): Float32Array {
  if (u.kind !== 'dense') throw new Error(`expected a dense update, got ${u.kind}`);
  return u.values;
}

function close(actual: ArrayLike<number>, expected: number[], digits = 6): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, digits));
}

describe('signsgd', () => {
  it('votes Sign(g) and, alone, moves x by -lr Sign(g)', async () => {
    const s = createStrategy({ name: 'signsgd', lr: 0.1 });
    const state = s.createWorkerState(4);
    const ctx = context([1, 2, 3, 4], scriptedGradient([0.5, -2, 1e-30, -0.1]), createRng(1));
    const ballot = await s.workerStep(ctx, state);
    expect(signsOf(signBits(ballot), 4)).toEqual([1, -1, 1, -1]);
    const x = Float32Array.from([1, 2, 3, 4]);
    s.apply(x, s.aggregate(tallyOf([ballot], 4), 4, 0), 0);
    close(x, [0.9, 2.1, 2.9, 4.1]);
    expect(state.momentum).toBeNull();
  });

  it('applies weight decay and the lr schedule: x <- x - gamma_t (s + wd x)', async () => {
    const s = createStrategy({ name: 'signsgd', lr: 0.1, weightDecay: 0.5, schedule: { kind: 'step', milestones: [2], factor: 0.1 } });
    const update = s.aggregate(tallyOf([{ kind: 'signs', bits: packSigns(Float32Array.from([1, -1]), createRng(1)) }], 2), 2, 0);
    const x = Float32Array.from([2, 2]);
    s.apply(x, update, 1); // gamma = 0.1: [2 - 0.1 (1 + 1), 2 - 0.1 (-1 + 1)]
    close(x, [1.8, 2]);
    s.apply(x, update, 2); // gamma = 0.01: [1.8 - 0.01 (1 + 0.9), 2 - 0.01 (-1 + 1)]
    close(x, [1.781, 2]);
  });
});

describe('signsgd-sim (Alg. 1)', () => {
  it('keeps m = theta m + (1 - theta) g and votes Sign(m)', async () => {
    const s = createStrategy({ name: 'signsgd-sim', theta: 0.5, lr: 0.1 });
    const state = s.createWorkerState(4);
    const gradient = scriptedGradient([1, -1, 2, -4], [-2, 0.5, -3, 1]);
    await s.workerStep(context([0, 0, 0, 0], gradient, createRng(1)), state);
    close(state.momentum!, [0.5, -0.5, 1, -2]);
    const ballot = await s.workerStep(context([0, 0, 0, 0], gradient, createRng(1), 1), state);
    // m = 0.5 [0.5, -0.5, 1, -2] + 0.5 [-2, 0.5, -3, 1] = [-0.75, 0, -1, -0.5]
    close(state.momentum!, [-0.75, 0, -1, -0.5]);
    // the last coordinate is where momentum disagrees with Sign(g) = +1; m_2 = 0 is a coin
    const signs = signsOf(signBits(ballot), 4);
    expect([signs[0], signs[2], signs[3]]).toEqual([-1, -1, -1]);
    expect(state.gradientCalls).toBe(2);
  });
});

describe('double-momentum (eq. 4)', () => {
  it('takes the gradient at y = x + theta / (1 - theta) (x - x_prev)', async () => {
    const s = createStrategy({ name: 'double-momentum', theta: 0.5 });
    const state = s.createWorkerState(3);
    const gradient = scriptedGradient([1, -1, 0]);
    const ballot = await s.workerStep(context([1, 1, 1], gradient, createRng(1), 1, [0, 2, 1]), state);
    close(gradient.points[0], [2, 0, 1]); // alpha = 1
    close(state.momentum!, [0.5, -0.5, 0]);
    // m_3 = 0 carries no direction: a coin (docs/signs.md)
    expect(signsOf(signBits(ballot), 3).slice(0, 2)).toEqual([1, -1]);
  });
});

describe('mv-signsgd', () => {
  it("verdict is Sign(sum of ballots); an even split is a tie (0) under the paper's rule", () => {
    const s = createStrategy({ name: 'mv-signsgd', lr: 0.5, ties: 'zero' });
    const b = (v: number[]): Ballot => ({ kind: 'signs', bits: packSigns(Float32Array.from(v), createRng(1)) });
    const three = s.aggregate(tallyOf([b([1, -1, 1]), b([1, 1, -1]), b([-1, -1, -1])], 3), 3, 0);
    expect(three.kind).toBe('verdict');
    if (three.kind !== 'verdict') return;
    expect(verdictValues(three.signs, three.ties, 3)).toEqual([1, -1, -1]);
    const two = s.aggregate(tallyOf([b([1, -1, 1]), b([-1, -1, 1])], 3), 3, 0);
    if (two.kind !== 'verdict') throw new Error('expected a verdict');
    expect(verdictValues(two.signs, two.ties, 3)).toEqual([0, -1, 1]);
    const x = new Float32Array(3);
    s.apply(x, two, 0);
    close(x, [0, 0.5, -0.5]);
  });
});

describe('mv-sto-signsgd', () => {
  it('votes S_R(g): +1 with probability (1 + g / R) / 2', async () => {
    const s = createStrategy({ name: 'mv-sto-signsgd', R: 1 });
    const state = s.createWorkerState(4);
    // |g_i| >= R is clipped: a certain vote
    const certain = createStrategy({ name: 'mv-sto-signsgd', R: 0.5 });
    const fixed = await certain.workerStep(context([0, 0, 0, 0], scriptedGradient([0.6, -0.5, -1, 2]), createRng(5)), state);
    expect(signsOf(signBits(fixed), 4)).toEqual([1, -1, -1, 1]);
    // frequencies under a real stream
    const rng = createRng(7);
    const plus = [0, 0, 0, 0];
    const trials = 4000;
    const gradient = scriptedGradient([0.5, -0.5, 0, 2]);
    for (let t = 0; t < trials; t++) {
      const v = signsOf(signBits(await s.workerStep(context([0, 0, 0, 0], gradient, rng), state)), 4);
      v.forEach((x, i) => (plus[i] += x > 0 ? 1 : 0));
    }
    const freq = plus.map((p) => p / trials);
    [0.75, 0.25, 0.5, 1].forEach((p, i) => expect(Math.abs(freq[i] - p)).toBeLessThan(0.03));
  });
});

describe('mv-sto-signsgd-sim (Alg. 2)', () => {
  it('takes g at y = x + alpha (x - x_prev), keeps momentum, votes S_R(m)', async () => {
    // R = 0.5 <= |m_i|: every vote is clipped to a certain sign, so the example is exact
    const s = createStrategy({ name: 'mv-sto-signsgd-sim', theta: 0.5, alpha: 0.5, R: 0.5 });
    const state = s.createWorkerState(4);
    const gradient = scriptedGradient([2, -1.2, -2, 1.4]);
    const ballot = await s.workerStep(context([1, 1, 1, 1], gradient, createRng(5), 3, [0, 2, 1, 1]), state);
    close(gradient.points[0], [1.5, 0.5, 1, 1]);
    close(state.momentum!, [1, -0.6, -1, 0.7]);
    expect(signsOf(signBits(ballot), 4)).toEqual([1, -1, -1, 1]);
  });
});

describe('fed-mv-sto-signsgd-sim (Alg. 3)', () => {
  it('runs K local SGD steps from y on a copy, then votes S_R(m) with g at the local end point', async () => {
    // R tiny: S_R(m) = Sign(m) for m != 0, so the vote is exact
    const s = createStrategy({ name: 'fed-mv-sto-signsgd-sim', theta: 0, K: 2, eta: 0.1, R: 1e-6 });
    const state = s.createWorkerState(3);
    const target = [1, -1, 0.5];
    const points: Float32Array[] = [];
    const gradient = async (at: Float32Array) => {
      points.push(Float32Array.from(at));
      return Float32Array.from(at, (v, i) => v - target[i]);
    };
    const ctx = context([0, 0, 0], gradient, createRng(5));
    const ballot = await s.workerStep(ctx, state);
    expect(points.length).toBe(3);
    close(points[0], [0, 0, 0]);
    close(points[1], [0.1, -0.1, 0.05]);
    close(points[2], [0.19, -0.19, 0.095]);
    close(state.momentum!, [-0.81, 0.81, -0.405]);
    expect(signsOf(signBits(ballot), 3)).toEqual([-1, 1, -1]);
    close(ctx.x, [0, 0, 0]); // the local steps never touch the shared parameters
    expect(state.gradientCalls).toBe(3);
  });
});

describe('ef-signsgd', () => {
  it('sends (||p||_1 / d) Sign(p) with p = gamma g + e, keeps e = p - delta, aggregator averages', async () => {
    const s = createStrategy({ name: 'ef-signsgd', lr: 0.1 });
    const state = s.createWorkerState(4);
    const gradient = scriptedGradient([1, -2, 3, -4], [0, 0, 0, 0]);
    const b1 = await s.workerStep(context([0, 0, 0, 0], gradient, createRng(1)), state);
    if (b1.kind !== 'scaled-signs') throw new Error('expected scaled signs');
    expect(b1.scale).toBeCloseTo(0.25, 6);
    expect(signsOf(b1.bits, 4)).toEqual([1, -1, 1, -1]);
    close(state.error!, [-0.15, 0.05, 0.05, -0.15]);
    const b2 = await s.workerStep(context([0, 0, 0, 0], gradient, createRng(1), 1), state);
    if (b2.kind !== 'scaled-signs') throw new Error('expected scaled signs');
    expect(b2.scale).toBeCloseTo(0.1, 6);
    expect(signsOf(b2.bits, 4)).toEqual([-1, 1, 1, -1]);
    close(state.error!, [-0.05, -0.05, -0.05, -0.05]);
    const u = s.aggregate(tallyOf([b1, b2], 4), 4, 0);
    close(dense(u), [0.075, -0.075, 0.175, -0.175]);
    const x = Float32Array.from([1, 1, 1, 1]);
    s.apply(x, u, 0);
    close(x, [0.925, 1.075, 0.825, 1.175]);
  });
});

describe('sgd-m', () => {
  it('averages the workers\' momenta, which equals momentum on the mean gradient', async () => {
    const s = createStrategy({ name: 'sgd-m', theta: 0.5, lr: 0.1, weightDecay: 0.1 });
    const a = s.createWorkerState(2);
    const b = s.createWorkerState(2);
    const ga = scriptedGradient([1, 2], [3, -2]);
    const gb = scriptedGradient([-1, 0], [1, 4]);
    await s.workerStep(context([0, 0], ga, createRng(1)), a);
    await s.workerStep(context([0, 0], gb, createRng(1)), b);
    const ba = await s.workerStep(context([0, 0], ga, createRng(1), 1), a);
    const bb = await s.workerStep(context([0, 0], gb, createRng(1), 1), b);
    close(a.momentum!, [3.5, -1]);
    close(b.momentum!, [0.5, 4]);
    const u = s.aggregate(tallyOf([ba, bb], 2), 2, 0);
    // momentum on the mean: 0.5 * mean(g1) + mean(g2) = 0.5 [0, 1] + [2, 1]
    close(dense(u), [2, 1.5]);
    const x = Float32Array.from([1, 1]);
    s.apply(x, u, 0); // x - 0.1 (u + 0.1 x)
    close(x, [0.79, 0.84]);
  });
});

describe('bad input', () => {
  it('rejects theta outside [0, 1), R <= 0 and unknown names with the field named', () => {
    expect(() => createStrategy({ name: 'signsgd-sim', theta: 1 })).toThrow(/theta/);
    expect(() => createStrategy({ name: 'signsgd-sim', theta: -0.1 })).toThrow(/theta/);
    expect(() => createStrategy({ name: 'mv-sto-signsgd', R: 0 })).toThrow(/R/);
    expect(() => createStrategy({ name: 'mv-sto-signsgd', R: -1 })).toThrow(/R/);
    expect(() => createStrategy({ name: 'adam' as never })).toThrow(/name/);
    expect(() => createStrategy({ name: 'sgd-m', lr: Number.NaN })).toThrow(/lr/);
  });

  it.each(algorithmNames)('%s: a ballot is checked once, where it enters; aggregate takes the tally as trusted', (name) => {
    const s = createStrategy({ name });
    const short: Ballot = s.ballotKind === 'dense'
      ? { kind: 'dense', values: new Float32Array(9) }
      : s.ballotKind === 'signs'
        ? { kind: 'signs', bits: new Uint8Array(1) }
        : { kind: 'scaled-signs', scale: 1, bits: new Uint8Array(1) };
    expect(() => trustBallot(short, 10)).toThrow(/expected/);
    expect(() => decodeBallot(encodeBallot(short, 9), 10)).toThrow(/expected/);
    const wrong: Ballot = s.ballotKind === 'dense'
      ? { kind: 'signs', bits: new Uint8Array(2) }
      : { kind: 'dense', values: new Float32Array(10) };
    expect(() => decodeBallot(encodeBallot(wrong, 10), 10, s.ballotKind)).toThrow(/expected/);
    // what aggregate still refuses is a caller's bug: no ballot, or one of another kind
    expect(() => s.aggregate(tallyOf([], 10), 10, 0)).toThrow(/n = 0/);
    expect(() => s.aggregate(tallyOf([wrong], 10), 10, 0)).toThrow(/kind/);
  });

  it.each(algorithmNames)('%s: the tally names who voted and who was expected and did not', async (name) => {
    const s = createStrategy({ name, R: 1 });
    const d = 6;
    const ballot = await s.workerStep(context([0, 0, 0, 0, 0, 0], scriptedGradient([1, -2, 3, -4, 5, -6]), createRng(1)), s.createWorkerState(d));
    // the absent do not change the update: majority vote and means are over the ballots that arrived
    const all = s.aggregate(tallyOf([ballot], d), d, 0);
    const some = s.aggregate(tallyOf([ballot], d, ['p2', 'p3']), d, 0);
    expect(some).toEqual(all);
  });

  it.each(algorithmNames)('%s: apply rejects the wrong update kind and length', (name) => {
    const s = createStrategy({ name });
    const x = new Float32Array(10);
    const other: Update = s.updateKind === 'dense'
      ? { kind: 'verdict', signs: new Uint8Array(2), ties: null }
      : { kind: 'dense', values: new Float32Array(10) };
    expect(() => s.apply(x, trustUpdate(other, 10), 0)).toThrow(/expected/);
    const short: Update = s.updateKind === 'dense'
      ? { kind: 'dense', values: new Float32Array(9) }
      : { kind: 'verdict', signs: new Uint8Array(1), ties: null };
    expect(() => trustUpdate(short, 10)).toThrow(/expected/);
    expect(() => s.apply(x, trustUpdate(short, 9), 0)).toThrow(/expected/);
    expect(() => decodeUpdate(encodeUpdate(other, 10), 10, s.updateKind)).toThrow(/expected/);
    expect(x.every((v) => v === 0)).toBe(true);
  });

  it.each(algorithmNames)('%s: workerStep rejects gradients and contexts of the wrong length', async (name) => {
    const s = createStrategy({ name });
    const state = s.createWorkerState(3);
    await expect(s.workerStep(context([0, 0, 0], scriptedGradient([1, 2]), createRng(1)), state)).rejects.toThrow(/length 2, expected d = 3/);
    await expect(s.workerStep(context([0, 0], scriptedGradient([1, 2]), createRng(1)), state)).rejects.toThrow(/expected d = 3/);
    expect(() => s.createWorkerState(0)).toThrow(/d/);
  });
});

describe('NaN policy', () => {
  it.each(algorithmNames)('%s: non-finite gradients are dropped, counted, and never reach x', async (name) => {
    const s = createStrategy({ name, lr: 0.1, R: 1, K: 2 });
    const d = 5;
    const state = s.createWorkerState(d);
    const rng = createRng(3);
    let calls = 0;
    // every third gradient is poisoned with NaN or Inf, the others are finite
    const gradient = async (at: Float32Array) => {
      calls++;
      const g = Float32Array.from(at, (v, i) => v - i);
      if (calls % 3 === 0) g[calls % d] = calls % 2 === 0 ? Number.NaN : Number.POSITIVE_INFINITY;
      return g;
    };
    let x = new Float32Array(d);
    let xPrev = new Float32Array(d);
    for (let round = 0; round < 12; round++) {
      const ballot = await s.workerStep({ x, xPrev, round, gradient, rng }, state);
      const next = Float32Array.from(x);
      s.apply(next, s.aggregate(tallyOf([ballot], d), d, round), round);
      xPrev = x;
      x = next;
      expect(x.every(Number.isFinite)).toBe(true);
      if (state.momentum) expect(state.momentum.every(Number.isFinite)).toBe(true);
      if (state.error) expect(state.error.every(Number.isFinite)).toBe(true);
    }
    expect(state.gradientCalls).toBe(calls);
    expect(state.nonFiniteGradients).toBe(Math.floor(calls / 3));
  });

  it('a dropped gradient leaves the momentum exactly as it was and the vote follows it', async () => {
    const s = createStrategy({ name: 'signsgd-sim', theta: 0.5 });
    const state = s.createWorkerState(3);
    const gradient = scriptedGradient([2, -2, 4], [Number.NaN, 100, -100]);
    await s.workerStep(context([0, 0, 0], gradient, createRng(1)), state);
    const ballot = await s.workerStep(context([0, 0, 0], gradient, createRng(1), 1), state);
    close(state.momentum!, [1, -1, 2]);
    expect(signsOf(signBits(ballot), 3)).toEqual([1, -1, 1]);
    expect(state.nonFiniteGradients).toBe(1);
  });

  it.each([
    ['NaN', [Number.NaN, 100, -100]],
    ['an infinity', [1, Infinity, -1]],
  ])('mv-sto-signsgd-sim: a gradient with %s leaves the momentum as it was and votes S_R of it', async (_, bad) => {
    const s = createStrategy({ name: 'mv-sto-signsgd-sim', theta: 0.5, R: 1 });
    const state = s.createWorkerState(3);
    const gradient = scriptedGradient([2, -2, 4], bad);
    await s.workerStep(context([0, 0, 0], gradient, createRng(1)), state);
    close(state.momentum!, [1, -1, 2]);
    const m = Float32Array.from(state.momentum!);
    const ballot = await s.workerStep(context([0, 0, 0], gradient, createRng(2), 1), state);
    expect(Array.from(state.momentum!)).toEqual(Array.from(m));
    expect(Array.from(signBits(ballot))).toEqual(Array.from(stochasticSignPack(m, 1, createRng(2))));
    expect(state.nonFiniteGradients).toBe(1);
  });

  it('a finite gradient that would overflow the float32 momentum is dropped too', async () => {
    const s = createStrategy({ name: 'sgd-m', theta: 0.9 });
    const state = s.createWorkerState(2);
    const gradient = scriptedGradient([3e38, 1], [3e38, 1]);
    await s.workerStep(context([0, 0], gradient, createRng(1)), state);
    const ballot = await s.workerStep(context([0, 0], gradient, createRng(1), 1), state);
    expect(state.nonFiniteGradients).toBe(1);
    if (ballot.kind !== 'dense') throw new Error('expected dense');
    expect(ballot.values.every(Number.isFinite)).toBe(true);
  });

  it.each(['signsgd', 'mv-sto-signsgd'] as const)('%s: with no usable gradient a memoryless worker votes a fair coin', async (name) => {
    const s = createStrategy({ name, R: 1 });
    const d = 3;
    const state = s.createWorkerState(d);
    const rng = createRng(11);
    const gradient = scriptedGradient([Number.NaN, Number.NaN, Number.NaN]);
    const plus = [0, 0, 0];
    const trials = 3000;
    for (let t = 0; t < trials; t++) {
      signsOf(signBits(await s.workerStep(context([0, 0, 0], gradient, rng), state)), d).forEach((v, i) => (plus[i] += v > 0 ? 1 : 0));
    }
    plus.forEach((p) => expect(Math.abs(p / trials - 0.5)).toBeLessThan(0.04));
    expect(state.nonFiniteGradients).toBe(trials);
  });
});
