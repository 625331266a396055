import type { BallotKind, Tally, TrustedBallot, TrustedUpdate, UpdateKind, WorkerContext, WorkerState } from './strategy';

/**
 * Worker-side pieces every strategy shares: drawing a gradient under the NaN policy, the
 * extrapolated point y, and the momentum update.
 *
 * NaN policy (docs/algorithms.md): a gradient with any NaN or +-Inf entry is dropped whole:
 * one poisoned coordinate usually means the whole forward/backward pass overflowed, so its
 * finite entries are not trusted either. The worker counts it in `nonFiniteGradients`, leaves
 * its memory (momentum, residual) unchanged, and votes from that memory as it stands.
 */

export function createState(d: number, memory: { momentum?: boolean; error?: boolean }): WorkerState {
  if (!(Number.isInteger(d) && d > 0 && d <= 0x7fffffff)) {
    throw new RangeError(`parameter count d must be an integer in [1, 2^31), got ${d}`);
  }
  return {
    d,
    momentum: memory.momentum === true ? new Float32Array(d) : null,
    error: memory.error === true ? new Float32Array(d) : null,
    nonFiniteGradients: 0,
    gradientCalls: 0,
  };
}

export function checkContext(ctx: WorkerContext, state: WorkerState): void {
  const d = state.d;
  if (!(ctx.x instanceof Float32Array) || ctx.x.length !== d) {
    throw new RangeError(`worker context x has length ${ctx.x?.length}, expected d = ${d}`);
  }
  if (!(ctx.xPrev instanceof Float32Array) || ctx.xPrev.length !== d) {
    throw new RangeError(`worker context xPrev has length ${ctx.xPrev?.length}, expected d = ${d}`);
  }
  if (!(Number.isInteger(ctx.round) && ctx.round >= 0)) {
    throw new RangeError(`worker context round must be an integer >= 0, got ${ctx.round}`);
  }
  if (typeof ctx.gradient !== 'function') throw new TypeError('worker context gradient must be a function');
}

function isFiniteVector(v: Float32Array): boolean {
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x - x !== 0) return false;
  }
  return true;
}

/**
 * The gradient at `at`, or null when it had a non-finite entry (counted). A gradient of the
 * wrong type or length is a bug in the oracle, not bad data, so it throws.
 */
export async function drawGradient(ctx: WorkerContext, state: WorkerState, at: Float32Array): Promise<Float32Array | null> {
  const g = await drawUncheckedGradient(ctx, state, at);
  if (!isFiniteVector(g)) {
    state.nonFiniteGradients++;
    return null;
  }
  return g;
}

/**
 * The gradient at `at`, with its entries not yet checked: for a caller whose own pass over g
 * drops and counts a non-finite one (momentumStochasticSignPack), so that g is read once.
 */
export async function drawUncheckedGradient(ctx: WorkerContext, state: WorkerState, at: Float32Array): Promise<Float32Array> {
  state.gradientCalls++;
  const g = await ctx.gradient(at);
  if (!(g instanceof Float32Array)) throw new TypeError('gradient function must return a Float32Array');
  if (g.length !== state.d) throw new RangeError(`gradient has length ${g.length}, expected d = ${state.d}`);
  return g;
}

/** y = x + alpha (x - xPrev); x itself (no copy) when alpha = 0. */
export function extrapolate(x: Float32Array, xPrev: Float32Array, alpha: number): Float32Array {
  if (alpha === 0) return x;
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] + alpha * (x[i] - xPrev[i]);
  return y;
}

/**
 * m <- beta m + c g, committed only if every new entry is finite (so a huge but finite
 * gradient that would overflow float32 is dropped like a non-finite one). Returns whether
 * it was committed. One pass into a scratch vector, then a copy: the same float32 values as
 * computing in place, at a third of the cost of checking first and computing again.
 */
export function accumulate(m: Float32Array, g: Float32Array, beta: number, c: number, state: WorkerState): boolean {
  const next = scratchFor(m.length);
  let bad = 0;
  for (let i = 0; i < m.length; i++) {
    next[i] = beta * m[i] + c * g[i];
    const v = next[i];
    bad |= +(v - v !== 0);
  }
  if (bad !== 0) {
    state.nonFiniteGradients++;
    return false;
  }
  m.set(next);
  return true;
}

// one scratch vector per length, reused: its users copy out of it before returning
const scratch = new Map<number, Float32Array>();
export function scratchFor(d: number): Float32Array {
  let s = scratch.get(d);
  if (s === undefined) {
    if (scratch.size >= 4) scratch.clear();
    s = new Float32Array(d);
    scratch.set(d, s);
  }
  return s;
}

/**
 * The tally's ballots as `kind`. They were checked where they arrived (they are `Trusted`), so
 * this only narrows their type; n = 0 or another kind is the caller's bug and throws.
 */
export function ballotsOf<K extends BallotKind>(tally: Tally, kind: K, strategy: string): Extract<TrustedBallot, { kind: K }>[] {
  const ballots = tally.ballots;
  if (ballots.length === 0) {
    throw new RangeError(`${strategy}: no ballots to aggregate (n = 0); the round has no update`);
  }
  for (let j = 0; j < ballots.length; j++) {
    if (ballots[j].kind !== kind) {
      throw new TypeError(`${strategy}: ballot ${j} is of kind '${ballots[j].kind}', expected '${kind}'`);
    }
  }
  return ballots as Extract<TrustedBallot, { kind: K }>[];
}

/** The update as `kind` (trusted, so only narrowed); another kind is the caller's bug and throws. */
export function updateOf<K extends UpdateKind>(update: TrustedUpdate, kind: K, strategy: string): Extract<TrustedUpdate, { kind: K }> {
  if (update?.kind !== kind) throw new TypeError(`${strategy}: expected a '${kind}' update, got '${String(update?.kind)}'`);
  return update as Extract<TrustedUpdate, { kind: K }>;
}

/** Throws unless a dense update has d = x.length values (an O(1) guard; its values were checked at decode). */
export function checkLength(values: Float32Array, d: number, strategy: string): void {
  if (values.length !== d) throw new RangeError(`${strategy}: update has ${values.length} values, expected d = ${d}`);
}
