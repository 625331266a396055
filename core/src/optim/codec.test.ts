import { describe, expect, it } from 'vitest';
import { createRng } from '../random';
import { algorithmNames } from '../config';
import { packSigns } from '../signs';
import { ballotBytes, decodeBallot, decodeUpdate, encodeBallot, encodeUpdate, encodedUpdateBytes } from './codec';
import { createStrategy } from './index';
import type { Ballot, Update } from './strategy';
import { tallyOf } from './test-helpers';

function randomVector(d: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: d }, () => rng.normal());
}

describe('ballot codec', () => {
  const d = 21; // not a multiple of 8: padding bits matter
  const ballots: Ballot[] = [
    { kind: 'signs', bits: packSigns(randomVector(d, 1), createRng(1)) },
    { kind: 'dense', values: randomVector(d, 2) },
    { kind: 'scaled-signs', scale: 0.3125, bits: packSigns(randomVector(d, 3), createRng(3)) },
  ];

  it.each(ballots)('round-trips a $kind ballot at its documented size', (ballot) => {
    const wire = encodeBallot(ballot, d);
    expect(wire.length).toBe(ballotBytes(ballot.kind, d));
    expect(decodeBallot(wire, d)).toEqual(ballot);
    // decoding a sub-view at an odd offset gives the same ballot
    const framed = new Uint8Array(wire.length + 3);
    framed.set(wire, 3);
    expect(decodeBallot(framed.subarray(3), d)).toEqual(ballot);
  });

  it.each(ballots)('rejects a $kind ballot of the wrong length', (ballot) => {
    const wire = encodeBallot(ballot, d);
    expect(() => decodeBallot(wire.subarray(0, wire.length - 1), d)).toThrow(/bytes, expected/);
    const longer = new Uint8Array(wire.length + 1);
    longer.set(wire);
    expect(() => decodeBallot(longer, d)).toThrow(/bytes, expected/);
    expect(() => decodeBallot(wire, d + 8)).toThrow(/expected/);
    expect(() => encodeBallot(ballot, d + 8)).toThrow(/expected/);
  });

  it('rejects unknown tags, empty input, padding bits, non-finite values and bad scales', () => {
    expect(() => decodeBallot(new Uint8Array(0), d)).toThrow(/empty/);
    expect(() => decodeBallot(Uint8Array.of(0x7f, 0, 0, 0), d)).toThrow(/unknown tag/);
    const signs = encodeBallot(ballots[0], d);
    signs[signs.length - 1] |= 0x80; // coordinate 23 does not exist
    expect(() => decodeBallot(signs, d)).toThrow(/padding/);
    const poisoned = encodeBallot(ballots[1], d);
    new DataView(poisoned.buffer).setFloat32(1 + 4 * 5, Number.NaN, true);
    expect(() => decodeBallot(poisoned, d)).toThrow(/non-finite/);
    const scaled = encodeBallot(ballots[2], d);
    new DataView(scaled.buffer).setFloat32(1, -1, true);
    expect(() => decodeBallot(scaled, d)).toThrow(/scale/);
    new DataView(scaled.buffer).setFloat32(1, Number.POSITIVE_INFINITY, true);
    expect(() => decodeBallot(scaled, d)).toThrow(/scale/);
    expect(() => encodeBallot({ kind: 'dense', values: Float32Array.of(1, Number.NaN) }, 2)).toThrow(/non-finite/);
  });
});

describe('update codec', () => {
  const d = 30;
  const bits = packSigns(randomVector(d, 4), createRng(4));
  const updates: Array<[string, Update]> = [
    ['dense', { kind: 'dense', values: randomVector(d, 5) }],
    ['verdict without ties', { kind: 'verdict', signs: bits, ties: null }],
    // one tie: the tie-list form is not smaller than a bitmap at d = 30, so a bitmap
    ['verdict with a tie', { kind: 'verdict', signs: Uint8Array.from(bits, (b, i) => (i === 0 ? b & ~1 : b)), ties: Uint8Array.of(1, 0, 0, 0) }],
  ];

  it.each(updates)('round-trips a %s update at its exact size', (_, update) => {
    const wire = encodeUpdate(update, d);
    expect(wire.length).toBe(encodedUpdateBytes(update, d));
    expect(decodeUpdate(wire, d)).toEqual(update);
  });

  it.each(updates)('rejects a %s update of the wrong length', (_, update) => {
    const wire = encodeUpdate(update, d);
    expect(() => decodeUpdate(wire.subarray(0, wire.length - 1), d)).toThrow(/bytes, expected/);
    const longer = new Uint8Array(wire.length + 4);
    longer.set(wire);
    expect(() => decodeUpdate(longer, d)).toThrow(/bytes, expected/);
  });

  it('rejects unknown tags and non-finite dense values', () => {
    expect(() => decodeUpdate(Uint8Array.of(0x42, 0, 0, 0, 0), d)).toThrow(/unknown/);
    const wire = encodeUpdate(updates[0][1], d);
    new DataView(wire.buffer).setFloat32(1, Number.NEGATIVE_INFINITY, true);
    expect(() => decodeUpdate(wire, d)).toThrow(/non-finite/);
  });
});

describe('byte accounting', () => {
  it.each(algorithmNames)('%s: bytesUp / bytesDown equal the encoded sizes', async (name) => {
    const d = 37;
    const s = createStrategy({ name, R: 1 });
    const state = s.createWorkerState(d);
    const x = new Float32Array(d);
    const g = randomVector(d, 6);
    const ballot = await s.workerStep({ x, xPrev: x, round: 0, gradient: async () => g, rng: createRng(1) }, state);
    expect(encodeBallot(ballot, d).length).toBe(s.bytesUp(d));
    // one ballot: never a tie
    expect(encodeUpdate(s.aggregate(tallyOf([ballot], d), d, 0), d).length).toBe(s.bytesDown(d));
    const bits = s.ballotKind === 'dense' ? 32 : 1;
    expect(s.bytesUp(d)).toBeLessThanOrEqual(Math.ceil((d * bits) / 8) + 5);
  });
});
