import { describe, expect, it } from 'vitest';
import { createRng, type Rng } from '../random';
import {
  applySigns,
  applyVerdict,
  countNonFinite,
  decodeVerdict,
  encodeVerdict,
  encodedVerdictBytes,
  majorityVerdict,
  momentumStochasticSignPack,
  packedBytes,
  packSigns,
  stochasticSignPack,
  stochasticSignStream,
  tally,
  unpackSigns,
  verdictFromTally,
  verdictValue,
  type Verdict,
} from './index';

/** Naive references over plain +-1 arrays. */
function refPack(s: readonly number[]): Uint8Array {
  const out = new Uint8Array(Math.ceil(s.length / 8));
  s.forEach((x, i) => {
    if (x > 0) out[Math.floor(i / 8)] += 2 ** (i % 8);
  });
  return out;
}
function refTally(ballots: number[][], d: number): number[] {
  const c = new Array<number>(d).fill(0);
  for (const b of ballots) for (let i = 0; i < d; i++) c[i] += b[i];
  return c;
}
function verdictValues(v: Verdict, d: number): number[] {
  return Array.from({ length: d }, (_, i) => verdictValue(v, i));
}
function randomVector(rng: Rng, d: number, zeros = 0.05): Float32Array {
  const v = new Float32Array(d);
  for (let i = 0; i < d; i++) v[i] = rng.float() < zeros ? 0 : rng.normal();
  return v;
}
/** Ballots biased towards ties: each ballot is a +-1 vector; half the coordinates split evenly. */
function randomBallots(rng: Rng, n: number, d: number): number[][] {
  const ballots = Array.from({ length: n }, () => new Array<number>(d));
  for (let i = 0; i < d; i++) {
    const split = n % 2 === 0 && rng.float() < 0.3;
    const perm = Array.from({ length: n }, (_, j) => j);
    for (let j = n - 1; j > 0; j--) {
      const k = rng.int(j + 1);
      [perm[j], perm[k]] = [perm[k], perm[j]];
    }
    for (let j = 0; j < n; j++) ballots[perm[j]][i] = split ? (j < n / 2 ? 1 : -1) : rng.float() < 0.5 ? 1 : -1;
  }
  return ballots;
}

const DIMS = [0, 1, 7, 8, 9, 31, 32, 33, 100, 1001];

/** packSigns' reference: v > 0 -> 1, v < 0 -> 0, else bit i & 31 of the (i >> 5)-th coin word */
function refPackWithCoins(v: Float32Array, seed: number): Uint8Array {
  const next = stochasticSignStream(createRng(seed));
  const words = Array.from({ length: Math.ceil(v.length / 32) }, () => next());
  return refPack(Array.from(v, (x, i) => (x > 0 ? 1 : x < 0 ? -1 : ((words[i >> 5] >>> (i & 31)) & 1) * 2 - 1)));
}

