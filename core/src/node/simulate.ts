import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { algorithmNames, type AlgorithmName, type AlgorithmConfig, type Partition } from '../config';
import { createModel, modelNames, type Model, type ModelName } from '../models';
import { networkSchema, type NetworkSpec } from '../models/network';
import { effectiveVoteShards } from '../optim/vote-shards';
import { sha256Hex } from '../runtime/model-file';
import { runModelSimulation, type ModelSimulationResult } from '../sim/model';
import { runSimulation, type SimulationResult } from '../sim/synthetic';
import { datasetNames, loadDataset, type DatasetName } from './datasets';
import { createNodeOracle, type NodeBackend } from './ort-node';
import { commandExit, UsageError } from './usage-error';

/**
 * Terminal simulator: n virtual peers of one (or every) algorithm in one process, as session
 * peers on the in-memory hub (so the byte columns are whole protocol messages as the session
 * measured them, framing included). Without --model they train the seeded skewed-noise
 * quadratic (core/src/sim/skewed-quadratic.ts); with --model a real network on a real dataset,
 * one gradient oracle (onnxruntime-node when it loads, else onnxruntime-web's wasm) shared by
 * every peer, on the experiment runner's random streams (core/src/sim/streams.ts).
 *
 *   npm run simulate -- --algo mv-sto-signsgd-sim --peers 50 --batch 8 --rounds 500 --seed 1
 *   npm run simulate -- --model mlp --dataset mnist --algo mv-sto-signsgd-sim --peers 50 --batch 32 --rounds 250 --seed 1
 *   npm run simulate -- --model core/fixtures/onnx/lenet5.onnx --peers 2 --rounds 100   (an ONNX file, or a layer list .json)
 *
 * Progress lines go to stderr, the final table (or JSON with --json) to stdout. Defaults follow
 * the problem: the synthetic one takes lr = 0.01, R = 1, batch 8, 500 rounds (its scale); a
 * model takes the paper's MNIST setting, lr = R = 1e-3, batch 32, 250 rounds.
 */

function integer(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!(Number.isInteger(n) && n >= min)) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}

