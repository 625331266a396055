import { describe, expect, it } from 'vitest';
import { createRng } from '../random';
import { checkPacked } from '../signs';
import { adversarialStrategy, chooseAdversaries, DENSE_FLIP_SCALE, flipLabels } from './adversary';
import { agreementByte, agreementOf, lowAgreement, rocAuc, shareOfByte } from './agreement';
import { trustBallot, trustUpdate } from './codec';
import { createStrategy } from './index';
import type { Ballot } from './strategy';
import { context, scriptedGradient, signsOf } from './test-helpers';

const D = 13; // not a multiple of 8: the padding bits must stay zero
const grad = Array.from({ length: D }, (_, i) => (i % 3 === 0 ? -1 : 1) * (i + 1));

async function step(name: 'signsgd' | 'sgd-m', kind: Parameters<typeof adversarialStrategy>[1] | null, peer = 1, round = 0): Promise<Ballot> {
  const honest = createStrategy({ name, lr: 0.1 });
  const s = kind === null ? honest : adversarialStrategy(honest, kind, { seed: 7, peer });
  const state = s.createWorkerState(D);
  return s.workerStep(context(new Array(D).fill(0), scriptedGradient(grad), createRng(1), round), state);
}

const bitsOf = (b: Ballot) => (b.kind === 'dense' ? null : b.bits);

describe('adversarial worker steps', () => {
  it('sign-flip votes the negation of the honest sign ballot, padding kept zero', async () => {
    const honest = bitsOf(await step('signsgd', null))!;
    const flipped = bitsOf(await step('signsgd', 'sign-flip'))!;
    checkPacked(flipped, D);
    expect(signsOf(flipped, D)).toEqual(signsOf(honest, D).map((s) => -s));
  });

  it('sign-flip on a dense ballot (SGD-M) sends the honest momentum negated and scaled', async () => {
    const honest = await step('sgd-m', null);
    const flipped = await step('sgd-m', 'sign-flip');
    if (honest.kind !== 'dense' || flipped.kind !== 'dense') throw new Error('expected dense ballots');
    expect(Array.from(flipped.values)).toEqual(Array.from(honest.values, (v) => -DENSE_FLIP_SCALE * v));
  });

  it('random: fresh fair coins per round and peer; dense noise of the honest scale', async () => {
    const a = bitsOf(await step('signsgd', 'random', 1, 0))!;
    checkPacked(a, D);
    const rounds = await Promise.all([1, 2, 3].map((r) => step('signsgd', 'random', 1, r)));
    // with 13 coordinates, four equal draws in a row would be a broken stream
    expect(new Set([a, ...rounds.map((b) => bitsOf(b)!)].map((b) => b.join(','))).size).toBeGreaterThan(1);
    const big = Array.from({ length: 4000 }, () => 3);
    const s = adversarialStrategy(createStrategy({ name: 'sgd-m', theta: 0.9 }), 'random', { seed: 7, peer: 1 });
    const b = await s.workerStep(context(new Array(4000).fill(0), scriptedGradient(big), createRng(1)), s.createWorkerState(4000));
    if (b.kind !== 'dense') throw new Error('expected a dense ballot');
    const rms = Math.sqrt(b.values.reduce((acc, v) => acc + v * v, 0) / b.values.length);
    expect(rms).toBeGreaterThan(2.7);
    expect(rms).toBeLessThan(3.3);
  });

  it('collude: every adversary sends one vector, every round, whatever its gradient', async () => {
    const ballots = await Promise.all([[1, 0], [2, 0], [1, 5], [9, 3]].map(([peer, round]) => step('signsgd', 'collude', peer, round)));
    expect(new Set(ballots.map((b) => bitsOf(b)!.join(','))).size).toBe(1);
    checkPacked(bitsOf(ballots[0])!, D);
    const other = adversarialStrategy(createStrategy({ name: 'signsgd' }), 'collude', { seed: 8, peer: 1 });
    const b = await other.workerStep(context(new Array(D).fill(0), scriptedGradient(grad), createRng(1)), other.createWorkerState(D));
    // another session seed agrees on another vector (13 coin flips: equal by chance 1 in 8192)
    expect(bitsOf(b)!.join(',')).not.toBe(bitsOf(ballots[0])!.join(','));
  });

  it('silent never settles and draws no gradient; label-flip votes honestly (its poison is the data)', async () => {
    const g = scriptedGradient(grad);
    const s = adversarialStrategy(createStrategy({ name: 'signsgd' }), 'silent', { seed: 7, peer: 1 });
    const pending = s.workerStep(context(new Array(D).fill(0), g, createRng(1)), s.createWorkerState(D));
    const outcome = await Promise.race([pending.then(() => 'settled'), new Promise((r) => setTimeout(() => r('pending'), 50))]);
    expect(outcome).toBe('pending');
    expect(g.points).toHaveLength(0);
    expect(bitsOf(await step('signsgd', 'label-flip'))).toEqual(bitsOf(await step('signsgd', null)));
    const batch = { inputs: new Float32Array(6), labels: Uint8Array.of(0, 3, 9), size: 3 };
    expect(Array.from(flipLabels(batch, 10).labels)).toEqual([9, 6, 0]);
    expect(Array.from(batch.labels)).toEqual([0, 3, 9]);
    expect(() => adversarialStrategy(createStrategy({ name: 'signsgd' }), 'loud' as never, { seed: 1, peer: 1 })).toThrow(/unknown adversary kind/);
  });

  it('chooseAdversaries: a seeded choice of round(f n) peers, never peer 0', () => {
    const a = chooseAdversaries(50, 0.33, 4);
    expect(a.size).toBe(17);
    expect(a.has(0)).toBe(false);
    expect([...chooseAdversaries(50, 0.33, 4)]).toEqual([...a]);
    expect([...chooseAdversaries(50, 0.33, 5)]).not.toEqual([...a]);
    expect(chooseAdversaries(50, 0, 4).size).toBe(0);
    expect(() => chooseAdversaries(2, 0.9, 1)).toThrow(/aggregator/);
  });
});