describe('pack / unpack', () => {
  it('matches the reference and round-trips for odd d', () => {
    const rng = createRng(1);
    for (const d of DIMS) {
      const v = randomVector(rng, d);
      v[0 % Math.max(d, 1)] = d > 0 ? -0 : v[0];
      const bits = packSigns(v, createRng(d));
      expect(bits.length).toBe(packedBytes(d));
      expect(Array.from(bits)).toEqual(Array.from(refPackWithCoins(v, d)));
      // +-1 has no zeros: packing the unpacked signs gives the same bits, with any coins
      expect(Array.from(packSigns(unpackSigns(bits, d), createRng(0)))).toEqual(Array.from(bits));
    }
  });
  it('packs the sign of every nonzero (infinities and subnormals too), and leaves padding zero', () => {
    const bits = packSigns(Float32Array.of(-1, Infinity, -Infinity, 1e-30, -1e-30, 5, -3e38, 1e-45, -1e-45), createRng(1));
    expect(Array.from(unpackSigns(bits, 9))).toEqual([-1, 1, -1, 1, -1, 1, -1, 1, -1]);
    expect(bits[1]).toBe(0);
    // edge bit patterns: smallest negative subnormal, -Infinity, largest -finite, largest +finite
    const raw = Int32Array.of(0x80000001 | 0, 0xff800000 | 0, 0xff7fffff | 0, 0x7f7fffff);
    expect(Array.from(unpackSigns(packSigns(new Float32Array(raw.buffer), createRng(2)), 4))).toEqual([-1, -1, -1, 1]);
  });
  it('gives +0, -0 and every NaN no direction: a fair coin, from four draws of rng whatever v holds', () => {
    // positive and negative NaNs, +0, -0
    const raw = Int32Array.of(0x7fc00000, 0xffc00000 | 0, 0x7f800001, 0, 0x80000000 | 0);
    const zeros = new Float32Array(raw.buffer);
    const rng = createRng(3);
    const trials = 4000;
    const plus = new Array<number>(zeros.length).fill(0);
    for (let t = 0; t < trials; t++) unpackSigns(packSigns(zeros, rng), zeros.length).forEach((s, i) => (plus[i] += s > 0 ? 1 : 0));
    // within 5 standard errors of trials / 2 (sd = sqrt(trials) / 2)
    for (const p of plus) expect(Math.abs(p - trials / 2)).toBeLessThan(5 * Math.sqrt(trials) / 2);
    // exactly four draws per call, so what comes after does not depend on v
    const a = createRng(4), b = createRng(4), c = createRng(4);
    packSigns(zeros, a);
    packSigns(randomVector(createRng(5), 1000), b);
    for (let k = 0; k < 4; k++) c.u32();
    const fifth = c.u32();
    expect(a.u32()).toBe(fifth);
    expect(b.u32()).toBe(fifth);
  });
  it("a coordinate's coin does not depend on the other coordinates", () => {
    const d = 1001;
    const v = randomVector(createRng(5), d, 0);
    const w = v.map((x) => -x);
    for (let i = 0; i < d; i += 7) v[i] = w[i] = 0;
    const bv = unpackSigns(packSigns(v, createRng(6)), d);
    const bw = unpackSigns(packSigns(w, createRng(6)), d);
    for (let i = 0; i < d; i++) expect(bv[i] === bw[i]).toBe(i % 7 === 0);
  });
  it('reuses out and rejects wrong sizes and nonzero padding', () => {
    // stale bits in out are overwritten, padding included
    const out = Uint8Array.of(0xff, 0xff);
    expect(packSigns(Float32Array.of(-1, -1, -1, -1, -1, -1, -1, -1, 0), createRng(1), out)).toBe(out);
    expect(out[0]).toBe(0);
    expect(out[1] >>> 1).toBe(0);
    expect(() => packSigns(new Float32Array(9), createRng(1), new Uint8Array(3))).toThrow(/3 bytes, expected 2 for d = 9/);
    expect(() => unpackSigns(new Uint8Array(1), 9)).toThrow(/1 bytes, expected 2 for d = 9/);
    expect(() => unpackSigns(Uint8Array.of(0, 2), 9)).toThrow(/padding/);
    expect(() => unpackSigns(Uint8Array.of(0, 1), 9, new Float32Array(8))).toThrow(/8 elements, expected d = 9/);
  });
});

describe('tally and majority verdict', () => {
  for (const n of [1, 2, 3, 16, 17, 64, 1000]) {
    it(`match the naive reference for n = ${n}`, () => {
      const rng = createRng(`tally-${n}`);
      const dims = n >= 1000 ? [1, 33, 1001] : DIMS;
      for (const d of dims) {
        const ballots = randomBallots(rng, n, d);
        const packed = ballots.map(refPack);
        const want = refTally(ballots, d);
        const counts = tally(packed, d);
        expect(Array.from(counts)).toEqual(want);
        const verdict = majorityVerdict(packed, d);
        expect(verdictValues(verdict, d)).toEqual(want.map(Math.sign).map((x) => x + 0));
        const hasTie = want.some((c) => c === 0);
        expect(verdict.ties === null).toBe(!hasTie);
        if (n % 2 === 1) expect(verdict.ties).toBeNull();
        const fromTally = verdictFromTally(counts);
        expect(Array.from(fromTally.signs)).toEqual(Array.from(verdict.signs));
        expect(fromTally.ties && Array.from(fromTally.ties)).toEqual(verdict.ties && Array.from(verdict.ties));
      }
    });
  }
  it('reads ballots at unaligned offsets', () => {
    const rng = createRng(5);
    const d = 1001;
    const ballots = randomBallots(rng, 6, d);
    const packed = ballots.map((b) => {
      const raw = refPack(b);
      const host = new Uint8Array(raw.length + 3);
      host.set(raw, 1);
      return host.subarray(1, 1 + raw.length);
    });
    expect(Array.from(tally(packed, d))).toEqual(refTally(ballots, d));
  });
  it('rejects no ballots, wrong lengths and bad padding', () => {
    expect(() => tally([], 8)).toThrow(/at least one ballot/);
    expect(() => majorityVerdict([], 8)).toThrow(/at least one ballot/);
    expect(() => majorityVerdict([new Uint8Array(2), new Uint8Array(1)], 9)).toThrow(/ballot 1 has 1 bytes, expected 2/);
    expect(() => tally([Uint8Array.of(0, 0x80)], 9)).toThrow(/ballot 0 has nonzero padding/);
  });
});