function positive(value: string): number {
  const n = Number(value);
  if (!(Number.isFinite(n) && n > 0)) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function real(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a finite number');
  return n;
}

const isModel = (r: SimulationResult | ModelSimulationResult): r is ModelSimulationResult => 'testAccuracy' in r;

function formatTable(results: readonly (SimulationResult | ModelSimulationResult)[]): string {
  const models = results.some(isModel);
  const head = [
    'algorithm', 'peers', 'batch', 'rounds',
    ...(models ? ['initial test loss', 'final test loss', 'test accuracy'] : ['initial loss', 'final loss']),
    'up B/peer/round', 'down B/peer/round', 'aggregator up/down B/round', 'non-finite', 'wall s',
  ];
  const rows = results.map((r) => [
    r.algorithm,
    String(r.peers),
    String(r.batch),
    String(r.rounds),
    r.initialLoss.toFixed(3),
    r.finalLoss.toPrecision(4),
    ...(models ? [isModel(r) ? `${(100 * r.testAccuracy).toFixed(2)}%` : ''] : []),
    r.bytesUpPerPeerPerRound.toFixed(0),
    r.bytesDownPerPeerPerRound.toFixed(0),
    `${r.aggregatorBytesUpPerRound.toFixed(0)} / ${r.aggregatorBytesDownPerRound.toFixed(0)}`,
    String(r.nonFiniteGradients),
    (r.wallMs / 1000).toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command()
    .name('simulate')
    .description('n virtual peers of a sign-compressed algorithm on a seeded synthetic problem')
    .addOption(new Option('--algo <name>', 'algorithm, or "all"').choices([...algorithmNames, 'all']).default('mv-sto-signsgd-sim'))
    .option('--peers <n>', 'virtual peers', integer(1), 50)
    .option('--batch <n>', 'samples per gradient (default 8; 32 with --model)', integer(1))
    .option('--rounds <n>', 'rounds (default 500; 250 with --model)', integer(1))
    .option('--seed <n>', 'seed', integer(0), 1)
    .option('--lr <x>', 'learning rate gamma (default 0.01; 1e-3 with --model)', real)
    .option('--theta <x>', 'momentum theta in [0, 1)', real)
    .option('--R <x>', 'stochastic-sign scale R > 0 (default 1; 1e-3 with --model)', real)
    .option('--alpha <x>', 'extrapolation alpha >= 0', real)
    .option('--K <n>', 'local steps (federated)', integer(1))
    .option('--eta <x>', 'local learning rate (federated)', real)
    .option('--weight-decay <x>', 'weight decay', real)
    .addOption(new Option('--ties <rule>', 'tied votes: zero (the paper\'s Sign(0) = 0, default here) or a seeded coin').choices(['zero', 'coin']))
    .option('--model <preset|file>', `train a real model instead of the synthetic problem: ${modelNames.join(', ')}, an ONNX file or a layer list (.json)`)
    .addOption(new Option('--dataset <name>', 'dataset for --model').choices(datasetNames.filter((n) => n !== 'synthetic')).default('mnist'))
    .option('--dirichlet <alpha>', 'non-IID: Dirichlet(alpha) label split over peers (--model; default IID)', positive)
    .addOption(new Option('--backend <name>', 'gradient oracle for --model').choices(['auto', 'node', 'wasm']).default('auto'))
    .option('--eval-every <n>', 'test-set evaluation every n rounds (--model; default rounds / 10)', integer(1))
    .option('--limit <n>', 'use at most n training and n test samples (--model; quick runs)', integer(1))
    .option('--d <n>', 'synthetic problem dimension', integer(1), 100)
    .option('--noise <x>', 'synthetic noise scale sigma', real, 1)
    .option('--heterogeneity <x>', 'synthetic non-IID spread of the peers\' optima', real, 0)
    .option('--vote-shards <k>', 'vote shards: k ranges of the coordinates, each tallied by its own peer (same result; docs/session.md)', integer(1), 1)
    .option('--json', 'print results as JSON instead of a table')
    .option('--quiet', 'no progress lines')
    .exitOverride();
  program.parse(argv, { from: 'user' });
  const o = program.opts<{
    algo: AlgorithmName | 'all'; peers: number; batch?: number; rounds?: number; seed: number; lr?: number;
    theta?: number; R?: number; alpha?: number; K?: number; eta?: number; weightDecay?: number; ties?: AlgorithmConfig['ties'];
    model?: string; dataset: Exclude<DatasetName, 'synthetic'>; dirichlet?: number; backend: NodeBackend; evalEvery?: number; limit?: number;
    d: number; noise: number; heterogeneity: number; voteShards: number; json?: boolean; quiet?: boolean;
  }>();
  const model = o.model;
  for (const [flag, set] of [['--dirichlet', o.dirichlet], ['--eval-every', o.evalEvery], ['--limit', o.limit]] as const) {
    if (model === undefined && set !== undefined) throw new UsageError(`${flag} needs --model`);
  }
  const batch = o.batch ?? (model ? 32 : 8);
  const rounds = o.rounds ?? (model ? 250 : 500);
  const algorithm = (name: AlgorithmName) => ({
    name,
    lr: o.lr ?? (model ? 1e-3 : 0.01),
    R: o.R ?? (model ? 1e-3 : 1),
    ...(o.theta !== undefined && { theta: o.theta }),
    ...(o.alpha !== undefined && { alpha: o.alpha }),
    ...(o.K !== undefined && { K: o.K }),
    ...(o.eta !== undefined && { eta: o.eta }),
    ...(o.weightDecay !== undefined && { weightDecay: o.weightDecay }),
    // the paper's Sign(0) = 0 unless asked (sessions default to 'coin')
    ties: o.ties ?? 'zero',
  });
  const progress = (line: string): void => {
    if (!o.quiet) process.stderr.write(`${line}\n`);
  };
  /** a session of `peers` members never runs more vote shards than it has members or bytes of packed signs: say so */
  const noteVoteShards = (d: number): void => {
    const k = effectiveVoteShards(o.voteShards, o.peers, d);
    if (k < o.voteShards) progress(`vote in ${k} shards (asked ${o.voteShards}: at most one per ${k === o.peers ? 'member' : `8 coordinates, d = ${d}`})`);
  };
  const names: readonly AlgorithmName[] = o.algo === 'all' ? algorithmNames : [o.algo];
  const results: (SimulationResult | ModelSimulationResult)[] = [];
  if (model !== undefined) {
    const chosen = modelFromFlag(model);
    const data = await loadDataset(o.dataset, o.limit !== undefined ? { limit: o.limit } : {});
    const oracle = await createNodeOracle(chosen.model, o.backend);
    const partition: Partition = o.dirichlet !== undefined ? { kind: 'dirichlet', alpha: o.dirichlet } : { kind: 'iid' };
    progress(`${chosen.model.name} (d = ${oracle.d}) on ${data.train.name} (${data.train.count} train / ${data.test.count} test), ${oracle.backend} backend`);
    noteVoteShards(oracle.d);
    try {
      for (const name of names) {
        results.push(await runModelSimulation({
          algorithm: algorithm(name),
          peers: o.peers,
          batch,
          rounds,
          seed: o.seed,
          oracle,
          x0: chosen.model.init(o.seed),
          train: data.train,
          test: data.test,
          partition,
          ...chosen.config,
          dataset: o.dataset,
          voteShards: o.voteShards,
          ...(o.evalEvery !== undefined && { evalEvery: o.evalEvery }),
          onProgress: (p) => progress(
            `${name} round ${p.round}/${rounds} train loss ${Number.isNaN(p.trainLoss) ? '-' : p.trainLoss.toPrecision(4)} ` +
            `test loss ${p.testLoss.toPrecision(4)} accuracy ${(100 * p.testAccuracy).toFixed(2)}%`,
          ),
        }));
      }
    } finally {
      await oracle.dispose();
    }
  } else {
    noteVoteShards(o.d);
    for (const name of names) {
      results.push(await runSimulation({
        algorithm: algorithm(name),
        voteShards: o.voteShards,
        peers: o.peers,
        batch,
        rounds,
        seed: o.seed,
        problemOptions: { d: o.d, noise: o.noise, heterogeneity: o.heterogeneity },
        lossEvery: Math.max(1, Math.floor(rounds / 10)),
        onProgress: (round, loss) => progress(`${name} round ${round}/${rounds} loss ${loss.toPrecision(5)}`),
      }));
    }
  }
  if (o.json) {
    const plain = results.map(({ finalParams: _omit, ...rest }) => rest);
    process.stdout.write(`${JSON.stringify(plain.length === 1 ? plain[0] : plain, null, 2)}\n`);
  } else {
    process.stdout.write(`${results[0].problem}, seed ${o.seed}\n${formatTable(results)}\n`);
  }
}

/** `--model`: a preset, an ONNX file, or a layer list (.json); what the session config records of it */
function modelFromFlag(value: string): { model: Model; config: { model?: ModelName; network?: NetworkSpec; modelFile?: { sha256: string; bytes: number; name: string } } } {
  if ((modelNames as readonly string[]).includes(value)) return { model: createModel(value as ModelName), config: { model: value as ModelName } };
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(value));
  } catch {
    throw new UsageError(`--model ${value}: neither a built-in model (${modelNames.join(', ')}) nor a readable file`);
  }
  if (value.endsWith('.json')) {
    const network = networkSchema.parse(JSON.parse(new TextDecoder().decode(bytes)));
    return { model: createModel(network), config: { network } };
  }
  const name = basename(value);
  return { model: createModel({ onnx: bytes, name }), config: { modelFile: { sha256: sha256Hex(bytes), bytes: bytes.length, name } } };
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    // usage errors exit 2, as signvote's do; commander already printed its own
    const { code, printed } = commandExit(err);
    if (!printed) process.stderr.write(`simulate: ${(err as Error).message ?? String(err)}\n`);
    process.exit(code);
  });
}
