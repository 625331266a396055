import type { Claim, Selector } from './config';
import { partitionLabel } from './grid';
import type { CellSummary } from './results';

/**
 * Judges the paper's claims from our cell statistics. Every number in the sentence is
 * computed here from the runs; the config only names what to compare.
 */
export interface ClaimVerdict {
  readonly text: string;
  readonly verdict: 'supported' | 'partly supported' | 'not supported' | 'no data';
  readonly sentence: string;
}

const pts = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;

function matches(c: CellSummary, where: Selector): boolean {
  return (where.batchSize === undefined || c.batchSize === where.batchSize)
    && (where.partition === undefined || c.partition.kind === where.partition)
    && (where.peers === undefined || c.peers === where.peers)
    && (where.dataset === undefined || c.dataset === where.dataset);
}

function value(c: CellSummary, metric: 'final' | 'best'): number {
  return (metric === 'final' ? c.final.mean : c.best.mean) * 100;
}

const ctxKey = (c: CellSummary, without: 'label' | 'batchSize' | 'peers') =>
  [c.dataset, partitionLabel(c.partition), without === 'peers' ? '' : `${c.peers} peer${c.peers === 1 ? '' : 's'}`, without === 'batchSize' ? '' : `batch ${c.batchSize}`]
    .filter(Boolean).join(', ');

/** seed standard deviation of a cell in points (0 with one seed) */
function spread(c: CellSummary, metric: 'final' | 'best'): number {
  const s = metric === 'final' ? c.final : c.best;
  return s.n > 1 ? s.std * 100 : 0;
}

function noiseNote(noise: number): string {
  return noise > 0 ? ` (seed-to-seed std in these cells up to ${noise.toFixed(2)} points)` : ' (one seed per cell: no spread estimate)';
}

function verdictOf(ok: number, total: number): ClaimVerdict['verdict'] {
  if (total === 0) return 'no data';
  return ok === total ? 'supported' : ok > 0 ? 'partly supported' : 'not supported';
}

export function judgeClaim(claim: Claim, cells: readonly CellSummary[]): ClaimVerdict {
  if (claim.kind === 'robust' || claim.kind === 'breaks') return judgeAdversaryClaim(claim, cells);
  // the paper's claims are about clean runs: cells with adversaries have their own claims
  const sel = cells.filter((c) => matches(c, claim.where) && c.adversary === null);
  const metricName = claim.metric === 'final' ? 'final' : 'best';
  if (claim.kind === 'gap' || claim.kind === 'close') {
    const diffs: { ctx: string; d: number }[] = [];
    let noise = 0;
    for (const a of sel.filter((c) => c.label === claim.a)) {
      const b = sel.find((c) => c.label === claim.b && ctxKey(c, 'label') === ctxKey(a, 'label'));
      if (!b) continue;
      diffs.push({ ctx: ctxKey(a, 'label'), d: value(a, claim.metric) - value(b, claim.metric) });
      noise = Math.max(noise, spread(a, claim.metric), spread(b, claim.metric));
    }
    const close = claim.kind === 'close';
    const ok = diffs.filter((x) => (close ? Math.abs(x.d) <= claim.tolerance : x.d > 0)).length;
    const verdict = verdictOf(ok, diffs.length);
    if (diffs.length === 0) return { text: claim.text, verdict, sentence: `No runs to compare ${claim.a} with ${claim.b} yet.` };
    const mean = diffs.reduce((s, x) => s + x.d, 0) / diffs.length;
    const lo = Math.min(...diffs.map((x) => x.d));
    const hi = Math.max(...diffs.map((x) => x.d));
    const detail = diffs.map((x) => `${x.ctx}: ${pts(x.d)}`).join('; ') + noiseNote(noise);
    if (close) {
      return {
        text: claim.text, verdict,
        sentence: `${claim.a} is within ${claim.tolerance} points of ${claim.b} in ${ok} of ${diffs.length} settings (${metricName} test accuracy, ` +
          `${claim.a} minus ${claim.b}: mean ${pts(mean)}, range ${pts(lo)} to ${pts(hi)}). Per setting: ${detail}.`,
      };
    }
    return {
      text: claim.text, verdict,
      sentence: `${claim.a} is ahead of ${claim.b} in ${ok} of ${diffs.length} settings (${metricName} test accuracy, mean over seeds), ` +
        `by ${pts(mean)} points on average (range ${pts(lo)} to ${pts(hi)}). Per setting: ${detail}.`,
    };
  }
  if (claim.kind === 'drop') {
    const rows: { ctx: string; da: number; db: number }[] = [];
    let noise = 0;
    const at = (label: string, batch: number, ref: CellSummary) => sel.find((c) => c.label === label && c.batchSize === batch
      && ctxKey(c, 'batchSize') === ctxKey(ref, 'batchSize'));
    for (const aFrom of sel.filter((c) => c.label === claim.a && c.batchSize === claim.from)) {
      const aTo = at(claim.a, claim.to, aFrom);
      const bFrom = at(claim.b, claim.from, aFrom);
      const bTo = at(claim.b, claim.to, aFrom);
      if (!aTo || !bFrom || !bTo) continue;
      noise = Math.max(noise, ...[aFrom, aTo, bFrom, bTo].map((c) => spread(c, claim.metric)));
      rows.push({
        ctx: ctxKey(aFrom, 'batchSize'),
        da: value(aFrom, claim.metric) - value(aTo, claim.metric),
        db: value(bFrom, claim.metric) - value(bTo, claim.metric),
      });
    }
    const ok = rows.filter((r) => r.da < r.db).length;
    const verdict = verdictOf(ok, rows.length);
    if (rows.length === 0) return { text: claim.text, verdict, sentence: `No runs at batch ${claim.from} and ${claim.to} for both ${claim.a} and ${claim.b} yet.` };
    const meanA = rows.reduce((s, r) => s + r.da, 0) / rows.length;
    const meanB = rows.reduce((s, r) => s + r.db, 0) / rows.length;
    const detail = rows.map((r) => `${r.ctx}: ${r.da.toFixed(2)} vs ${r.db.toFixed(2)}`).join('; ') + noiseNote(noise);
    return {
      text: claim.text, verdict,
      sentence: `From batch ${claim.from} to ${claim.to}, ${claim.a} loses ${meanA.toFixed(2)} points and ${claim.b} loses ${meanB.toFixed(2)} ` +
        `on average (${metricName} test accuracy; negative = gains); ${claim.a} degrades less in ${ok} of ${rows.length} settings. Per setting: ${detail}.`,
    };
  }
  // trend
  const groups = new Map<string, CellSummary[]>();
  for (const c of sel.filter((c) => c.label === claim.a)) {
    const k = ctxKey(c, claim.axis);
    groups.set(k, [...(groups.get(k) ?? []), c]);
  }
  let ok = 0;
  let total = 0;
  const parts: string[] = [];
  for (const [ctx, list] of groups) {
    if (list.length < 2) continue;
    list.sort((x, y) => x[claim.axis] - y[claim.axis]);
    total++;
    const vals = list.map((c) => value(c, claim.metric));
    let monotone = true;
    for (let i = 1; i < vals.length; i++) if (vals[i] < vals[i - 1] - claim.tolerance) monotone = false;
    if (monotone) ok++;
    const unit = claim.axis === 'peers' ? 'peers' : 'batch';
    parts.push(`${ctx}: ${list.map((c, i) => `${c[claim.axis]} ${unit} ${vals[i].toFixed(2)}%`).join(' -> ')} (${pts(vals[vals.length - 1] - vals[0])})`);
  }
  const verdict = verdictOf(ok, total);
  if (total === 0) return { text: claim.text, verdict, sentence: `Not enough ${claim.axis} values for ${claim.a} yet.` };
  return {
    text: claim.text, verdict,
    sentence: `${claim.a}'s ${metricName} test accuracy does not fall (tolerance ${claim.tolerance} points) as ${claim.axis} grows in ${ok} of ${total} settings. ${parts.join('; ')}.`,
  };
}

