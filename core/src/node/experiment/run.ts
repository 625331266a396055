import type { Batch, Dataset } from '../../data/dataset';
import type { Evaluation, GradientOracle, GradientResult } from '../../engine/oracle';
import type { Model } from '../../models';
import { PROTOCOL_VERSION } from '../../protocol/messages';
import { createRng } from '../../random';
import type { RunRow } from './csv';
import type { RunSpec } from './grid';
import type { RunSummary } from './results';
import { stats } from './stats';
import { startSessionPeers } from './wiring';

/**
 * One grid cell for one seed: n virtual peers in this process on the in-memory transport,
 * each driven by the real session state machine (core/src/session), all sharing one gradient
 * oracle. Peer 0 evaluates the test set every `evalEvery` rounds.
 */

export interface RunEnv {
  readonly model: Model;
  readonly oracle: GradientOracle;
  readonly train: Dataset;
  readonly test: Dataset;
  /** fraction of rounds done, for the progress bar */
  readonly onProgress?: (fraction: number) => void;
}

export interface RunOutcome {
  readonly rows: RunRow[];
  readonly summary: RunSummary;
}

/**
 * One ONNX Runtime session serves every virtual peer. Peers await their gradients
 * concurrently, so calls are queued here to run one at a time (an ORT session must not run
 * twice at once, and interleaving would only add contention on these 2 cores).
 */
export function serializeOracle(oracle: GradientOracle): GradientOracle {
  let tail: Promise<unknown> = Promise.resolve();
  const enqueue = <T>(fn: () => Promise<T>): Promise<T> => {
    const result = tail.then(fn);
    tail = result.catch(() => undefined);
    return result;
  };
  return {
    backend: oracle.backend,
    d: oracle.d,
    gradient: (params: Float32Array, batch: Batch): Promise<GradientResult> => enqueue(() => oracle.gradient(params, batch)),
    evaluate: (params: Float32Array, data: Dataset): Promise<Evaluation> => enqueue(() => oracle.evaluate(params, data)),
    dispose: () => oracle.dispose(),
  };
}

export async function runSpec(spec: RunSpec, env: RunEnv): Promise<RunOutcome> {
  const { session: config } = spec;
  const rounds = config.rounds;
  const n = spec.peers;
  const t0 = performance.now();

  // mini-batch losses per round: the first gradient a peer draws in a round is taken at that
  // round's parameters (the extra gradients of Alg. 3 are at local iterates, not comparable)
  const lossSum = new Float64Array(rounds + 1);
  const lossCount = new Uint32Array(rounds + 1);
  const evalAt = new Map<number, Evaluation>();
  let bytesUp = 0;
  let bytesDown = 0;
  const bytesUpAt = new Float64Array(rounds + 1);
  const bytesDownAt = new Float64Array(rounds + 1);
  const wallAt = new Float64Array(rounds + 1);
  let incompleteRounds = 0;

  const x0 = env.model.init(config.seed);
  evalAt.set(0, await env.oracle.evaluate(x0, env.test));

  const handle = await startSessionPeers({
    spec,
    model: env.model,
    oracle: env.oracle,
    train: env.train,
    x0,
    rng: createRng(config.seed).fork('experiment'),
    onLoss(round, loss) {
      if (round >= 0 && round < rounds && Number.isFinite(loss)) {
        lossSum[round] += loss;
        lossCount[round]++;
      }
    },
    onRound(peerIndex, round, info) {
      bytesUp += info.bytesUp;
      bytesDown += info.bytesDown;
      if (peerIndex === 0) {
        if (info.counted !== undefined && info.counted < n) incompleteRounds++;
        bytesUpAt[round + 1] = bytesUp;
        bytesDownAt[round + 1] = bytesDown;
        wallAt[round + 1] = performance.now() - t0;
        env.onProgress?.((round + 1) / rounds);
      }
    },
    async evaluate(round, x) {
      const e = await env.oracle.evaluate(x, env.test);
      evalAt.set(round, e);
    },
  });
  await handle.done;
  // the last round's byte counters of other peers may land after peer 0's; take the totals
  bytesUpAt[rounds] = bytesUp;
  bytesDownAt[rounds] = bytesDown;
  const final = handle.finalParams();
  if (!evalAt.has(rounds)) evalAt.set(rounds, await env.oracle.evaluate(final, env.test));
  const wallMs = performance.now() - t0;
  wallAt[rounds] = wallAt[rounds] || wallMs;

  const rows: RunRow[] = [];
  let from = 0;
  for (const round of [...evalAt.keys()].sort((a, b) => a - b)) {
    let s = 0;
    let c = 0;
    for (let t = from; t < round; t++) { s += lossSum[t]; c += lossCount[t]; }
    from = round;
    const e = evalAt.get(round)!;
    rows.push({
      round, trainLoss: c > 0 ? s / c : NaN, testLoss: e.loss, testAccuracy: e.accuracy,
      bytesUp: bytesUpAt[round], bytesDown: bytesDownAt[round], wallMs: wallAt[round],
    });
  }
  const accs = rows.map((r) => r.testAccuracy);
  const last = rows[rows.length - 1];
  return {
    rows,
    summary: {
      id: spec.id, label: spec.label, algorithm: config.algorithm.name, dataset: spec.dataset, model: spec.model,
      batchSize: spec.batchSize, partition: spec.partition, peers: n, seed: spec.seed, rounds, lr: config.algorithm.lr,
      finalAccuracy: last.testAccuracy,
      bestAccuracy: stats(accs).max,
      finalTrainLoss: [...rows].reverse().find((r) => Number.isFinite(r.trainLoss))?.trainLoss ?? NaN,
      wallMs,
      backend: env.oracle.backend,
      bytesUpPerPeerRound: bytesUp / (n * rounds),
      bytesDownPerPeerRound: bytesDown / (n * rounds),
      protocol: PROTOCOL_VERSION,
      incompleteRounds,
      complete: true,
    },
  };
}
