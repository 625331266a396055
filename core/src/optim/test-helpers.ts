import type { Rng } from '../random';
import { trustBallot } from './codec';
import type { Ballot, GradientFn, Tally, WorkerContext } from './strategy';

/** Returns the given gradients in order (the last one repeats) and records where it was asked. */
export function scriptedGradient(...grads: number[][]): GradientFn & { points: Float32Array[] } {
  const points: Float32Array[] = [];
  let k = 0;
  const fn = (async (at: Float32Array) => {
    points.push(Float32Array.from(at));
    const g = grads[Math.min(k++, grads.length - 1)];
    return Float32Array.from(g);
  }) as GradientFn & { points: Float32Array[] };
  fn.points = points;
  return fn;
}

export function context(x: number[], gradient: GradientFn, rng: Rng, round = 0, xPrev?: number[]): WorkerContext {
  return { x: Float32Array.from(x), xPrev: Float32Array.from(xPrev ?? x), round, gradient, rng };
}

/** +1 / -1 per coordinate of packed bits. */
export function signsOf(bits: Uint8Array, d: number): number[] {
  return Array.from({ length: d }, (_, i) => (((bits[i >>> 3] >>> (i & 7)) & 1) === 1 ? 1 : -1));
}

/** -1 / 0 / +1 per coordinate of a verdict. */
export function verdictValues(signs: Uint8Array, ties: Uint8Array | null, d: number): number[] {
  return Array.from({ length: d }, (_, i) => {
    if (ties !== null && ((ties[i >>> 3] >>> (i & 7)) & 1) === 1) return 0;
    return ((signs[i >>> 3] >>> (i & 7)) & 1) === 1 ? 1 : -1;
  });
}

/** A tally of these ballots (checked with `trustBallot`), voters p1, p2, ... in order. */
export function tallyOf(ballots: readonly Ballot[], d: number, absent: readonly string[] = []): Tally {
  return { ballots: ballots.map((b) => trustBallot(b, d)), voters: ballots.map((_, i) => `p${i + 1}`), absent };
}
