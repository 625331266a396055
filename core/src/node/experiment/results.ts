import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Partition } from '../../config';
import type { ExperimentConfig } from './config';
import { formatCsv, parseCsv } from './csv';
import type { RunRow } from './csv';
import { adversaryTag, partitionLabel, partitionTag } from './grid';
import type { AdversarySetting, RunSpec } from './grid';
import { stats } from './stats';
import type { Stats } from './stats';
import { renderFigure } from './svg';
import type { Panel, Series } from './svg';

/**
 * On-disk layout of one experiment (results/<name>/):
 *   experiment.json        the parsed config, the options and the command that produced it
 *   runs/<id>.csv          one row per evaluation point (csv.ts)
 *   runs/<id>.json         per-run summary (RunSummary); written last, so it marks a complete run
 *   summary.json           per-cell statistics over seeds (CellSummary[])
 *   *.svg                  figures
 */

export interface RunSummary {
  readonly id: string;
  readonly label: string;
  readonly algorithm: string;
  readonly dataset: string;
  readonly model: string;
  readonly batchSize: number;
  readonly partition: Partition;
  readonly peers: number;
  readonly seed: number;
  readonly rounds: number;
  readonly lr: number;
  readonly finalAccuracy: number;
  readonly bestAccuracy: number;
  readonly finalTrainLoss: number;
  readonly wallMs: number;
  /** gradient oracle backend ('node' = onnxruntime-node, 'wasm' = onnxruntime-web) */
  readonly backend: string;
  /** mean payload bytes a peer sent / received per round (all message kinds) */
  readonly bytesUpPerPeerRound: number;
  readonly bytesDownPerPeerRound: number;
  /** wire protocol version the bytes were measured with (absent: version 1) */
  readonly protocol?: number;
  /**
   * How a 1-bit ballot packed an exact 0: 'coin' (a seeded fair coin, docs/signs.md) since
   * issue 15; absent: runs made before, which packed it as +1 (Sign(0) drift).
   */
  readonly signZero?: 'coin';
  /** rounds in which fewer than all peers' ballots were counted (should be 0 here) */
  readonly incompleteRounds: number;
  /**
   * adversarial peers (research runs only; absent or null: clean): the setting and which peer
   * indices were adversaries
   */
  readonly adversary?: (AdversarySetting & { readonly peers: readonly number[] }) | null;
  /**
   * per peer index, its moving-average vote agreement after the last round as the first peer saw
   * it (null: never voted), and the ROC AUC with which it ranks the adversaries below the honest
   * peers (null: no adversaries, or none of them voted)
   */
  readonly agreement?: ReadonlyArray<number | null>;
  readonly agreementAuc?: number | null;
  readonly complete: true;
}

export interface CellSummary {
  readonly label: string;
  readonly reference: boolean;
  readonly dataset: string;
  readonly model: string;
  readonly batchSize: number;
  readonly partition: Partition;
  readonly peers: number;
  readonly lr: number;
  readonly seeds: number[];
  readonly final: Stats;
  readonly best: Stats;
  readonly wallMs: Stats;
  readonly bytesUpPerPeerRound: number;
  readonly bytesDownPerPeerRound: number;
  /** wire protocol versions of its runs' byte counts */
  readonly protocols: number[];
  /** some of its runs packed an exact 0 as +1 (made before the Sign(0) fix) */
  readonly signZeroDrift: boolean;
  /** the cell's adversaries (null: clean) and the agreement score's ROC AUC over its seeds */
  readonly adversary: AdversarySetting | null;
  readonly agreementAuc: Stats;
}

export interface ExperimentRecord {
  readonly config: ExperimentConfig;
  readonly smoke: boolean;
  readonly seeds: number;
  readonly command: string;
  /** how many parallel --shard processes ran the grid (1: one process) */
  readonly shards?: number;
  readonly updatedAt: string;
}

export interface ExperimentSummary {
  readonly name: string;
  readonly title: string;
  readonly smoke: boolean;
  readonly reduced: boolean;
  readonly runs: number;
  readonly expectedRuns: number;
  readonly totalRunWallMs: number;
  readonly cells: CellSummary[];
  readonly figures: string[];
}

const runsDir = (out: string) => join(out, 'runs');

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

export async function writeRun(out: string, rows: readonly RunRow[], summary: RunSummary): Promise<void> {
  await mkdir(runsDir(out), { recursive: true });
  await writeAtomic(join(runsDir(out), `${summary.id}.csv`), formatCsv(rows));
  await writeAtomic(join(runsDir(out), `${summary.id}.json`), JSON.stringify(summary, null, 1) + '\n');
}

