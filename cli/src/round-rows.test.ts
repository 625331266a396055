import { describe, expect, it } from 'vitest';
import { createRoundRows, type RoundRow } from './round-rows';

describe('peer --json rows', () => {
  it('holds the rows from an evaluation round on until its evaluation is reported, then writes them in order', () => {
    const written: RoundRow[] = [];
    const rows = createRoundRows((r) => written.push(r));
    const row = (round: number): RoundRow => ({ round, loss: 2, accuracy: null });
    rows.round(row(0), false);
    rows.round(row(1), true);
    rows.round(row(2), false);
    rows.round(row(3), true);
    expect(written.map((r) => r.round)).toEqual([0]);
    rows.evaluation(3, { loss: 0.5, accuracy: 0.75 }); // out of order: nothing moves yet
    expect(written.map((r) => r.round)).toEqual([0]);
    rows.evaluation(1, { loss: 0.9, accuracy: 0.5 });
    expect(written.map((r) => r.round)).toEqual([0, 1, 2, 3]);
    expect(written[1]).toMatchObject({ loss: 0.9, accuracy: 0.5 });
    expect(written[2]).toMatchObject({ loss: 2, accuracy: null });
    expect(written[3]).toMatchObject({ loss: 0.5, accuracy: 0.75 });
  });

  it('writes a skipped evaluation round as an ordinary row', () => {
    const written: RoundRow[] = [];
    const rows = createRoundRows((r) => written.push(r));
    rows.round({ round: 4, loss: 1.5, accuracy: null }, true);
    rows.evaluation(4, null);
    expect(written).toEqual([{ round: 4, loss: 1.5, accuracy: null }]);
  });
});