describe('stochastic sign S_R', () => {
  it('is unbiased: mean of draws within 5 standard errors of clip(v, -R, R) / R', () => {
    const R = 0.5;
    const v = Float32Array.of(0, 0.1, -0.1, 0.25, -0.4, 0.49, NaN, 0.01);
    const draws = 20000;
    const rng = createRng(7);
    const sums = new Float64Array(v.length);
    const out = new Uint8Array(1);
    for (let t = 0; t < draws; t++) {
      stochasticSignPack(v, R, rng, out);
      for (let i = 0; i < v.length; i++) sums[i] += (out[0] >>> i) & 1 ? 1 : -1;
    }
    for (let i = 0; i < v.length; i++) {
      const mean = Number.isNaN(v[i]) ? 0 : v[i] / R;
      const se = Math.sqrt((1 - mean * mean) / draws);
      expect(Math.abs(sums[i] / draws - mean)).toBeLessThan(5 * se + 1e-12);
    }
  });
  it('is deterministic beyond R and at +-R', () => {
    const v = Float32Array.of(2, -2, 1, -1, Infinity, -Infinity, 1e9, -1e9, 3);
    const rng = createRng(8);
    for (let t = 0; t < 50; t++) {
      expect(Array.from(unpackSigns(stochasticSignPack(v, 1, rng), 9))).toEqual([1, -1, 1, -1, 1, -1, 1, -1, 1]);
    }
  });
  it('gives the same bits for the same seed, for odd d and across chunk boundaries', () => {
    const v = randomVector(createRng(9), 10007);
    const a = stochasticSignPack(v, 1, createRng(42));
    const b = stochasticSignPack(v, 1, createRng(42));
    const c = stochasticSignPack(v, 1, createRng(43));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    expect(a[a.length - 1] >>> (10007 & 7)).toBe(0);
    // one u32 per coordinate, in order: bit i = u_i < (1 + v_i / R) * 2^31
    const u = stochasticSignStream(createRng(42));
    for (let i = 0; i < 10007; i++) {
      const want = u() < (1 + v[i]) * 2 ** 31 ? 1 : 0;
      if (((a[i >> 3] >> (i & 7)) & 1) !== want) throw new Error(`bit ${i} differs`);
    }
  });
  it('stays well defined when 1 / R overflows', () => {
    const v = Float32Array.of(0, 1e-30, -1e-30, NaN);
    const rng = createRng(10);
    let plus = 0;
    for (let t = 0; t < 2000; t++) {
      const s = unpackSigns(stochasticSignPack(v, 1e-320, rng), 4);
      expect([s[1], s[2]]).toEqual([1, -1]);
      plus += s[0] > 0 ? 1 : 0;
    }
    // v = 0 stays a fair coin: 1000 +- 5 * 22
    expect(Math.abs(plus - 1000)).toBeLessThan(5 * Math.sqrt(500));
  });
  it('rejects R <= 0, non-finite R and a wrong out size', () => {
    const rng = createRng(1);
    for (const R of [0, -1, NaN, Infinity]) {
      expect(() => stochasticSignPack(new Float32Array(4), R, rng)).toThrow(RangeError);
    }
    expect(() => stochasticSignPack(new Float32Array(17), 1, rng, new Uint8Array(2))).toThrow(/2 bytes, expected 3 for d = 17/);
  });
});