/** A run counts as done when its summary exists and its CSV parses and reaches the last round. */
export async function isRunComplete(out: string, spec: RunSpec): Promise<boolean> {
  const csv = join(runsDir(out), `${spec.id}.csv`);
  const json = join(runsDir(out), `${spec.id}.json`);
  if (!existsSync(csv) || !existsSync(json)) return false;
  try {
    const summary = JSON.parse(await readFile(json, 'utf8')) as Partial<RunSummary>;
    if (summary.complete !== true || summary.rounds !== spec.session.rounds) return false;
    const rows = parseCsv(await readFile(csv, 'utf8'), csv);
    return rows.length > 0 && rows[rows.length - 1].round === spec.session.rounds;
  } catch {
    return false;
  }
}

export async function readRuns(out: string): Promise<Array<{ summary: RunSummary; rows: RunRow[] }>> {
  const dir = runsDir(out);
  if (!existsSync(dir)) return [];
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  const runs: Array<{ summary: RunSummary; rows: RunRow[] }> = [];
  for (const f of files) {
    const summary = JSON.parse(await readFile(join(dir, f), 'utf8')) as RunSummary;
    const csvFile = join(dir, f.replace(/\.json$/, '.csv'));
    if (summary.complete !== true || !existsSync(csvFile)) continue;
    runs.push({ summary, rows: parseCsv(await readFile(csvFile, 'utf8'), csvFile) });
  }
  return runs;
}

const cellKey = (s: Pick<RunSummary, 'label' | 'dataset' | 'batchSize' | 'partition' | 'peers' | 'adversary'>) =>
  [s.dataset, s.label, s.batchSize, partitionTag(s.partition), s.peers, adversaryTag(s.adversary ?? null)].join('|');

export function summarizeCells(config: ExperimentConfig, runs: readonly RunSummary[]): CellSummary[] {
  const groups = new Map<string, RunSummary[]>();
  for (const r of runs) {
    const k = cellKey(r);
    const list = groups.get(k) ?? [];
    list.push(r);
    groups.set(k, list);
  }
  const refOf = new Map(config.algorithms.map((a) => [a.label, a.reference ?? false]));
  const cells: CellSummary[] = [];
  for (const list of groups.values()) {
    const r0 = list[0];
    cells.push({
      label: r0.label, reference: refOf.get(r0.label) ?? false, dataset: r0.dataset, model: r0.model,
      batchSize: r0.batchSize, partition: r0.partition, peers: r0.peers, lr: r0.lr,
      seeds: list.map((r) => r.seed).sort((a, b) => a - b),
      final: stats(list.map((r) => r.finalAccuracy)),
      best: stats(list.map((r) => r.bestAccuracy)),
      wallMs: stats(list.map((r) => r.wallMs)),
      bytesUpPerPeerRound: stats(list.map((r) => r.bytesUpPerPeerRound)).mean,
      bytesDownPerPeerRound: stats(list.map((r) => r.bytesDownPerPeerRound)).mean,
      protocols: [...new Set(list.map((r) => r.protocol ?? 1))].sort((a, b) => a - b),
      signZeroDrift: list.some((r) => r.signZero === undefined),
      adversary: r0.adversary ? { kind: r0.adversary.kind, fraction: r0.adversary.fraction } : null,
      agreementAuc: stats(list.map((r) => r.agreementAuc ?? NaN)),
    });
  }
  const order = new Map(config.algorithms.map((a, i) => [a.label, i]));
  cells.sort((a, b) => a.dataset.localeCompare(b.dataset) || a.peers - b.peers
    || partitionTag(a.partition).localeCompare(partitionTag(b.partition))
    || b.batchSize - a.batchSize || (order.get(a.label) ?? 0) - (order.get(b.label) ?? 0));
  return cells;
}

/** Mean and min-max band over seeds of test accuracy (percent) at each evaluated round. */
function accuracyBand(runs: ReadonlyArray<{ rows: RunRow[] }>, label: string): Series {
  const byRound = new Map<number, number[]>();
  for (const { rows } of runs) {
    for (const row of rows) {
      if (!Number.isFinite(row.testAccuracy)) continue;
      const list = byRound.get(row.round) ?? [];
      list.push(row.testAccuracy * 100);
      byRound.set(row.round, list);
    }
  }
  const x = [...byRound.keys()].sort((a, b) => a - b);
  const s = x.map((r) => stats(byRound.get(r)!));
  return { label, x, mean: s.map((v) => v.mean), lo: s.map((v) => v.min), hi: s.map((v) => v.max) };
}

