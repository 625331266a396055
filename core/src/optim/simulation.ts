import { partitionFor } from '../data/partition';
import { createBatchSampler } from '../data/sampler';
import type { Dataset } from '../data/dataset';
import type { GradientOracle } from '../engine/oracle';
import { createRng } from '../random';
import { createSkewedQuadratic, type SkewedQuadraticOptions, type SyntheticProblem } from '../problems/skewed-quadratic';
import { parseSessionConfig, type Partition, type SessionConfig } from '../config';
import { runLocalSession, type LocalSessionResult } from '../session/local';
import { createStrategy, type AlgorithmConfigInput } from './index';

/**
 * n virtual peers of one strategy on a synthetic problem, in one process, through the real
 * round state machine: session peers on the in-memory hub (core/src/session/local.ts), so
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

function checkCount(name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
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
    // one evaluation per recorded round, on peer 0: every peer holds the same parameters
    evaluate: async (x) => ({ loss: problem.loss(x), accuracy: Number.NaN }),
    onEvent: (i, e) => {
      if (i !== 0 || e.type !== 'round' || e.accuracy === undefined) return;
      curve.push([e.round + 1, e.loss]);
      opts.onProgress?.(e.round + 1, e.loss);
    },
    ...(opts.absent !== undefined && { absent: opts.absent }),
  });

  const finalLoss = problem.loss(run.params);
  if (curve.length === 0 || curve[curve.length - 1][0] !== opts.rounds) {
    curve.push([opts.rounds, finalLoss]);
    opts.onProgress?.(opts.rounds, finalLoss);
  }

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

function summarize(run: LocalSessionResult, peers: number): Traffic {
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

// ======================= real models =======================

/**
 * n virtual peers training a real model (core/src/models) on a real dataset, through the same
 * session peers on the in-memory hub. One gradient oracle serves every peer: the oracle queues
 * its runs, and virtual time stands still while they wait (local.ts), so sharing it changes
 * wall time only, never the outcome. Each peer draws mini-batches from its own shard of the
 * training set (IID or Dirichlet non-IID, `partition`); peer 0's parameters are evaluated on the
 * test set every `evalEvery` rounds and after the last one.
 */
export interface ModelSimulationOptions {
  readonly algorithm: AlgorithmConfigInput;
  readonly peers: number;
  readonly batch: number;
  readonly rounds: number;
  readonly seed: number;
  /** computes gradients and test metrics; its `d` must match `x0` */
  readonly oracle: GradientOracle;
  /** x^0 (e.g. model.init(seed)) */
  readonly x0: Float32Array;
  readonly train: Dataset;
  readonly test: Dataset;
  /** how the training set is split over peers (default IID) */
  readonly partition?: Partition;
  /** evaluate on the test set every this many rounds (default: max(1, rounds / 10)); the last round always */
  readonly evalEvery?: number;
  /** names for the session config and the result (defaults 'mlp' and 'mnist') */
  readonly model?: SessionConfig['model'];
  readonly dataset?: SessionConfig['dataset'];
  /** called at every evaluation, in round order */
  readonly onProgress?: (point: ModelCurvePoint) => void;
  /** peers whose ballot is lost in transit in a round (see SimulationOptions.absent) */
  readonly absent?: (round: number, peer: number) => boolean;
}

export interface ModelCurvePoint {
  /** rounds completed */
  readonly round: number;
  /** mean mini-batch loss of the peers' gradients in that round (NaN before the first round) */
  readonly trainLoss: number;
  readonly testLoss: number;
  readonly testAccuracy: number;
}

export interface ModelSimulationResult extends Omit<SimulationResult, 'curve'> {
  readonly model: SessionConfig['model'];
  readonly dataset: SessionConfig['dataset'];
  readonly partition: Partition;
  /** test accuracy at x^0 and after the last round; initialLoss / finalLoss are test losses */
  readonly initialAccuracy: number;
  readonly testAccuracy: number;
  /** evaluations, round 0 (x^0) first */
  readonly curve: readonly ModelCurvePoint[];
}

