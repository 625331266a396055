import { parseSessionConfig, sessionModelName, type ModelFile, type Partition, type SessionConfig } from '../config';
import type { NetworkSpec } from '../models/network';
import { createBatchSampler, partitionFor, type Dataset } from '../data';
import type { GradientOracle } from '../engine/oracle';
import { createStrategy, type AlgorithmConfigInput } from '../optim';
import { adversarialStrategy, flipLabels, type AdversaryKind } from '../optim/adversary';
import type { Strategy } from '../optim/strategy';
import { runLocalSession, type LocalSessionOptions, type LocalSessionResult } from './local';
import { runStreams } from './streams';
import { checkCount, summarize, type SimulationResult } from './synthetic';

/**
 * n virtual peers training a real model (core/src/models) on a real dataset, through the same
 * session peers on the in-memory hub (runLocalSession). One gradient oracle serves every peer:
 * the oracle queues its runs, and virtual time stands still while they wait (local.ts), so
 * sharing it changes wall time only, never the outcome. Each peer draws mini-batches from its
 * own shard of the training set (IID or Dirichlet non-IID, the config's `partition`), on the
 * streams of streams.ts; the test set is evaluated at x^0, after every `evalEvery`-th round and
 * after the last. `runModel` is the run itself, shared by `npm run simulate -- --model`
 * (runModelSimulation below) and the experiment runner (node/experiment/run.ts), so one seed
 * gives one run in both.
 */

export interface ModelCurvePoint {
  /** rounds completed */
  readonly round: number;
  /** mean first mini-batch loss of the peers in that round (NaN at round 0) */
  readonly trainLoss: number;
  readonly testLoss: number;
  readonly testAccuracy: number;
}

export interface ModelRunOptions {
  /**
   * the session; its `partition`, `batchSize`, `rounds`, `evalEvery` (0: after the last round
   * only) and `seed` (streams.ts) shape the run; `expectedPeers` must not exceed `peers`
   */
  readonly config: SessionConfig;
  readonly peers: number;
  /** computes gradients and test metrics; its `d` must match `x0` */
  readonly oracle: GradientOracle;
  /** x^0 (e.g. model.init(seed)) */
  readonly x0: Float32Array;
  readonly train: Dataset;
  readonly test: Dataset;
  readonly arrival?: LocalSessionOptions['arrival'];
  readonly absent?: LocalSessionOptions['absent'];
  readonly onEvent?: LocalSessionOptions['onEvent'];
  /** every evaluation, in round order, x^0 (round 0) first */
  readonly onEvaluation?: (point: ModelCurvePoint) => void;
  /**
   * FOR RESEARCH: these peers (indices) are adversaries of this kind (optim/adversary.ts): a
   * wrapped worker step, or poisoned labels (label-flip)
   */
  readonly adversaries?: { readonly kind: AdversaryKind; readonly peers: ReadonlySet<number> };
}

export interface ModelRun {
  readonly session: LocalSessionResult;
  /**
   * per round t (0-based), the sum and count of the peers' finite first mini-batch losses:
   * only a peer's first gradient of a round is at that round's parameters (Alg. 3 draws K more
   * at local iterates, not comparable)
   */
  readonly lossSum: Float64Array;
  readonly lossCount: Uint32Array;
  /** the evaluations, x^0 (round 0) first */
  readonly curve: readonly ModelCurvePoint[];
}