const sameAdversary = (c: CellSummary, a: { kind: string; fraction: number }) =>
  c.adversary !== null && c.adversary.kind === a.kind && Math.abs(c.adversary.fraction - a.fraction) < 1e-9;

/** robust: `a` under the adversaries stays within `tolerance` points of clean; breaks: it loses more than `by`. */
function judgeAdversaryClaim(claim: Extract<Claim, { kind: 'robust' | 'breaks' }>, cells: readonly CellSummary[]): ClaimVerdict {
  const sel = cells.filter((c) => matches(c, claim.where) && c.label === claim.a);
  const what = `${Math.round(claim.adversary.fraction * 100)}% ${claim.adversary.kind} adversaries`;
  const rows: { ctx: string; d: number }[] = [];
  let noise = 0;
  for (const attacked of sel.filter((c) => sameAdversary(c, claim.adversary))) {
    const clean = sel.find((c) => c.adversary === null && ctxKey(c, 'label') === ctxKey(attacked, 'label'));
    if (!clean) continue;
    rows.push({ ctx: ctxKey(attacked, 'label'), d: value(attacked, claim.metric) - value(clean, claim.metric) });
    noise = Math.max(noise, spread(attacked, claim.metric), spread(clean, claim.metric));
  }
  const ok = rows.filter((r) => (claim.kind === 'robust' ? r.d >= -claim.tolerance : r.d < -claim.by)).length;
  const verdict = verdictOf(ok, rows.length);
  if (rows.length === 0) return { text: claim.text, verdict, sentence: `No runs of ${claim.a} both clean and with ${what} yet.` };
  const detail = rows.map((r) => `${r.ctx}: ${pts(r.d)}`).join('; ') + noiseNote(noise);
  const bound = claim.kind === 'robust' ? `at most ${claim.tolerance} points below` : `more than ${claim.by} points below`;
  return {
    text: claim.text, verdict,
    sentence: `With ${what}, ${claim.a} ends ${bound} its clean run in ${ok} of ${rows.length} settings (${claim.metric} test accuracy, ` +
      `attacked minus clean, mean over seeds). Per setting: ${detail}.`,
  };
}
