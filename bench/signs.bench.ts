/**
 * Sign compression and majority vote (core/src/signs) against the obvious one-byte-per-
 * coordinate code, timed in the same run.
 */
import { createRng } from '../core/src/random';
import { accumulate, createState } from '../core/src/optim/worker';
import { applyVerdict, majorityVerdict, momentumStochasticSignPack, packSigns, stochasticSignPack, type Verdict } from '../core/src/signs';
import { latency, throughput, timeMs, type Bench } from './harness';

const D = 1 << 20;
const BALLOTS = 64;

function gaussian(d: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const v = new Float32Array(d);
  for (let i = 0; i < d; i++) v[i] = rng.normal();
  return v;
}

const mcoords = (ms: number, d = D) => d / ms / 1e3;

export const benches: Bench[] = [
  {
    name: 'signs: stochastic sign + pack',
    async run() {
      const R = 1;
      const v = gaussian(D, 1);
      const rng = createRng(2);
      const bits = new Uint8Array(D / 8);
      const fast = await timeMs(() => stochasticSignPack(v, R, rng, bits));
      const naive = new Int8Array(D);
      const slow = await timeMs(() => {
        for (let i = 0; i < D; i++) {
          const c = Math.max(-R, Math.min(R, v[i]));
          naive[i] = rng.float() < 0.5 + c / (2 * R) ? 1 : -1;
        }
      }, 5, 1);
      return [throughput('stochastic sign + pack, d = 2^20', 'Mcoord/s', mcoords(fast), mcoords(slow), 'naive: rng.float() per coord, Int8 +-1 out')];
    },
  },
  {
    name: 'signs: momentum step + stochastic sign (a worker\'s vector work per round)',
    async run() {
      const R = 1e-3;
      const g = gaussian(D, 7);
      const one = gaussian(D, 8).map((x) => x * 1e-3), three = one.slice();
      const bits = new Uint8Array(D / 8);
      const scratch = new Float32Array(D);
      const rng = createRng(9);
      const fused = await timeMs(() => momentumStochasticSignPack(one, g, 0.9, 0.1, R, rng, scratch, bits));
      // the three passes it replaces: finiteness of g, m <- 0.9 m + 0.1 g, then S_R(m)
      const state = createState(D, { momentum: true });
      const passes = await timeMs(() => {
        for (let i = 0; i < D; i++) if (!Number.isFinite(g[i])) throw new Error('non-finite gradient');
        accumulate(three, g, 0.9, 0.1, state);
        stochasticSignPack(three, R, rng, bits);
      });
      return [throughput('momentum + stochastic sign in one pass, d = 2^20', 'Mcoord/s', mcoords(fused), mcoords(passes), 'baseline: finiteness check, accumulate, stochasticSignPack')];
    },
  },
  {
    name: 'signs: pack',
    async run() {
      const v = gaussian(D, 3);
      const bits = new Uint8Array(D / 8);
      const rng = createRng(3);
      const fast = await timeMs(() => packSigns(v, rng, bits));
      const slow = await timeMs(() => {
        bits.fill(0);
        for (let i = 0; i < D; i++) if (v[i] >= 0) bits[i >> 3] |= 1 << (i & 7);
      });
      // a quarter exact zeros (MNIST's always-0 border pixels are 23% of the MLP): coin bits
      const z = v.map((x, i) => (i % 4 === 0 ? 0 : x));
      const fastZeros = await timeMs(() => packSigns(z, rng, bits));
      return [
        throughput('pack signs, d = 2^20', 'Mcoord/s', mcoords(fast), mcoords(slow), 'naive: bit-by-bit |='),
        throughput('pack signs, 1/4 exact zeros (coins), d = 2^20', 'Mcoord/s', mcoords(fastZeros), mcoords(slow), 'naive: bit-by-bit |= (no coins)'),
      ];
    },
  },
  {
    name: 'signs: tally + verdict',
    async run() {
      const rng = createRng(4);
      const packed: Uint8Array[] = [];
      const bytes: Int8Array[] = [];
      for (let j = 0; j < BALLOTS; j++) {
        const b = new Uint8Array(D / 8);
        const u = new Uint32Array(D / 32);
        rng.fillU32(u);
        b.set(new Uint8Array(u.buffer));
        packed.push(b);
        const s = new Int8Array(D);
        for (let i = 0; i < D; i++) s[i] = ((b[i >> 3] >> (i & 7)) & 1) * 2 - 1;
        bytes.push(s);
      }
      let verdict: Verdict | null = null;
      const fast = await timeMs(() => { verdict = majorityVerdict(packed, D); }, 9, 2);
      const sums = new Int32Array(D);
      const naiveVerdict = new Int8Array(D);
      const slow = await timeMs(() => {
        sums.fill(0);
        for (const s of bytes) for (let i = 0; i < D; i++) sums[i] += s[i];
        for (let i = 0; i < D; i++) naiveVerdict[i] = Math.sign(sums[i]);
      }, 3, 1);
      let agree = 0;
      const v = verdict as unknown as Verdict;
      for (let i = 0; i < D; i++) {
        const tie = v.ties !== null && ((v.ties[i >> 3] >> (i & 7)) & 1) === 1;
        const value = tie ? 0 : ((v.signs[i >> 3] >> (i & 7)) & 1) * 2 - 1;
        if (value === naiveVerdict[i]) agree++;
      }
      if (agree !== D) throw new Error(`majorityVerdict disagrees with the naive tally on ${D - agree} coordinates`);
      return [latency(`tally + verdict, ${BALLOTS} ballots x 2^20`, 'ms', fast, slow, 'naive: Int8 +-1 ballots, loop per ballot')];
    },
  },
  {
    name: 'signs: packed apply',
    async run() {
      const rng = createRng(5);
      const counts = new Int32Array(D);
      for (let i = 0; i < D; i++) counts[i] = rng.int(5) - 2;
      const packed = [0, 1, 2, 3].map(() => {
        const b = new Uint8Array(D / 8);
        const u = new Uint32Array(D / 32);
        rng.fillU32(u);
        b.set(new Uint8Array(u.buffer));
        return b;
      });
      const verdict = majorityVerdict(packed, D);
      const values = new Int8Array(D);
      for (let i = 0; i < D; i++) {
        const tie = verdict.ties !== null && ((verdict.ties[i >> 3] >> (i & 7)) & 1) === 1;
        values[i] = tie ? 0 : ((verdict.signs[i >> 3] >> (i & 7)) & 1) * 2 - 1;
      }
      const x = gaussian(D, 6);
      const y = x.slice();
      const gamma = 1e-6, wd = 1e-4;
      const fast = await timeMs(() => applyVerdict(x, verdict, gamma, wd));
      const slow = await timeMs(() => {
        for (let i = 0; i < D; i++) y[i] = y[i] - gamma * (values[i] + wd * y[i]);
      });
      const fastNoTies = await timeMs(() => applyVerdict(x, { signs: verdict.signs, ties: null }, gamma, 0));
      const decoded = new Int8Array(D);
      const unpackThenApply = await timeMs(() => {
        for (let i = 0; i < D; i++) {
          const tie = verdict.ties !== null && ((verdict.ties[i >> 3] >> (i & 7)) & 1) === 1;
          decoded[i] = tie ? 0 : ((verdict.signs[i >> 3] >> (i & 7)) & 1) * 2 - 1;
        }
        for (let i = 0; i < D; i++) y[i] = y[i] - gamma * (decoded[i] + wd * y[i]);
      });
      return [
        throughput('apply verdict with ties + wd, d = 2^20', 'Mcoord/s', mcoords(fast), mcoords(unpackThenApply), 'naive: unpack to Int8, then apply'),
        throughput('apply verdict with ties + wd, d = 2^20 (vs unpacked)', 'Mcoord/s', mcoords(fast), mcoords(slow), 'naive: Int8 verdict already unpacked'),
        throughput('apply verdict no ties, no wd, d = 2^20', 'Mcoord/s', mcoords(fastNoTies), mcoords(slow), 'naive: Int8 verdict already unpacked'),
      ];
    },
  },
];
