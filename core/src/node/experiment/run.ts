import type { Dataset } from '../../data/dataset';
import type { GradientOracle } from '../../engine/oracle';
import type { Model } from '../../models';
import { chooseAdversaries } from '../../optim/adversary';
import { rocAuc } from '../../optim/agreement';
import { PROTOCOL_VERSION } from '../../protocol/messages';
import { runModel } from '../../sim/model';
import type { RunRow } from './csv';
import type { RunSpec } from './grid';
import type { RunSummary } from './results';
import { stats } from './stats';

/**
 * One grid cell for one seed: a model run of the in-process runner (core/src/sim/model.ts):
 * n virtual peers on the in-memory transport, each driven by the real session state machine,
 * all sharing one gradient oracle, the test set evaluated every `evalEvery` rounds and after
 * the last. What this adds is the experiment's bookkeeping: cumulative bytes and wall time
 * at the evaluated rounds, and train losses averaged since the previous evaluation.
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

export async function runSpec(spec: RunSpec, env: RunEnv): Promise<RunOutcome> {
  const { session: config } = spec;
  const rounds = config.rounds;
  const n = spec.peers;
  const t0 = performance.now();

  // running totals over every peer's round events, taken at peer 0's (the aggregator's)
  let bytesUp = 0;
  let bytesDown = 0;
  const bytesUpAt = new Float64Array(rounds + 1);
  const bytesDownAt = new Float64Array(rounds + 1);
  const wallAt = new Float64Array(rounds + 1);
  let incompleteRounds = 0;
  const adversaries = spec.adversary === null ? null : chooseAdversaries(n, spec.adversary.fraction, config.seed);
  // the first peer's view of everyone's moving-average agreement, as of the last verdict it applied
  const agreementSeen = new Map<string, number>();

  const run = await runModel({
    config,
    peers: n,
    oracle: env.oracle,
    x0: env.model.init(config.seed),
    train: env.train,
    test: env.test,
    // as results/ were measured: a term per arrival, whose status reports count in the bytes
    arrival: 'one-by-one',
    ...(adversaries !== null && spec.adversary !== null && { adversaries: { kind: spec.adversary.kind, peers: adversaries } }),
    onEvent(peerIndex, e) {
      if (e.type !== 'round') return;
      bytesUp += e.bytesUp;
      bytesDown += e.bytesDown;
      if (peerIndex === 0) {
        for (const [p, a] of Object.entries(e.agreement)) agreementSeen.set(p, a);
        if (e.counted < n) incompleteRounds++;
        bytesUpAt[e.round + 1] = bytesUp;
        bytesDownAt[e.round + 1] = bytesDown;
        wallAt[e.round + 1] = performance.now() - t0;
        env.onProgress?.((e.round + 1) / rounds);
      }
    },
  });
  // the last round's byte counters of other peers may land after peer 0's; take the totals
  bytesUpAt[rounds] = bytesUp;
  bytesDownAt[rounds] = bytesDown;
  const wallMs = performance.now() - t0;
  wallAt[rounds] = wallAt[rounds] || wallMs;

  const rows: RunRow[] = [];
  let from = 0;
  // the train loss of a row is the mean over the rounds since the previous evaluation
  for (const { round, testLoss, testAccuracy } of run.curve) {
    let s = 0;
    let c = 0;
    for (let t = from; t < round; t++) { s += run.lossSum[t]; c += run.lossCount[t]; }
    from = round;
    rows.push({
      round, trainLoss: c > 0 ? s / c : NaN, testLoss, testAccuracy,
      bytesUp: bytesUpAt[round], bytesDown: bytesDownAt[round], wallMs: wallAt[round],
    });
  }
  const agreement = run.session.peers.map((p) => agreementSeen.get(p.self) ?? null);
  const score = (honest: boolean) => agreement.filter((a, i) => a !== null && (adversaries?.has(i) !== true) === honest) as number[];
  const auc = adversaries === null ? NaN : rocAuc(score(true), score(false));
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
      signZero: 'coin',
      incompleteRounds,
      adversary: spec.adversary === null ? null : { ...spec.adversary, peers: [...adversaries!].sort((a, b) => a - b) },
      agreement,
      agreementAuc: Number.isFinite(auc) ? auc : null,
      complete: true,
    },
  };
}