describe('momentum and stochastic sign in one pass', () => {
  const randomVector = (d: number, rng: Rng, scale: number): Float32Array => Float32Array.from({ length: d }, () => (rng.float() - 0.5) * scale);
  const reference = (m: Float32Array, g: Float32Array, beta: number, c: number): Float32Array => Float32Array.from(m, (mi, i) => beta * mi + c * g[i]);

  it.each([1, 7, 8, 9, 1003])('equals the update followed by stochasticSignPack, d = %i', (d) => {
    const data = createRng(d);
    for (const [beta, c, R] of [[0.9, 0.1, 1e-3], [0, 1, 0.5], [0.5, 0.5, 1e-320]]) {
      const m = randomVector(d, data, 2e-3);
      if (d > 3) m[3] = 0;
      const g = randomVector(d, data, 2e-2);
      if (d > 3) g[3] = 0;
      const expectedM = reference(m, g, beta, c);
      const expectedBits = stochasticSignPack(expectedM, R, createRng(77));
      const { bits, committed } = momentumStochasticSignPack(m, g, beta, c, R, createRng(77), new Float32Array(d));
      expect(committed).toBe(true);
      expect(Array.from(bits)).toEqual(Array.from(expectedBits));
      expect(m.every((x, i) => Object.is(x, expectedM[i]))).toBe(true);
    }
  });

  it.each([
    ['a NaN gradient', Number.NaN],
    ['an infinite gradient', -Infinity],
    ['a finite gradient that overflows float32', 3e38],
  ])('leaves m as it was on %s and signs it from the same coins', (_, bad) => {
    const d = 21;
    const data = createRng(5);
    const m = randomVector(d, data, 2e-3);
    m[4] = 3e38;
    const before = Float32Array.from(m);
    const g = randomVector(d, data, 2e-2);
    g[4] = bad;
    const rng = createRng(9), twin = createRng(9);
    const { bits, committed } = momentumStochasticSignPack(m, g, 0.9, 1, 1e-3, rng, new Float32Array(d));
    expect(committed).toBe(false);
    expect(Array.from(m)).toEqual(Array.from(before));
    expect(Array.from(bits)).toEqual(Array.from(stochasticSignPack(before, 1e-3, twin)));
    // four draws either way, so the next round's coins do not depend on this one's outcome
    expect(rng.u32()).toBe(twin.u32());
  });

  it('rejects mismatched lengths and a bad R', () => {
    const rng = createRng(1);
    expect(() => momentumStochasticSignPack(new Float32Array(4), new Float32Array(3), 0.9, 0.1, 1, rng, new Float32Array(4))).toThrow(RangeError);
    expect(() => momentumStochasticSignPack(new Float32Array(4), new Float32Array(4), 0.9, 0.1, 1, rng, new Float32Array(5))).toThrow(RangeError);
    expect(() => momentumStochasticSignPack(new Float32Array(4), new Float32Array(4), 0.9, 0.1, 0, rng, new Float32Array(4))).toThrow(RangeError);
  });
});

describe('apply', () => {
  it('applyVerdict matches a hand-worked example with ties and weight decay', () => {
    // verdict (+1, -1, 0, +1, 0): signs 0b01001, ties 0b10100
    const v: Verdict = { signs: Uint8Array.of(0b01001), ties: Uint8Array.of(0b10100) };
    const x = Float32Array.of(1, 2, -4, 0, 8);
    applyVerdict(x, v, 0.5, 0.25);
    // x - 0.5 * (s + 0.25 x): 1 - .5(1.25) = .375; 2 - .5(-1 + .5) = 2.25; -4 - .5(-1) = -3.5;
    // 0 - .5(1) = -.5; 8 - .5(2) = 7
    expect(Array.from(x)).toEqual([0.375, 2.25, -3.5, -0.5, 7]);
    const y = Float32Array.of(1, 2, -4, 0, 8);
    applyVerdict(y, v, 0.5);
    expect(Array.from(y)).toEqual([0.5, 2.5, -4, -0.5, 8]);
  });
  it('applySigns matches a hand-worked example', () => {
    const x = Float32Array.of(1, 1, 1, 1, 1, 1, 1, 1, 1);
    applySigns(x, Uint8Array.of(0b10000001, 1), 0.25);
    expect(Array.from(x)).toEqual([0.75, 1.25, 1.25, 1.25, 1.25, 1.25, 1.25, 0.75, 0.75]);
    const z = Float32Array.of(2, -2);
    applySigns(z, Uint8Array.of(0b01), 0.5, 0.5);
    // 2 - .5(1 + 1) = 1; -2 - .5(-1 - 1) = -1
    expect(Array.from(z)).toEqual([1, -1]);
  });
  it('applyVerdict equals applying the unpacked values on random data', () => {
    const rng = createRng(11);
    const d = 1001;
    const packed = randomBallots(rng, 4, d).map(refPack);
    const verdict = majorityVerdict(packed, d);
    const x = randomVector(rng, d);
    const want = Float32Array.from(x, (xi, i) => xi - 0.01 * (verdictValue(verdict, i) + 0.1 * xi));
    applyVerdict(x, verdict, 0.01, 0.1);
    expect(Array.from(x)).toEqual(Array.from(want));
  });
  it('rejects size mismatches and non-finite steps', () => {
    expect(() => applySigns(new Float32Array(9), new Uint8Array(1), 0.1)).toThrow(/1 bytes, expected 2 for d = 9/);
    expect(() => applyVerdict(new Float32Array(8), { signs: new Uint8Array(1), ties: new Uint8Array(2) }, 0.1)).toThrow(/ties has 2 bytes/);
    expect(() => applySigns(new Float32Array(8), new Uint8Array(1), NaN)).toThrow(/gamma/);
  });
  it('verdictValue rejects coordinates outside the verdict', () => {
    const v: Verdict = { signs: new Uint8Array(1), ties: null };
    expect(verdictValue(v, 7)).toBe(-1);
    expect(() => verdictValue(v, 8)).toThrow(/outside/);
    expect(() => verdictValue(v, -1)).toThrow(/outside/);
  });
  it('countNonFinite counts NaN and infinities', () => {
    expect(countNonFinite(Float32Array.of(0, NaN, Infinity, -Infinity, 1, -3.4e38))).toBe(3);
  });
});

