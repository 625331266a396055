import { adversarySettings, adversaryTag, type AdversarySetting, type RunSpec } from './grid';
import type { ExperimentConfig } from './config';
import type { CellSummary, RunSummary } from './results';
import { formatPct, stats } from './stats';

/**
 * The adversarial-peers section of docs/RESULTS.md (issue 15), from the runs of a grid with an
 * `adversaries` axis: final accuracy per kind and fraction against the clean run, where each
 * algorithm breaks, and how well vote agreement separates adversaries from honest peers (ROC
 * AUC). Every number is computed from the run files; missing cells are listed, not guessed.
 */

/** an algorithm "breaks" at the first fraction where it ends more than this many points below clean */
export const BREAK_POINTS = 2;

const pct = (f: number) => `${Math.round(f * 100)}%`;
const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;

function cellOf(cells: readonly CellSummary[], label: string, a: AdversarySetting | null): CellSummary | undefined {
  return cells.find((c) => c.label === label && adversaryTag(c.adversary) === adversaryTag(a));
}

export function adversarySection(config: ExperimentConfig, cells: readonly CellSummary[], runs: readonly RunSummary[],
  expected: ReadonlyArray<Pick<RunSpec, 'id' | 'label' | 'adversary' | 'seed'>>): string[] {
  const settings = adversarySettings(config);
  const kinds = [...new Set(settings.filter((s) => s !== null).map((s) => s!.kind))];
  const fractions = [...new Set(settings.filter((s) => s !== null).map((s) => s!.fraction))].sort((a, b) => a - b);
  const labels = config.algorithms.map((a) => a.label);
  const lines: string[] = ['### Adversarial peers', ''];
  lines.push(
    'Final test accuracy in %, mean ± std over the seeds in (n), and in brackets the difference to the same algorithm\'s clean run',
    `(mean over seeds). What each kind sends is in docs/algorithms.md "Adversarial peers"; an algorithm **breaks** at the first fraction`,
    `where it ends more than ${BREAK_POINTS} points below clean.`, '',
  );
  for (const label of labels) {
    const clean = cellOf(cells, label, null);
    lines.push(`#### ${label}${clean ? `: clean ${formatPct(clean.final)} (n=${clean.final.n})` : ': no clean run yet'}`, '');
    lines.push(`| adversaries | ${fractions.map(pct).join(' | ')} | breaks at |`, `|${'---|'.repeat(fractions.length + 2)}`);
    for (const kind of kinds) {
      let breaks = '';
      let complete = clean !== undefined;
      const row = fractions.map((fraction) => {
        const c = cellOf(cells, label, { kind, fraction });
        if (!c) {
          complete = false;
          return '–';
        }
        if (!clean) return `${formatPct(c.final)} (n=${c.final.n})`;
        const d = (c.final.mean - clean.final.mean) * 100;
        if (breaks === '' && d < -BREAK_POINTS) breaks = pct(fraction);
        return `${formatPct(c.final)} (n=${c.final.n}) [${signed(d)}]`;
      });
      lines.push(`| ${kind} | ${row.join(' | ')} | ${breaks || (complete ? `holds to ${pct(fractions[fractions.length - 1])}` : 'n/a (cells missing)')} |`);
    }
    lines.push('');
  }
  lines.push(...aucSection(kinds, fractions, labels, runs));
  const have = new Set(runs.map((r) => r.id));
  const missing = expected.filter((s) => !have.has(s.id));
  if (missing.length > 0) {
    // one entry per cell: which of its seeds are still to run
    const seedsOf = new Map<string, number[]>();
    for (const s of missing) {
      const cell = `${s.label} ${s.adversary === null ? 'clean' : `${s.adversary.kind} ${pct(s.adversary.fraction)}`}`;
      seedsOf.set(cell, [...(seedsOf.get(cell) ?? []), s.seed]);
    }
    lines.push(`**Missing runs: ${missing.length} of ${expected.length}.** \`npm run experiment -- --config experiments/${config.name}.json\` resumes the grid and runs`
      + ` exactly these (finished runs are skipped; \`--shard i/k\` splits them over k processes). By cell (seeds missing): `
      + [...seedsOf].map(([cell, seeds]) => `${cell} (${seeds.join(', ')})`).join('; ') + '.', '');
  }
  return lines;
}

/**
 * ROC AUC of the agreement score (each peer's moving average after the last round, as peer 0
 * saw it): the chance that a random honest peer scores above a random adversary. Per run, then
 * mean and min over the seeds of a cell. Silent adversaries never vote, so they have no score.
 */
function aucSection(kinds: readonly string[], fractions: readonly number[], labels: readonly string[], runs: readonly RunSummary[]): string[] {
  const voting = kinds.filter((k) => k !== 'silent');
  if (voting.length === 0) return [];
  const lines = ['#### Does vote agreement single out the adversaries?', '',
    'ROC AUC of the vote-agreement score (docs/session.md "Vote agreement") per run: 1 = every adversary agrees less than every honest peer,',
    '0.5 = no better than chance, 0 = the adversaries agree *more* (they steer the verdict). Mean over seeds (min in brackets).', '',
    `| algorithm | adversaries | ${fractions.map(pct).join(' | ')} | all fractions |`, `|${'---|'.repeat(fractions.length + 3)}`];
  for (const label of labels) {
    for (const kind of voting) {
      const all: number[] = [];
      const row = fractions.map((fraction) => {
        const aucs = runs
          .filter((r) => r.label === label && r.adversary?.kind === kind && Math.abs(r.adversary.fraction - fraction) < 1e-9 && r.agreementAuc != null)
          .map((r) => r.agreementAuc as number);
        all.push(...aucs);
        if (aucs.length === 0) return '–';
        const s = stats(aucs);
        return `${s.mean.toFixed(3)}${s.n > 1 ? ` (${s.min.toFixed(3)})` : ''}`;
      });
      const s = stats(all);
      lines.push(`| ${label} | ${kind} | ${row.join(' | ')} | ${s.n > 0 ? `${s.mean.toFixed(3)} (n=${s.n} runs)` : '–'} |`);
    }
  }
  lines.push('');
  return lines;
}