describe('vote agreement', () => {
  const bits = (signs: number[]) => {
    const out = new Uint8Array(Math.ceil(signs.length / 8));
    signs.forEach((s, i) => { if (s > 0) out[i >> 3] |= 1 << (i & 7); });
    return out;
  };
  const d = 10;
  const verdictSigns = [1, -1, 1, 1, -1, -1, 1, -1, 1, 1];

  it('is the share of coordinates voted the verdict\'s way; a tie counts half', () => {
    const verdict = trustUpdate({ kind: 'verdict', signs: bits(verdictSigns), ties: null }, d);
    const same = trustBallot({ kind: 'signs', bits: bits(verdictSigns) }, d);
    const opposite = trustBallot({ kind: 'signs', bits: bits(verdictSigns.map((s) => -s)) }, d);
    const threeOff = trustBallot({ kind: 'signs', bits: bits(verdictSigns.map((s, i) => (i < 3 ? -s : s))) }, d);
    expect(agreementOf(same, verdict, d)).toBe(1);
    expect(agreementOf(opposite, verdict, d)).toBe(0);
    expect(agreementOf(threeOff, verdict, d)).toBeCloseTo(0.7, 12);
    // coordinates 0 and 1 tied (their sign bits 0): half a point each, whichever way one voted
    const tiedSigns = bits(verdictSigns.map((s, i) => (i < 2 ? -1 : s)));
    const tied = trustUpdate({ kind: 'verdict', signs: tiedSigns, ties: bits([1, 1, -1, -1, -1, -1, -1, -1, -1, -1]) }, d);
    expect(agreementOf(same, tied, d)).toBeCloseTo(0.9, 12);
    expect(agreementOf(opposite, tied, d)).toBeCloseTo(0.1, 12);
  });

  it('compares signs of dense ballots and updates (zero counts half)', () => {
    const u = trustUpdate({ kind: 'dense', values: Float32Array.from([1, -2, 3, 0]) }, 4);
    expect(agreementOf(trustBallot({ kind: 'dense', values: Float32Array.from([5, -1, -3, 2]) }, 4), u, 4)).toBeCloseTo(2.5 / 4, 12);
    expect(agreementOf(trustBallot({ kind: 'signs', bits: Uint8Array.of(0b0101) }, 4), u, 4)).toBeCloseTo(3.5 / 4, 12);
    expect(shareOfByte(agreementByte(0.7))).toBeCloseTo(0.7, 2);
    expect(agreementByte(1.2)).toBe(255);
  });

  it('lowAgreement flags only peers far below the rest; rocAuc ranks them', () => {
    const honest = { a: 0.61, b: 0.6, c: 0.605, d: 0.612, e: 0.598 };
    expect(lowAgreement(honest)).toEqual([]);
    expect(lowAgreement({ ...honest, x: 0.52, y: 0.5 }).sort()).toEqual(['x', 'y']);
    expect(lowAgreement({ a: 0.6, x: 0.1 })).toEqual([]);
    expect(rocAuc([0.6, 0.61], [0.5, 0.52])).toBe(1);
    expect(rocAuc([0.5], [0.6])).toBe(0);
    expect(rocAuc([0.5, 0.6], [0.5])).toBe(0.75);
    expect(rocAuc([], [0.5])).toBeNaN();
  });
});
