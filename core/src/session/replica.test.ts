import { describe, expect, it } from 'vitest';
import { createStrategy } from '../optim';
import { trustUpdate } from '../optim/codec';
import { hashParams } from './hash';
import { Replica } from './replica';

const d = 4;
const strategy = createStrategy({ name: 'sgd-m', lr: 0.5, theta: 0 });
const step = (v: number) => trustUpdate({ kind: 'dense', values: new Float32Array(d).fill(v) }, d);

/** Applies verdict `r.round` (a step of `v` in every coordinate) as the aggregator of term 1 would. */
function applyNext(r: Replica, v = 1) {
  return r.apply({ round: r.round, decidedInTerm: 1, hashBefore: r.hash, counted: Uint8Array.of(1), payload: Uint8Array.of(v) }, step(v));
}

describe('Replica', () => {
  it('applies verdicts in order: x_prev takes x, the round and hash advance, the verdict is kept', () => {
    const r = new Replica(Float32Array.from([1, 2, 3, 4]), strategy, 16);
    const h0 = r.hash;
    expect(r.round).toBe(0);
    expect(h0).toBe(hashParams(Float32Array.from([1, 2, 3, 4])));
    const rec = applyNext(r);
    expect(r.round).toBe(1);
    expect(Array.from(r.x)).toEqual([0.5, 1.5, 2.5, 3.5]);
    expect(Array.from(r.xPrev)).toEqual([1, 2, 3, 4]);
    expect(rec).toMatchObject({ round: 0, hashBefore: h0, hashAfter: r.hash });
    expect(r.hash).not.toBe(h0);
    expect(r.verdict(0)).toBe(rec);
  });

  it('keeps the last `keep` verdicts, and replays only an unbroken run that starts at the peer\'s hash', () => {
    const r = new Replica(new Float32Array(d), strategy, 3);
    const hashes = [r.hash];
    for (let t = 0; t < 5; t++) hashes.push(applyNext(r).hashAfter);
    expect(r.round).toBe(5);
    expect(r.oldestHeld()).toBe(2);
    expect([0, 1].map((t) => r.verdict(t))).toEqual([undefined, undefined]);
    // a peer at round 2 or later with the hash this replica had there
    expect(r.canReplay(2, hashes[2])).toBe(true);
    expect(r.canReplay(4, hashes[4])).toBe(true);
    // another hash at that round, a round whose verdict is gone, or nothing to replay
    expect(r.canReplay(3, hashes[2])).toBe(false);
    expect(r.canReplay(1, hashes[1])).toBe(false);
    expect(r.canReplay(5, hashes[5])).toBe(false);
  });

  it('installs a snapshot as a copy and forgets the verdicts it held', () => {
    const r = new Replica(new Float32Array(d), strategy, 16);
    applyNext(r);
    applyNext(r);
    const x = Float32Array.from([9, 9, 9, 9]);
    const xPrev = Float32Array.from([8, 8, 8, 8]);
    r.install(40, x, xPrev);
    x[0] = 0;
    expect(r.round).toBe(40);
    expect(Array.from(r.x)).toEqual([9, 9, 9, 9]);
    expect(Array.from(r.xPrev)).toEqual([8, 8, 8, 8]);
    expect(r.hash).toBe(hashParams(Float32Array.from([9, 9, 9, 9])));
    expect(r.oldestHeld()).toBe(40);
    expect(r.verdict(1)).toBeUndefined();
    applyNext(r);
    expect(r.round).toBe(41);
    expect(() => r.install(0, new Float32Array(3), new Float32Array(3))).toThrow(/d = 3/);
  });

  it('never writes into parameters a worker step holds; reuses the spare buffer when none does', () => {
    const r = new Replica(Float32Array.from([1, 1, 1, 1]), strategy, 16);
    const release = r.hold();
    const [x0, xPrev0] = [r.x, r.xPrev];
    applyNext(r);
    applyNext(r);
    // the step still reads what it was given
    expect(Array.from(x0)).toEqual([1, 1, 1, 1]);
    expect(Array.from(xPrev0)).toEqual([1, 1, 1, 1]);
    release();
    release(); // a second release is harmless
    const xPrev1 = r.xPrev;
    applyNext(r);
    applyNext(r);
    // no reader: two applies later the buffer that held x_prev carries x again
    expect(r.x).toBe(xPrev1);
    expect(Array.from(r.x)).toEqual([-1, -1, -1, -1]);
  });
});