export async function runModel(opts: ModelRunOptions): Promise<ModelRun> {
  const { config, peers, oracle, train, test } = opts;
  if (!(opts.x0 instanceof Float32Array) || opts.x0.length !== oracle.d) {
    throw new RangeError(`x0 has length ${opts.x0?.length}, the oracle's model has d = ${oracle.d}`);
  }
  if (train.count < peers) throw new RangeError(`${train.name} has ${train.count} samples, fewer than ${peers} peers`);
  const streams = runStreams(config.seed);
  const shards = partitionFor(config.partition, train, peers, streams.partition);
  // an empty shard (Dirichlet with few samples per peer) would leave a peer nothing to learn from
  shards.forEach((s, i) => {
    if (s.length === 0) throw new RangeError(`peer ${i} got no training samples (${config.partition.kind} partition of ${train.count} over ${peers} peers)`);
  });

  const rounds = config.rounds;
  const lossSum = new Float64Array(rounds), lossCount = new Uint32Array(rounds);
  const trainLossAt = (completed: number): number =>
    completed > 0 && lossCount[completed - 1] > 0 ? lossSum[completed - 1] / lossCount[completed - 1] : Number.NaN;
  const curve: ModelCurvePoint[] = [];
  const record = (completed: number, e: { loss: number; accuracy: number }): void => {
    const point = { round: completed, trainLoss: trainLossAt(completed), testLoss: e.loss, testAccuracy: e.accuracy };
    curve.push(point);
    opts.onEvaluation?.(point);
  };

  record(0, await oracle.evaluate(opts.x0, test));
  const adversaries = opts.adversaries;
  const isAdversary = (i: number): boolean => adversaries?.peers.has(i) === true;
  const session = await runLocalSession({
    config,
    peers,
    params: opts.x0,
    gradientFor: (i) => {
      const sampler = createBatchSampler(train, shards[i], config.batchSize, streams.batches(i));
      const poisoned = adversaries?.kind === 'label-flip' && isAdversary(i);
      let logged = -1;
      return async (at, round) => {
        const r = await oracle.gradient(at, poisoned ? flipLabels(sampler.next(), train.numClasses) : sampler.next());
        if (logged !== round) {
          logged = round;
          if (round >= 0 && round < rounds && Number.isFinite(r.loss)) {
            lossSum[round] += r.loss;
            lossCount[round]++;
          }
        }
        return { grad: r.grad, loss: r.loss };
      };
    },
    evaluate: (x) => oracle.evaluate(x, test),
    // every peer's gradient for the round was in before its verdict: its training loss is complete
    onEvaluation: (round, e) => record(round + 1, e),
    ...(opts.arrival !== undefined && { arrival: opts.arrival }),
    ...(opts.absent !== undefined && { absent: opts.absent }),
    ...(adversaries !== undefined && {
      strategyFor: (i: number, honest: Strategy) => (isAdversary(i) ? adversarialStrategy(honest, adversaries.kind, { seed: config.seed, peer: i }) : honest),
    }),
    ...(opts.onEvent !== undefined && { onEvent: opts.onEvent }),
  });
  return { session, lossSum, lossCount, curve };
}

/** `npm run simulate -- --model`: one model run, as options a command line knows */
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
  /** the layer list or ONNX file the oracle's model was made from, recorded in the session config */
  readonly network?: NetworkSpec;
  readonly modelFile?: ModelFile;
  readonly dataset?: SessionConfig['dataset'];
  /** called at every evaluation, in round order */
  readonly onProgress?: (point: ModelCurvePoint) => void;
  /** peers whose ballot is lost in transit in a round (see SimulationOptions.absent) */
  readonly absent?: (round: number, peer: number) => boolean;
  /** vote shards (session config `voteShards`, default 1): same result, other bytes per peer */
  readonly voteShards?: number;
}

export interface ModelSimulationResult extends Omit<SimulationResult, 'curve'> {
  readonly model: SessionConfig['model'];
  /** what trained: the file's, the layer list's or the preset's name */
  readonly modelName: string;
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
  const partition: Partition = opts.partition ?? { kind: 'iid' };
  const evalEvery = opts.evalEvery ?? Math.max(1, Math.floor(opts.rounds / 10));
  checkCount('evalEvery', evalEvery, 1);
  const t0 = performance.now();
  const strategy = createStrategy(opts.algorithm);
  const config = parseSessionConfig({
    model: opts.model ?? 'mlp',
    ...(opts.network !== undefined && { network: opts.network }),
    ...(opts.modelFile !== undefined && { modelFile: opts.modelFile }),
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
    voteShards: opts.voteShards ?? 1,
  });
  const run = await runModel({
    config,
    peers: opts.peers,
    oracle: opts.oracle,
    x0: opts.x0,
    train: opts.train,
    test: opts.test,
    ...(opts.onProgress !== undefined && { onEvaluation: opts.onProgress }),
    ...(opts.absent !== undefined && { absent: opts.absent }),
  });
  const first = run.curve[0];
  const final = run.curve[run.curve.length - 1];
  return {
    algorithm: strategy.name,
    problem: `${sessionModelName(config)} on ${opts.train.name} (${partition.kind === 'iid' ? 'IID' : `Dirichlet alpha=${partition.alpha}`})`,
    model: config.model,
    modelName: sessionModelName(config),
    dataset: config.dataset,
    partition,
    peers: opts.peers,
    batch: opts.batch,
    rounds: opts.rounds,
    seed: opts.seed,
    d: opts.x0.length,
    initialLoss: first.testLoss,
    finalLoss: final.testLoss,
    initialAccuracy: first.testAccuracy,
    testAccuracy: final.testAccuracy,
    curve: run.curve,
    ...summarize(run.session, opts.peers),
    wallMs: performance.now() - t0,
    finalParams: run.session.params,
  };
}