export async function runModelSimulation(opts: ModelSimulationOptions): Promise<ModelSimulationResult> {
  checkCount('peers', opts.peers, 1, 1000);
  checkCount('batch', opts.batch, 1, 4096);
  checkCount('rounds', opts.rounds, 1, 1_000_000);
  checkCount('seed', opts.seed, 0, 2 ** 31 - 1);
  if (!(opts.x0 instanceof Float32Array) || opts.x0.length !== opts.oracle.d) {
    throw new RangeError(`x0 has length ${opts.x0?.length}, the oracle's model has d = ${opts.oracle.d}`);
  }
  const partition: Partition = opts.partition ?? { kind: 'iid' };
  if (opts.train.count < opts.peers) throw new RangeError(`${opts.train.name} has ${opts.train.count} samples, fewer than ${opts.peers} peers`);
  const evalEvery = opts.evalEvery ?? Math.max(1, Math.floor(opts.rounds / 10));
  checkCount('evalEvery', evalEvery, 1);
  const t0 = performance.now();
  const strategy = createStrategy(opts.algorithm);
  const config = parseSessionConfig({
    model: opts.model ?? 'mlp',
    dataset: opts.dataset ?? 'mnist',
    algorithm: strategy.config,
    partition,
    batchSize: opts.batch,
    rounds: opts.rounds,
    expectedPeers: opts.peers,
    seed: opts.seed,
    deadlineMs: 1000,
    evalEvery,
    checkpointEvery: 0,
  });
  const rng = createRng(opts.seed).fork('model-simulation');
  // an empty shard (Dirichlet with few samples per peer) would leave a peer nothing to learn from
  const shards = partitionFor(partition, opts.train, opts.peers, rng.fork('partition'));
  shards.forEach((s, i) => {
    if (s.length === 0) throw new RangeError(`peer ${i} got no training samples (${partition.kind} partition of ${opts.train.count} over ${opts.peers} peers)`);
  });

  const first = await opts.oracle.evaluate(opts.x0, opts.test);
  const curve: ModelCurvePoint[] = [{ round: 0, trainLoss: Number.NaN, testLoss: first.loss, testAccuracy: first.accuracy }];
  opts.onProgress?.(curve[0]);
  // per round: the sum and count of the peers' first mini-batch losses (Alg. 3 draws K more)
  const lossSum = new Float64Array(opts.rounds), lossCount = new Uint32Array(opts.rounds);
  const trainLossAt = (round: number): number => (lossCount[round - 1] > 0 ? lossSum[round - 1] / lossCount[round - 1] : Number.NaN);

  const run = await runLocalSession({
    config,
    peers: opts.peers,
    params: opts.x0,
    gradientFor: (i) => {
      const sampler = createBatchSampler(opts.train, shards[i], opts.batch, rng.fork(`batch:${i}`));
      let logged = -1;
      return async (at, round) => {
        const r = await opts.oracle.gradient(at, sampler.next());
        if (logged !== round && round < opts.rounds) {
          logged = round;
          lossSum[round] += r.loss;
          lossCount[round]++;
        }
        return { grad: r.grad, loss: r.loss };
      };
    },
    evaluate: async (x) => {
      const e = await opts.oracle.evaluate(x, opts.test);
      return { loss: e.loss, accuracy: e.accuracy };
    },
    onEvent: (i, e) => {
      // peer 0's round events with an evaluation arrive in round order; every peer's gradient
      // for that round was in before its verdict, so the round's training loss is complete
      if (i !== 0 || e.type !== 'round' || e.accuracy === undefined) return;
      const point = { round: e.round + 1, trainLoss: trainLossAt(e.round + 1), testLoss: e.loss, testAccuracy: e.accuracy };
      curve.push(point);
      opts.onProgress?.(point);
    },
    ...(opts.absent !== undefined && { absent: opts.absent }),
  });

  if (curve[curve.length - 1].round !== opts.rounds) {
    const last = await opts.oracle.evaluate(run.params, opts.test);
    const point = { round: opts.rounds, trainLoss: trainLossAt(opts.rounds), testLoss: last.loss, testAccuracy: last.accuracy };
    curve.push(point);
    opts.onProgress?.(point);
  }
  const final = curve[curve.length - 1];
  return {
    algorithm: strategy.name,
    problem: `${config.model} on ${opts.train.name} (${partition.kind === 'iid' ? 'IID' : `Dirichlet alpha=${partition.alpha}`})`,
    model: config.model,
    dataset: config.dataset,
    partition,
    peers: opts.peers,
    batch: opts.batch,
    rounds: opts.rounds,
    seed: opts.seed,
    d: opts.x0.length,
    initialLoss: first.loss,
    finalLoss: final.testLoss,
    initialAccuracy: first.accuracy,
    testAccuracy: final.testAccuracy,
    curve,
    ...summarize(run, opts.peers),
    wallMs: performance.now() - t0,
    finalParams: run.params,
  };
}
