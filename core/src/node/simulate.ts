import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { algorithmNames, type AlgorithmName } from '../session/config';
import { runSimulation, type SimulationResult } from '../optim/simulation';

/**
 * Terminal simulator: n virtual peers of one (or every) algorithm on the seeded skewed-noise
 * quadratic (core/src/problems), in one process, as session peers on the in-memory hub (so the
 * byte columns are whole protocol messages as the session measured them, framing included).
 *
 *   npm run simulate -- --algo mv-sto-signsgd-sim --peers 50 --batch 8 --rounds 500 --seed 1
 *
 * Progress lines go to stderr, the final table (or JSON with --json) to stdout. Defaults are
 * AlgorithmConfig's except lr = 0.01 and R = 1, which suit the synthetic problem's scale
 * (the paper's 1e-3 values are for MNIST gradients).
 */

function integer(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!(Number.isInteger(n) && n >= min)) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}

function real(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a finite number');
  return n;
}

export function formatTable(results: readonly SimulationResult[]): string {
  const head = ['algorithm', 'peers', 'batch', 'rounds', 'initial loss', 'final loss', 'up B/peer/round', 'down B/peer/round', 'aggregator up/down B/round', 'non-finite', 'wall s'];
  const rows = results.map((r) => [
    r.algorithm,
    String(r.peers),
    String(r.batch),
    String(r.rounds),
    r.initialLoss.toFixed(3),
    r.finalLoss.toPrecision(4),
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
    .option('--batch <n>', 'samples per gradient', integer(1), 8)
    .option('--rounds <n>', 'rounds', integer(1), 500)
    .option('--seed <n>', 'seed', integer(0), 1)
    .option('--lr <x>', 'learning rate gamma', real, 0.01)
    .option('--theta <x>', 'momentum theta in [0, 1)', real)
    .option('--R <x>', 'stochastic-sign scale R > 0', real, 1)
    .option('--alpha <x>', 'extrapolation alpha >= 0', real)
    .option('--K <n>', 'local steps (federated)', integer(1))
    .option('--eta <x>', 'local learning rate (federated)', real)
    .option('--weight-decay <x>', 'weight decay', real)
    .option('--d <n>', 'problem dimension', integer(1), 100)
    .option('--noise <x>', 'noise scale sigma', real, 1)
    .option('--heterogeneity <x>', 'non-IID spread of the peers\' optima', real, 0)
    .option('--json', 'print results as JSON instead of a table')
    .option('--quiet', 'no progress lines')
    .exitOverride();
  program.parse(argv, { from: 'user' });
  const o = program.opts<{
    algo: AlgorithmName | 'all'; peers: number; batch: number; rounds: number; seed: number; lr: number;
    theta?: number; R: number; alpha?: number; K?: number; eta?: number; weightDecay?: number;
    d: number; noise: number; heterogeneity: number; json?: boolean; quiet?: boolean;
  }>();
  const names: readonly AlgorithmName[] = o.algo === 'all' ? algorithmNames : [o.algo];
  const results: SimulationResult[] = [];
  for (const name of names) {
    const result = await runSimulation({
      algorithm: {
        name,
        lr: o.lr,
        R: o.R,
        ...(o.theta !== undefined && { theta: o.theta }),
        ...(o.alpha !== undefined && { alpha: o.alpha }),
        ...(o.K !== undefined && { K: o.K }),
        ...(o.eta !== undefined && { eta: o.eta }),
        ...(o.weightDecay !== undefined && { weightDecay: o.weightDecay }),
      },
      peers: o.peers,
      batch: o.batch,
      rounds: o.rounds,
      seed: o.seed,
      problemOptions: { d: o.d, noise: o.noise, heterogeneity: o.heterogeneity },
      lossEvery: Math.max(1, Math.floor(o.rounds / 10)),
      onProgress: o.quiet ? undefined : (round, loss) => process.stderr.write(`${name} round ${round}/${o.rounds} loss ${loss.toPrecision(5)}\n`),
    });
    results.push(result);
  }
  if (o.json) {
    const plain = results.map(({ finalParams: _omit, ...rest }) => rest);
    process.stdout.write(`${JSON.stringify(plain.length === 1 ? plain[0] : plain, null, 2)}\n`);
  } else {
    process.stdout.write(`${results[0].problem}, seed ${o.seed}\n${formatTable(results)}\n`);
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    const code = (err as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') process.exit(0);
    // commander already printed its own usage error
    if (typeof code !== 'string' || !code.startsWith('commander.')) process.stderr.write(`simulate: ${(err as Error).message ?? String(err)}\n`);
    process.exit(1);
  });
}