/** One SVG per figure group; returns the file names written (relative to out). */
export async function writeFigures(out: string, config: ExperimentConfig,
  runs: ReadonlyArray<{ summary: RunSummary; rows: RunRow[] }>): Promise<string[]> {
  const groups = new Map<string, Array<{ summary: RunSummary; rows: RunRow[] }>>();
  const keyOf = (s: RunSummary) => config.lines === 'peers'
    ? [s.dataset, partitionTag(s.partition), s.label].join('|')
    : [s.dataset, partitionTag(s.partition), `n${s.peers}`, ...(s.adversary ? [adversaryTag(s.adversary)] : [])].join('|');
  for (const r of runs) {
    const k = keyOf(r.summary);
    const list = groups.get(k) ?? [];
    list.push(r);
    groups.set(k, list);
  }
  const files: string[] = [];
  const algOrder = config.algorithms.map((a) => a.label);
  for (const [key, list] of [...groups.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const s0 = list[0].summary;
    const batchSizes = [...new Set(list.map((r) => r.summary.batchSize))].sort((a, b) => b - a);
    const panels: Panel[] = batchSizes.map((b) => {
      const inPanel = list.filter((r) => r.summary.batchSize === b);
      const lineKeys = config.lines === 'peers'
        ? [...new Set(inPanel.map((r) => r.summary.peers))].sort((x, y) => x - y).map(String)
        : algOrder.filter((l) => inPanel.some((r) => r.summary.label === l));
      const series = lineKeys.map((lk) => {
        const members = inPanel.filter((r) => (config.lines === 'peers' ? String(r.summary.peers) === lk : r.summary.label === lk));
        const legend = config.lines === 'peers' ? `${lk} peers` : lk;
        const band = accuracyBand(members, legend);
        const reference = config.lines === 'algorithm' && (config.algorithms.find((a) => a.label === lk)?.reference ?? false);
        return { ...band, dashed: reference };
      });
      return { title: `batch size ${b}`, series };
    });
    const against = s0.adversary ? `, ${Math.round(s0.adversary.fraction * 100)}% ${s0.adversary.kind} adversaries` : '';
    const what = (config.lines === 'peers' ? `${s0.label}, ${partitionLabel(s0.partition)}` : `${partitionLabel(s0.partition)}, ${s0.peers} peer${s0.peers > 1 ? 's' : ''}`) + against;
    const title = `${config.title}: ${s0.dataset} ${s0.model.toUpperCase()}, ${what}`;
    const seeds = new Set(list.map((r) => r.summary.seed)).size;
    const file = `${config.name}_${key.replace(/\|/g, '_').replace(/[^a-z0-9_.-]+/gi, '-').replace(/-+(_|$)/g, '$1').toLowerCase()}.svg`;
    const svg = renderFigure({
      title: `${title} (mean and min-max over ${seeds} seed${seeds > 1 ? 's' : ''})`,
      xLabel: 'round', yLabel: 'test accuracy (%)', panels, yRange: [0, 100],
    });
    await writeAtomic(join(out, file), svg);
    files.push(file);
  }
  return files;
}

/** Recomputes summary.json and the figures from the run files (cheap; done after every run). */
export async function writeSummary(out: string, record: ExperimentRecord, expectedRuns: number): Promise<ExperimentSummary> {
  const runs = await readRuns(out);
  const cells = summarizeCells(record.config, runs.map((r) => r.summary));
  const figures = await writeFigures(out, record.config, runs);
  const summary: ExperimentSummary = {
    name: record.config.name,
    title: record.config.title,
    smoke: record.smoke,
    reduced: record.config.reduced,
    runs: runs.length,
    expectedRuns,
    totalRunWallMs: runs.reduce((a, r) => a + r.summary.wallMs, 0),
    cells,
    figures,
  };
  await writeAtomic(join(out, 'summary.json'), JSON.stringify(summary, null, 1) + '\n');
  return summary;
}

export async function writeRecord(out: string, record: ExperimentRecord): Promise<void> {
  await mkdir(out, { recursive: true });
  await writeAtomic(join(out, 'experiment.json'), JSON.stringify(record, null, 1) + '\n');
}

export async function readRecord(out: string): Promise<ExperimentRecord | null> {
  const file = join(out, 'experiment.json');
  if (!existsSync(file)) return null;
  return JSON.parse(await readFile(file, 'utf8')) as ExperimentRecord;
}