describe('verdict wire form', () => {
  it('round-trips every form and picks the smallest', () => {
    const rng = createRng(12);
    for (const d of [1, 9, 33, 1001, 5000]) {
      for (const tieRate of [0, 0.001, 0.5]) {
        const counts = Int32Array.from({ length: d }, () => (rng.float() < tieRate ? 0 : rng.float() < 0.5 ? 2 : -2));
        const ties = counts.filter((c) => c === 0).length;
        const v = verdictFromTally(counts);
        const bytes = encodeVerdict(v, d);
        expect(bytes.length).toBe(encodedVerdictBytes(d, ties));
        expect(bytes.length).toBeLessThanOrEqual(1 + 2 * packedBytes(d));
        if (ties === 0) expect(bytes.length).toBe(1 + packedBytes(d));
        const back = decodeVerdict(bytes, d);
        expect(verdictValues(back, d)).toEqual(Array.from(counts, Math.sign).map((x) => x + 0));
        expect(back.ties === null).toBe(ties === 0);
      }
    }
  });
  it('uses the tie list for a few ties in a large vector', () => {
    const counts = new Int32Array(1000).fill(1);
    counts[3] = 0;
    counts[999] = 0;
    const bytes = encodeVerdict(verdictFromTally(counts), 1000);
    expect(bytes[0]).toBe(2);
    expect(bytes.length).toBe(1 + 125 + 4 + 8);
  });
  it('rejects wrong lengths, bad padding, bad tags and bad tie lists', () => {
    const d = 9;
    expect(() => decodeVerdict(new Uint8Array(2), d)).toThrow(/2 bytes, expected at least 3/);
    expect(() => decodeVerdict(new Uint8Array(4), d)).toThrow(/4 bytes, expected 3/);
    expect(() => decodeVerdict(Uint8Array.of(0, 0, 2), d)).toThrow(/padding/);
    expect(() => decodeVerdict(Uint8Array.of(7, 0, 0), d)).toThrow(/unknown form tag 7/);
    expect(() => decodeVerdict(Uint8Array.of(1, 0, 0, 0, 4), d)).toThrow(/padding/);
    expect(() => decodeVerdict(Uint8Array.of(1, 0, 0, 0, 0), d)).toThrow(/empty tie bitmap/);
    expect(() => decodeVerdict(Uint8Array.of(1, 1, 0, 1, 0), d)).toThrow(/sign bit set on a tie/);
    const list = (k: number, ...idx: number[]) => {
      const out = new Uint8Array(1 + 2 + 4 + 4 * idx.length);
      out[0] = 2;
      const view = new DataView(out.buffer);
      view.setUint32(3, k, true);
      idx.forEach((i, j) => view.setUint32(7 + 4 * j, i, true));
      return out;
    };
    expect(decodeVerdict(list(2, 1, 8), d).ties).toEqual(Uint8Array.of(2, 1));
    expect(() => decodeVerdict(list(3, 1, 8), d)).toThrow(/3 listed ties has 15 bytes, expected 19/);
    expect(() => decodeVerdict(list(2, 8, 1), d)).toThrow(/strictly increasing/);
    expect(() => decodeVerdict(list(1, 9), d)).toThrow(/outside d = 9/);
    expect(() => encodeVerdict({ signs: new Uint8Array(1), ties: null }, 9)).toThrow(/1 bytes, expected 2/);
  });
});
