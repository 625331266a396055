import { describe, expect, it } from 'vitest';
import { RecordLedger } from '../record/ledger';
import type { SessionRecordView } from '../record/record';
import { termStart } from './term-start';

const h = (n: number) => n.toString(16).padStart(16, '0');
const base: SessionRecordView = new RecordLedger({ session: 's', rounds: 100, expectedPeers: 2, checkpointEvery: 0 }).view();
const running = (over: Partial<SessionRecordView>): SessionRecordView => ({ ...base, status: 'running', shards: 2, ...over });
const statuses = new Map([
  ['a', { round: 12, hash: h(12) }],
  ['b', { round: 10, hash: h(10) }],
  ['c', { round: 10, hash: h(99) }],
]);
const members = ['a', 'b', 'c'];
const best = { kind: 'peer', round: 12, hash: h(12), holders: ['a'] } as const;
const start = (rec: SessionRecordView | null, b: typeof best | { kind: 'peer'; round: number; hash: string; holders: string[] } = best) =>
  termStart(rec, b, members, (p) => statuses.get(p));

describe('where a term starts', () => {
  it('without a record, or ahead of its head: the most advanced state', () => {
    expect(start(null)).toBe(best);
    expect(start(running({ round: 10, hash: h(10) }))).toBe(best);
    expect(start(running({ round: 12, hash: h(12) }))).toBe(best);
  });

  it('a finished record: its end, from a member that holds it, else from the stored snapshot', () => {
    const finished = { ...running({ round: 10, hash: h(10) }), status: 'finished' as const, finished: { round: 10, hash: h(10), at: 1 } };
    expect(start(finished)).toEqual({ kind: 'peer', round: 10, hash: h(10), holders: ['b'] });
    const other = { ...finished, finished: { round: 100, hash: h(100), at: 1 } };
    expect(start(other)).toEqual({ kind: 'record', point: { round: 100, hash: h(100) } });
  });

  it('behind the head: from a member holding it, or the snapshot of it; never from a state of its own', () => {
    expect(start(running({ round: 10, hash: h(10) }), { kind: 'peer', round: 10, hash: h(99), holders: ['c'] })).toEqual({ kind: 'peer', round: 10, hash: h(10), holders: ['b'] });
    expect(start(running({ round: 20, hash: h(20), snapshot: { round: 20, hash: h(20), bytes: 1 } }))).toEqual({ kind: 'record', point: { round: 20, hash: h(20) } });
    const lost = start(running({ round: 20, hash: h(20), snapshot: { round: 15, hash: h(15), bytes: 1 } }));
    expect(lost).toMatchObject({ kind: 'fail', reason: expect.stringMatching(/holds round 20 .* which no member holds \(the most advanced is at round 12\) and the stored snapshot is of round 15/) });
  });

  it('after everyone left: its own state or the stored snapshot, whichever is further', () => {
    expect(start(running({ round: 20, hash: h(20), resumable: true }))).toBe(best);
    expect(start(running({ round: 20, hash: h(20), resumable: true, snapshot: { round: 15, hash: h(15), bytes: 1 } }))).toEqual({
      kind: 'record',
      point: { round: 15, hash: h(15) },
    });
  });
});
