/**
 * Per-run CSV: one row per evaluation point. Round r means "after r rounds were applied"
 * (r = 0: the initial parameters). Fields that do not exist at a row are left empty.
 */
export interface RunRow {
  readonly round: number;
  /** mean mini-batch loss over all peers and all rounds since the previous row */
  readonly trainLoss: number;
  readonly testLoss: number;
  readonly testAccuracy: number;
  /** cumulative bytes sent by all peers (ballots, verdicts, control messages) */
  readonly bytesUp: number;
  /** cumulative bytes received by all peers */
  readonly bytesDown: number;
  /** wall time since the session started */
  readonly wallMs: number;
}

const csvHeader = 'round,train_loss,test_loss,test_accuracy,bytes_up,bytes_down,wall_ms';

function num(v: number, digits: number): string {
  return Number.isFinite(v) ? (Number.isInteger(v) ? String(v) : v.toPrecision(digits)) : '';
}

export function formatCsv(rows: readonly RunRow[]): string {
  const lines = rows.map((r) =>
    [r.round, num(r.trainLoss, 6), num(r.testLoss, 6), num(r.testAccuracy, 6), r.bytesUp, r.bytesDown, Math.round(r.wallMs)].join(','),
  );
  return `${csvHeader}\n${lines.join('\n')}\n`;
}

export function parseCsv(text: string, source = 'csv'): RunRow[] {
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines[0] !== csvHeader) throw new Error(`${source}: expected header "${csvHeader}", got "${lines[0] ?? ''}"`);
  return lines.slice(1).map((line, i) => {
    const cells = line.split(',');
    if (cells.length !== 7) throw new Error(`${source}: line ${i + 2} has ${cells.length} fields, expected 7`);
    const f = (s: string) => (s === '' ? NaN : Number(s));
    const values = cells.map(f);
    if (!Number.isFinite(values[0])) throw new Error(`${source}: line ${i + 2} has no round number`);
    return {
      round: values[0], trainLoss: values[1], testLoss: values[2], testAccuracy: values[3],
      bytesUp: values[4], bytesDown: values[5], wallMs: values[6],
    };
  });
}
