/**
 * `npm run experiment -- --config experiments/<name>.json [--smoke] [--seeds N] [--out results/<name>]`
 * runs a grid of sessions (docs/experiments.md); `npm run experiment:report` writes
 * docs/RESULTS.md from results/.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { basename, join } from 'node:path';
import { loadExperimentConfig } from './experiment/config';
import { writeReport } from './experiment/report';
import { runGrid } from './experiment/runner';
import type { NodeBackend } from './ort-node';
import { commandExit, UsageError } from './usage-error';

const positiveInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};

const shardArg = (v: string) => {
  const m = /^(\d+)\/(\d+)$/.exec(v);
  if (!m || Number(m[1]) >= Number(m[2])) throw new InvalidArgumentError('shard must be i/k with 0 <= i < k, e.g. 0/2');
  return { index: Number(m[1]), count: Number(m[2]) };
};

// usage errors reach the catch below (exit 2) instead of commander's own process.exit(1)
const program = new Command('experiment').description('paper experiments through the session state machine').exitOverride();

program
  .command('run', { isDefault: true })
  .description('run (or resume) an experiment grid')
  .requiredOption('-c, --config <file>', 'experiment config (experiments/*.json)')
  .option('--smoke', 'shrink to the config\'s smoke sizes', false)
  .option('--seeds <n>', 'number of seeds (overrides the config)', positiveInt('seeds'))
  .option('-o, --out <dir>', 'output directory (default results/<name>, results/<name>-smoke with --smoke)')
  .option('--shard <i/k>', 'run only shard i of k (cost-balanced split; parallel processes)', shardArg)
  .addOption(new Option('--backend <b>', 'gradient oracle').choices(['auto', 'node', 'wasm']).default('auto'))
  .action(async (opts: { config: string; smoke: boolean; seeds?: number; out?: string; shard?: { index: number; count: number }; backend: NodeBackend }) => {
    const config = await loadExperimentConfig(opts.config).catch((err: unknown) => {
      throw new UsageError((err as Error).message);
    });
    const out = opts.out ?? join('results', opts.smoke ? `${config.name}-smoke` : config.name);
    const command = ['npm run experiment --', '--config', opts.config, opts.smoke ? '--smoke' : '', opts.seeds ? `--seeds ${opts.seeds}` : '',
      opts.out ? `--out ${opts.out}` : ''].filter(Boolean).join(' ');
    const t0 = Date.now();
    const result = await runGrid(config, { out, smoke: opts.smoke, seeds: opts.seeds, command, shard: opts.shard, backend: opts.backend });
    const s = result.summary;
    process.stderr.write(`${basename(out)}: ran ${result.ran}, skipped ${result.skipped}, failed ${result.failed.length}; ` +
      `${s.runs}/${s.expectedRuns} runs complete; ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    for (const f of result.failed) process.stderr.write(`  failed ${f.id}: ${f.error}\n`);
    if (result.failed.length > 0) process.exitCode = 1;
  });

program
  .command('report')
  .description('write docs/RESULTS.md from results/')
  .option('--results <dir>', 'results directory', 'results')
  .option('-o, --out <file>', 'report file', join('docs', 'RESULTS.md'))
  .action(async (opts: { results: string; out: string }) => {
    await writeReport(opts.results, opts.out);
    process.stderr.write(`wrote ${opts.out}\n`);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  const { code, printed } = commandExit(err);
  if (!printed) process.stderr.write(`experiment: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(code);
});
