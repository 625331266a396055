import type { Dataset } from '../../data/dataset';
import type { GradientOracle } from '../../engine/oracle';
import { createModel } from '../../models';
import type { Model } from '../../models';
import { loadDataset } from '../datasets';
import { createNodeOracle, type NodeBackend } from '../ort-node';
import type { ExperimentConfig } from './config';
import { expandGrid, runCost } from './grid';
import type { RunSpec } from './grid';
import { createProgress } from './progress';
import { isRunComplete, writeRecord, writeRun, writeSummary } from './results';
import type { ExperimentSummary } from './results';
import { runSpec } from './run';

export interface GridRunOptions {
  readonly out: string;
  readonly smoke?: boolean;
  readonly seeds?: number;
  /** the command line recorded in experiment.json and the report */
  readonly command: string;
  /** run only this shard of the grid (see shardOf): two processes on two cores */
  readonly shard?: { readonly index: number; readonly count: number };
  /** default auto: onnxruntime-node when it loads, else onnxruntime-web wasm */
  readonly backend?: NodeBackend;
  /** null: silent */
  readonly progress?: NodeJS.WriteStream | null;
  readonly log?: (line: string) => void;
}

export interface GridRunResult {
  readonly ran: number;
  readonly skipped: number;
  readonly failed: Array<{ id: string; error: string }>;
  readonly summary: ExperimentSummary;
}

/**
 * The runs of shard `index` of `count`: each run, in grid order, goes to the shard with the
 * least estimated cost so far. Deterministic, so independent processes agree on the split,
 * and balanced even when one algorithm costs 6x another (index mod k would not be).
 */
export function shardOf(runs: readonly RunSpec[], index: number, count: number): RunSpec[] {
  const load = new Array<number>(count).fill(0);
  return runs.filter((spec) => {
    let best = 0;
    for (let k = 1; k < count; k++) if (load[k] < load[best]) best = k;
    load[best] += runCost(spec);
    return best === index;
  });
}

/** Runs every incomplete run of the grid; finished runs (complete CSV + summary) are skipped. */
export async function runGrid(config: ExperimentConfig, opts: GridRunOptions): Promise<GridRunResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const all = expandGrid(config, { smoke: opts.smoke, seeds: opts.seeds });
  const mine = opts.shard ? shardOf(all, opts.shard.index, opts.shard.count) : all;
  const record = { config, smoke: opts.smoke ?? false, seeds: opts.seeds ?? (opts.smoke ? Math.min(config.seeds, config.smoke.seeds) : config.seeds),
    command: opts.command, shards: opts.shard?.count ?? 1, updatedAt: new Date().toISOString() };
  await writeRecord(opts.out, record);

  const todo: RunSpec[] = [];
  let skipped = 0;
  for (const spec of mine) {
    if (await isRunComplete(opts.out, spec)) skipped++;
    else todo.push(spec);
  }
  log(`${config.name}: ${all.length} runs in the grid${opts.shard ? `, ${mine.length} in shard ${opts.shard.index}/${opts.shard.count}` : ''}, ${skipped} already complete, ${todo.length} to run -> ${opts.out}`);

  const models = new Map<string, Model>();
  const oracles = new Map<string, GradientOracle>();
  const datasets = new Map<string, { train: Dataset; test: Dataset }>();
  const progress = createProgress(todo.length, todo.reduce((a, s) => a + runCost(s), 0), opts.progress === undefined ? process.stderr : opts.progress);
  const failed: Array<{ id: string; error: string }> = [];
  let ran = 0;
  try {
    for (const spec of todo) {
      progress.start(spec.id, runCost(spec));
      try {
        let model = models.get(spec.model);
        if (!model) { model = createModel(spec.model); models.set(spec.model, model); }
        let oracle = oracles.get(spec.model);
        if (!oracle) { oracle = await createNodeOracle(model, opts.backend ?? 'auto'); oracles.set(spec.model, oracle); }
        const dataKey = `${spec.dataset}|${config.dataLimit}`;
        let data = datasets.get(dataKey);
        if (!data) { data = await loadDataset(spec.dataset, config.dataLimit > 0 ? { limit: config.dataLimit } : {}); datasets.set(dataKey, data); }
        const outcome = await runSpec(spec, { model, oracle, train: data.train, test: data.test, onProgress: (f) => progress.update(f) });
        await writeRun(opts.out, outcome.rows, outcome.summary);
        ran++;
        progress.finish(true);
        await writeSummary(opts.out, record, all.length);
      } catch (err) {
        progress.finish(false);
        const error = err instanceof Error ? err.message : String(err);
        failed.push({ id: spec.id, error });
        log(`\nrun ${spec.id} failed: ${error}`);
      }
    }
  } finally {
    progress.done();
    for (const o of oracles.values()) await o.dispose().catch(() => undefined);
  }
  const summary = await writeSummary(opts.out, record, all.length);
  return { ran, skipped, failed, summary };
}
