import { createRng } from '../random';
import { createSkewedQuadratic, type SkewedQuadraticOptions, type SyntheticProblem } from '../problems/skewed-quadratic';
import { decodeBallot, decodeUpdate, encodeBallot, encodeUpdate } from './codec';
import { createStrategy, type AlgorithmConfigInput } from './index';
import type { Ballot, WorkerContext, WorkerState } from './strategy';

/**
 * n virtual peers of one strategy on a synthetic problem, in one process: the round loop
 * (ballots -> encode/decode -> aggregate -> encode/decode -> apply), with honest byte counts
 * taken from the actual encodings. Deterministic in `seed`. All peers hold identical
 * parameters (that is the point of the protocol), so one x stands for all of them.
 */
export interface SimulationOptions {
  readonly algorithm: AlgorithmConfigInput;
  readonly peers: number;
  readonly batch: number;
  readonly rounds: number;
  readonly seed: number;
  /** the problem (default: createSkewedQuadratic({ seed, peers, ...problemOptions })) */
  readonly problem?: SyntheticProblem;
  readonly problemOptions?: SkewedQuadraticOptions;
  /** record the loss every this many rounds (default: max(1, rounds / 50)); the last round always */
  readonly lossEvery?: number;
  /** called at every recorded loss */
  readonly onProgress?: (round: number, loss: number) => void;
  /** peers whose ballot is lost in a round (Flower's failures); default: none */
  readonly absent?: (round: number, peer: number) => boolean;
}

export interface SimulationResult {
  readonly algorithm: string;
  readonly problem: string;
  readonly peers: number;
  readonly batch: number;
  readonly rounds: number;
  readonly seed: number;
  readonly d: number;
  readonly initialLoss: number;
  readonly finalLoss: number;
  /** [round, loss after that round] */
  readonly curve: ReadonlyArray<readonly [number, number]>;
  /** mean encoded ballot bytes per voting peer per round */
  readonly bytesUpPerPeerPerRound: number;
  /** mean encoded update bytes per round (each peer receives one) */
  readonly bytesDownPerPeerPerRound: number;
  readonly nonFiniteGradients: number;
  readonly gradientCalls: number;
  /** rounds in which no ballot arrived (no update applied) */
  readonly skippedRounds: number;
  readonly wallMs: number;
  readonly finalParams: Float32Array;
}

function checkCount(name: string, v: number, min: number): void {
  if (!(Number.isInteger(v) && v >= min)) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
}

export async function runSimulation(opts: SimulationOptions): Promise<SimulationResult> {
  checkCount('peers', opts.peers, 1);
  checkCount('batch', opts.batch, 1);
  checkCount('rounds', opts.rounds, 1);
  checkCount('seed', opts.seed, 0);
  const t0 = performance.now();
  const strategy = createStrategy(opts.algorithm);
  const problem = opts.problem ?? createSkewedQuadratic({ seed: opts.seed, peers: opts.peers, ...opts.problemOptions });
  const d = problem.d;
  const lossEvery = opts.lossEvery ?? Math.max(1, Math.floor(opts.rounds / 50));
  checkCount('lossEvery', lossEvery, 1);

  const root = createRng(opts.seed).fork('simulation');
  const peers = Array.from({ length: opts.peers }, (_, i) => ({
    state: strategy.createWorkerState(d) as WorkerState,
    gradient: problem.gradient(i, opts.batch, `sim/${opts.seed}`),
    rng: root.fork(`peer/${i}`),
  }));

  const x = Float32Array.from(problem.x0);
  let xPrev = Float32Array.from(x);
  const initialLoss = problem.loss(x);
  const curve: Array<[number, number]> = [];
  let up = 0, votes = 0, down = 0, updates = 0, skipped = 0;

  for (let round = 0; round < opts.rounds; round++) {
    const ballots: Ballot[] = [];
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[i];
      const ctx: WorkerContext = { x, xPrev, round, gradient: peer.gradient, rng: peer.rng };
      // an absent peer still computes (its memory advances) but its ballot is lost in transit
      const ballot = await strategy.workerStep(ctx, peer.state);
      if (opts.absent?.(round, i) === true) continue;
      const wire = encodeBallot(ballot, d);
      up += wire.length;
      votes++;
      ballots.push(decodeBallot(wire, d));
    }
    if (ballots.length === 0) {
      skipped++;
      xPrev = Float32Array.from(x);
    } else {
      const wire = encodeUpdate(strategy.aggregate(ballots, d), d);
      down += wire.length;
      updates++;
      xPrev = Float32Array.from(x);
      strategy.apply(x, decodeUpdate(wire, d), round);
    }
    if ((round + 1) % lossEvery === 0 || round === opts.rounds - 1) {
      const loss = problem.loss(x);
      curve.push([round + 1, loss]);
      opts.onProgress?.(round + 1, loss);
    }
  }

  let nonFinite = 0, calls = 0;
  for (const p of peers) {
    nonFinite += p.state.nonFiniteGradients;
    calls += p.state.gradientCalls;
  }
  return {
    algorithm: strategy.name,
    problem: problem.name,
    peers: opts.peers,
    batch: opts.batch,
    rounds: opts.rounds,
    seed: opts.seed,
    d,
    initialLoss,
    finalLoss: problem.loss(x),
    curve,
    bytesUpPerPeerPerRound: votes === 0 ? 0 : up / votes,
    bytesDownPerPeerPerRound: updates === 0 ? 0 : down / updates,
    nonFiniteGradients: nonFinite,
    gradientCalls: calls,
    skippedRounds: skipped,
    wallMs: performance.now() - t0,
    finalParams: x,
  };
}
