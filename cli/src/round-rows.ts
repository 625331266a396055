/**
 * The stdout of `signvote peer --json`: one JSON object per applied round, in round order. The
 * session reports an evaluation apart from its round, when it is done (core RoundReport); a row
 * whose evaluation is still running waits here, with the rows after it, until the evaluation is
 * reported, so an evaluation round's row carries its test accuracy and loss as it always did.
 */

export type RoundRow = Record<string, unknown> & { round: number; loss: number | null; accuracy: number | null };

export interface RoundRows {
  /** a round was applied; `evaluating`: its evaluation will be reported later */
  round(row: RoundRow, evaluating: boolean): void;
  /** the evaluation of `round` is done (null: it was skipped for a newer one) */
  evaluation(round: number, result: { loss: number; accuracy: number } | null): void;
}

export function createRoundRows(write: (row: RoundRow) => void): RoundRows {
  const held: { row: RoundRow; open: boolean }[] = [];
  const flush = (): void => {
    while (held.length > 0 && !held[0].open) write(held.shift()!.row);
  };
  return {
    round(row, evaluating) {
      held.push({ row, open: evaluating });
      flush();
    },
    evaluation(round, result) {
      const entry = held.find((h) => h.open && h.row.round === round);
      if (!entry) return;
      if (result) Object.assign(entry.row, { loss: result.loss, accuracy: result.accuracy });
      entry.open = false;
      flush();
    },
  };
}
