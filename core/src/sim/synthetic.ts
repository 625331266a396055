import { parseSessionConfig } from '../config';
import { createStrategy, type AlgorithmConfigInput } from '../optim';
import { runLocalSession, type LocalSessionResult } from './local';
import { createSkewedQuadratic, type SkewedQuadraticOptions, type SyntheticProblem } from './skewed-quadratic';

/**
 * n virtual peers of one strategy on a synthetic problem, in one process, through the real
 * round state machine: session peers on the in-memory hub (runLocalSession, local.ts), so
 * every ballot and verdict is a protocol message that is encoded, carried, decoded and
 * validated, and byte counts are the session's own. Deterministic in `seed` (the session runs
 * on virtual time, see local.ts).
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
  /** called at every recorded loss, in round order */
  readonly onProgress?: (round: number, loss: number) => void;
  /**
   * peers whose ballot is lost in transit in a round (Flower's failures): the aggregator
   * tallies without it at the (virtual) deadline. Peer 0 aggregates; its own ballot never
   * crosses the wire, so it always counts.
   */
  readonly absent?: (round: number, peer: number) => boolean;
  /** vote shards (session config `voteShards`, default 1): same result, other bytes per peer */
  readonly voteShards?: number;
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
  /**
   * mean encoded bytes a worker (a peer other than the aggregator) sent per round: whole
   * protocol messages (ballots, plus the join-time status reports), framing included;
   * 0 with one peer, which sends nothing
   */
  readonly bytesUpPerPeerPerRound: number;
  /** mean encoded bytes a worker received per round (verdicts, round openings) */
  readonly bytesDownPerPeerPerRound: number;
  /** the aggregator's bytes per round: verdicts out to every worker, ballots in */
  readonly aggregatorBytesUpPerRound: number;
  readonly aggregatorBytesDownPerRound: number;
  readonly nonFiniteGradients: number;
  readonly gradientCalls: number;
  /** rounds tallied without any ballot; 0 under the session, whose aggregator always counts its own */
  readonly skippedRounds: number;
  /** ballots the aggregator tallied without (lost to `absent`) */
  readonly missedBallots: number;
  readonly wallMs: number;
  readonly finalParams: Float32Array;
}

export function checkCount(name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!(Number.isInteger(v) && v >= min && v <= max)) {
    throw new RangeError(`${name} must be an integer >= ${min}${max < Number.MAX_SAFE_INTEGER ? ` and <= ${max}` : ''}, got ${v}`);
  }
}

export async function runSimulation(opts: SimulationOptions): Promise<SimulationResult> {
  // the session config's bounds, named as the caller knows them
  checkCount('peers', opts.peers, 1, 1000);
  checkCount('batch', opts.batch, 1, 4096);
  checkCount('rounds', opts.rounds, 1, 1_000_000);
  checkCount('seed', opts.seed, 0, 2 ** 31 - 1);
  const t0 = performance.now();
  // validates the algorithm config with errors that name the field (theta, R, ...)
  const strategy = createStrategy(opts.algorithm);
  const problem = opts.problem ?? createSkewedQuadratic({ seed: opts.seed, peers: opts.peers, ...opts.problemOptions });
  const lossEvery = opts.lossEvery ?? Math.max(1, Math.floor(opts.rounds / 50));
  checkCount('lossEvery', lossEvery, 1);
  const config = parseSessionConfig({
    dataset: 'synthetic',
    algorithm: strategy.config,
    batchSize: opts.batch,
    rounds: opts.rounds,
    expectedPeers: opts.peers,
    seed: opts.seed,
    // virtual time: it only matters when a ballot is lost (absent), healthy rounds never wait
    deadlineMs: 1000,
    evalEvery: lossEvery,
    checkpointEvery: 0,
    voteShards: opts.voteShards ?? 1,
  });

  const curve: Array<[number, number]> = [];
  const run = await runLocalSession({
    config,
    peers: opts.peers,
    params: problem.x0,
    gradientFor: (i) => {
      const gradient = problem.gradient(i, opts.batch, `sim/${opts.seed}`);
      return (at) => gradient(at);
    },
    // after every lossEvery-th round and the last (every peer holds the same parameters)
    evaluate: async (x) => ({ loss: problem.loss(x), accuracy: Number.NaN }),
    onEvaluation: (round, e) => {
      curve.push([round + 1, e.loss]);
      opts.onProgress?.(round + 1, e.loss);
    },
    ...(opts.absent !== undefined && { absent: opts.absent }),
  });

  const finalLoss = problem.loss(run.params);
  const traffic = summarize(run, opts.peers);
  return {
    algorithm: strategy.name,
    problem: problem.name,
    peers: opts.peers,
    batch: opts.batch,
    rounds: opts.rounds,
    seed: opts.seed,
    d: problem.d,
    initialLoss: problem.loss(problem.x0),
    finalLoss,
    curve,
    ...traffic,
    wallMs: performance.now() - t0,
    finalParams: run.params,
  };
}

type Traffic = Pick<
  SimulationResult,
  | 'bytesUpPerPeerPerRound'
  | 'bytesDownPerPeerPerRound'
  | 'aggregatorBytesUpPerRound'
  | 'aggregatorBytesDownPerRound'
  | 'nonFiniteGradients'
  | 'gradientCalls'
  | 'skippedRounds'
  | 'missedBallots'
>;

export function summarize(run: LocalSessionResult, peers: number): Traffic {
  let workerUp = 0, workerDown = 0, workerRounds = 0, aggUp = 0, aggDown = 0, skipped = 0, missed = 0;
  for (const r of run.rounds) {
    for (let i = 0; i < peers; i++) {
      if (i === r.aggregator) {
        aggUp += r.bytesUp[i];
        aggDown += r.bytesDown[i];
      } else {
        workerUp += r.bytesUp[i];
        workerDown += r.bytesDown[i];
        workerRounds++;
      }
    }
    if (r.counted === 0) skipped++;
    missed += peers - r.counted;
  }
  let nonFinite = 0, calls = 0;
  for (const p of run.peers) {
    nonFinite += p.nonFiniteGradients;
    calls += p.gradientCalls;
  }
  return {
    bytesUpPerPeerPerRound: workerRounds === 0 ? 0 : workerUp / workerRounds,
    bytesDownPerPeerPerRound: workerRounds === 0 ? 0 : workerDown / workerRounds,
    aggregatorBytesUpPerRound: aggUp / run.rounds.length,
    aggregatorBytesDownPerRound: aggDown / run.rounds.length,
    nonFiniteGradients: nonFinite,
    gradientCalls: calls,
    skippedRounds: skipped,
    missedBallots: missed,
  };
}
