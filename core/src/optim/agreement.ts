import type { TrustedBallot, TrustedUpdate } from './strategy';

/**
 * Vote agreement (issue 15): the share of coordinates on which one ballot points the way the
 * round's update went. The aggregator computes it for every ballot it tallies and carries it in
 * the verdict (a byte per voter), so every peer can see who votes against the group.
 *
 * - sign ballot vs verdict: popcount of XNOR of the packed bits; a tied coordinate (verdict 0)
 *   counts half, whichever way the ballot went;
 * - anything against a dense update (SGD-M, EF-signSGD), or a dense ballot: the sign of each
 *   ballot coordinate against the sign of the update's; a zero on either side counts half.
 *
 * An honest voter of a large session agrees on more than half the coordinates (it is part of
 * the majority it votes in); a sign flipper on less than half; a random voter on about half.
 */

const POPCOUNT = (() => {
  const t = new Uint8Array(256);
  for (let i = 1; i < 256; i++) t[i] = (i & 1) + t[i >> 1];
  return t;
})();

/** Share in [0, 1] of the d coordinates on which `ballot` agrees with `update` (both checked for d). */
export function agreementOf(ballot: TrustedBallot, update: TrustedUpdate, d: number): number {
  if (d <= 0) return 0.5;
  if (update.kind === 'verdict' && ballot.kind !== 'dense') {
    const b = ballot.bits, s = update.signs, t = update.ties;
    const full = d >>> 3;
    let same = 0;
    for (let i = 0; i < full; i++) same += POPCOUNT[~(b[i] ^ s[i]) & 0xff];
    const used = d & 7;
    if (used !== 0) same += POPCOUNT[~(b[full] ^ s[full]) & ((1 << used) - 1)];
    if (t === null) return same / d;
    // a tied coordinate has sign bit 0, so it "agreed" above exactly when the ballot said -1
    let tied = 0, tiedSame = 0;
    for (let i = 0; i < t.length; i++) {
      tied += POPCOUNT[t[i]];
      tiedSame += POPCOUNT[t[i] & ~b[i] & 0xff];
    }
    return (same - tiedSame + tied / 2) / d;
  }
  if (ballot.kind === 'dense' && update.kind === 'dense') {
    // SGD-M, every round: the hot case of the slow path, without the per-coordinate dispatch
    const v = ballot.values, u = update.values;
    let same = 0, zero = 0;
    for (let i = 0; i < d; i++) {
      // exact in float64: a product of two float32 values can neither underflow nor overflow
      const p = v[i] * u[i];
      if (p > 0) same++;
      else if (p === 0) zero++;
    }
    return (same + zero / 2) / d;
  }
  let score = 0;
  for (let i = 0; i < d; i++) {
    const bs = ballotSign(ballot, i);
    const us = updateSign(update, i);
    score += bs === 0 || us === 0 ? 0.5 : bs === us ? 1 : 0;
  }
  return score / d;
}

function ballotSign(b: TrustedBallot, i: number): number {
  if (b.kind === 'dense') return Math.sign(b.values[i]);
  return ((b.bits[i >>> 3] >>> (i & 7)) & 1) === 1 ? 1 : -1;
}

function updateSign(u: TrustedUpdate, i: number): number {
  if (u.kind === 'dense') return Math.sign(u.values[i]);
  if (u.ties !== null && ((u.ties[i >>> 3] >>> (i & 7)) & 1) === 1) return 0;
  return ((u.signs[i >>> 3] >>> (i & 7)) & 1) === 1 ? 1 : -1;
}

/** The wire form: one byte per voter, round(255 share). */
export function agreementByte(share: number): number {
  return Math.max(0, Math.min(255, Math.round(share * 255)));
}

export function shareOfByte(byte: number): number {
  return byte / 255;
}

/**
 * Weight of the newest ballot in the moving average a peer shows: about the last 10 ballots
 * (an exponential moving average, so it needs one number per peer and no history).
 */
export const AGREEMENT_WEIGHT = 0.1;

/**
 * Peers whose average agreement is far below the rest: more than `k` robust standard deviations
 * (1.4826 MAD) under the median, and at least `minGap` below it so that a session of near-equal
 * honest peers flags nobody. Returns the flagged ids. Needs 3 or more peers.
 */
export function lowAgreement(scores: Readonly<Record<string, number>>, k = 3, minGap = 0.02): string[] {
  const entries = Object.entries(scores).filter(([, v]) => Number.isFinite(v));
  if (entries.length < 3) return [];
  const values = entries.map(([, v]) => v).sort((a, b) => a - b);
  const median = medianOf(values);
  const mad = medianOf(values.map((v) => Math.abs(v - median)).sort((a, b) => a - b));
  const cut = median - Math.max(minGap, k * 1.4826 * mad);
  return entries.filter(([, v]) => v < cut).map(([id]) => id);
}

function medianOf(sorted: readonly number[]): number {
  const m = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

/**
 * ROC AUC of a score that should rank `negatives` (adversaries) below `positives` (honest
 * peers): the probability that a random honest peer scores above a random adversary, ties
 * counting half (Mann-Whitney U / (n_pos n_neg)). NaN when either side is empty.
 */
export function rocAuc(positives: readonly number[], negatives: readonly number[]): number {
  if (positives.length === 0 || negatives.length === 0) return Number.NaN;
  let u = 0;
  for (const p of positives) for (const q of negatives) u += p > q ? 1 : p === q ? 0.5 : 0;
  return u / (positives.length * negatives.length);
}
