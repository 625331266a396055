import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint } from '../session/checkpoint';
import { hashPair, hashParams } from '../session/hash';
import { RecordLedger } from './ledger';
import { RecordError, type ProgressReport } from './record';

const ledger = (over: Partial<ConstructorParameters<typeof RecordLedger>[0]> = {}) =>
  new RecordLedger({ session: 's1', rounds: 10, expectedPeers: 3, checkpointEvery: 0, ...over });

/** parameters whose hash names round r (distinct vectors per round and branch) */
const params = (r: number, branch = 0) => Float32Array.from({ length: 8 }, (_, i) => r * 10 + i + branch * 0.5);
const at = (r: number, branch = 0) => ({ round: r, hash: hashParams(params(r, branch)) });
const report = (term: number, from: number, to: number, branch = 0): ProgressReport => ({ term, from: at(from, branch), to: at(to, branch) });

function refusal(fn: () => unknown): RecordError {
  try {
    fn();
  } catch (e) {
    if (e instanceof RecordError) return e;
    throw e;
  }
  throw new Error('expected a RecordError');
}

/** a ledger whose session runs with members a, b, c in epoch 3 (a leads) */
function running(over: Partial<ConstructorParameters<typeof RecordLedger>[0]> = {}) {
  const l = ledger(over);
  l.membership(1, ['a']);
  l.membership(2, ['a', 'b']);
  expect(l.membership(3, ['a', 'b', 'c'])).toBe(true);
  return l;
}

describe('record ledger: start and shards', () => {
  it('starts when expectedPeers are present and fixes the shard count then', () => {
    const l = ledger();
    expect(l.membership(1, ['a'])).toBe(false);
    expect(l.view()).toMatchObject({ status: 'waiting', shards: null });
    expect(l.assignment('a')).toBeNull();
    l.membership(2, ['a', 'b']);
    expect(l.membership(3, ['a', 'b', 'c'])).toBe(true);
    expect(l.view()).toMatchObject({ status: 'running', shards: 3 });
    expect(['a', 'b', 'c'].map((p) => l.assignment(p))).toEqual([0, 1, 2].map((shard) => ({ shard, shards: 3 })));
  });

  it('lets the creator start with whoever is there: the data is split over them', () => {
    const l = ledger({ expectedPeers: 5 });
    expect(refusal(() => l.start()).code).toBe('nobody-here');
    l.membership(1, ['a']);
    l.membership(2, ['a', 'b']);
    l.membership(3, ['a', 'b', 'c']);
    l.membership(4, ['a', 'c']); // b left before the start: shards 0 and 2 are held
    const v = l.start();
    expect(v).toMatchObject({ status: 'running', shards: 2 });
    expect([l.assignment('a'), l.assignment('c')]).toEqual([
      { shard: 0, shards: 2 },
      { shard: 1, shards: 2 },
    ]);
    expect(refusal(() => l.start()).code).toBe('already-started');
  });

  it('gives a replacement the shard nobody holds, a resumed peer its own, and extras the least shared', () => {
    const l = running();
    // finding 5: c crashes, a newcomer must train shard 2, not shard 0 again
    l.membership(4, ['a', 'b']);
    expect(l.join('d')).toBe(2);
    l.membership(5, ['a', 'b', 'd']);
    // every shard is held: an extra shares the one with the fewest holders (lowest first)
    expect(l.join('e')).toBe(0);
    expect(l.join('f')).toBe(1);
    // a resumed peer asks for its own shard and gets it although d holds it
    expect(l.join('g', 2)).toBe(2);
    // a preference outside the shard count is not a shard of this run: two holders each, lowest first
    expect(l.join('h', 7)).toBe(0);
  });
});

describe('record ledger: reports', () => {
  it('accepts the term aggregator extending the record, and refuses everything else with a reason', () => {
    const l = running();
    expect(l.report('a', report(3, 0, 2)).round).toBe(2);
    expect(l.view()).toMatchObject({ round: 2, hash: at(2).hash, term: 3, status: 'running' });
    expect(l.report('a', report(3, 2, 4)).round).toBe(4);

    const notAgg = refusal(() => l.report('b', report(3, 4, 5)));
    expect(notAgg.code).toBe('not-aggregator');
    expect(notAgg.message).toMatch(/b is not the aggregator of term 3 \(a is\)/);
    expect(refusal(() => l.report('z', report(3, 4, 5))).code).toBe('not-member');
    expect(refusal(() => l.report('a', report(9, 4, 5))).code).toBe('future-term');
    // a forked history: from a state the record does not stand at
    const conflict = refusal(() => l.report('a', report(3, 3, 5, 1)));
    expect(conflict.code).toBe('conflict');
    expect(conflict.record).toMatchObject({ round: 4, hash: at(4).hash });
    // rounds that go backwards
    expect(refusal(() => l.report('a', { term: 3, from: at(4), to: at(4, 1) })).code).toBe('backwards');
    expect(refusal(() => l.report('a', report(3, 1, 3, 1))).code).toBe('backwards');
    expect(refusal(() => l.report('a', report(3, 4, 11))).code).toBe('beyond-end');
    // a repeated report of the head is harmless
    expect(l.report('a', report(3, 2, 4)).round).toBe(4);

    // b leads term 4 (a left); a's late report of term 3 is stale once term 4 reported
    l.membership(4, ['b', 'c']);
    expect(l.report('b', report(4, 4, 6)).term).toBe(4);
    l.membership(5, ['a', 'b', 'c']);
    expect(refusal(() => l.report('a', report(3, 6, 7))).code).toBe('stale-term');
    expect(l.view()).toMatchObject({ round: 6, term: 4 });
  });

  it('refuses reports before the start', () => {
    const l = ledger();
    l.membership(1, ['a']);
    expect(refusal(() => l.report('a', report(1, 0, 1))).code).toBe('not-started');
  });

  it('finishes at config.rounds, pushes it, and stays finished', () => {
    const l = running();
    const pushed: string[] = [];
    l.subscribe((v) => pushed.push(v.status));
    l.report('a', { ...report(3, 0, 10), eval: { round: 10, loss: 0.3, accuracy: 0.9 } });
    expect(l.view()).toMatchObject({ status: 'finished', finished: { round: 10, hash: at(10).hash }, eval: { accuracy: 0.9 } });
    expect(pushed).toEqual(['finished']);
    // the same finish again is fine (with the final evaluation, which may finish after it); anything else is refused
    expect(l.report('a', report(3, 0, 10)).status).toBe('finished');
    expect(l.report('a', { term: 3, from: at(10), to: at(10), eval: { round: 10, loss: 0.2, accuracy: 0.95 } }).eval).toMatchObject({ accuracy: 0.95 });
    const again = refusal(() => l.report('a', report(3, 0, 10, 1)));
    expect(again.code).toBe('finished');
    expect(again.message).toMatch(/finished at round 10 with parameters/);
    expect(refusal(() => l.start()).code).toBe('finished');
    // the last peer leaving does not reopen it
    l.membership(4, []);
    expect(l.view().status).toBe('finished');
  });

  it('waits again when everyone left, and then resumes from a point it knows, not from elsewhere', () => {
    const l = running({ checkpointEvery: 2 });
    l.report('a', report(3, 0, 2));
    l.report('a', report(3, 2, 3));
    l.report('a', report(3, 3, 5));
    l.membership(4, []);
    expect(l.view()).toMatchObject({ status: 'waiting', resumable: true, round: 5, shards: null });
    l.membership(5, ['x', 'y', 'z']);
    expect(l.view().status).toBe('running');
    // a point the record never held is refused
    expect(refusal(() => l.report('x', report(5, 4, 6))).code).toBe('conflict');
    // the checkpoint at round 2 is one of its points: the restart re-decides rounds 2.. from it
    expect(l.report('x', report(5, 2, 4, 0)).round).toBe(4);
    expect(l.view().resumable).toBe(false);
    // a checkpoint saved after the last report is beyond the head: a restart goes on from it
    l.membership(8, []);
    l.membership(9, ['x', 'y', 'z']);
    expect(l.report('x', report(9, 6, 7)).round).toBe(7);
    l.report('x', report(9, 7, 8));
    // the abandoned branch (round 5) is no longer a point of the record
    l.membership(10, []);
    l.membership(11, ['x', 'y', 'z']);
    expect(refusal(() => l.report('x', report(11, 5, 9))).code).toBe('conflict');
  });
});

describe('record ledger: snapshots', () => {
  const encoded = (round: number, branch = 0, session = 's1') => {
    const x = params(round, branch);
    const xPrev = params(round - 1, branch);
    return encodeCheckpoint({
      session,
      round,
      x,
      xPrev,
      hash: hashPair(x, xPrev),
      savedAt: 1,
      memory: { momentum: new Float32Array(8).fill(7), error: null },
    });
  };

  it('stores a snapshot of a committed point without worker memory, and refuses others', () => {
    const l = running();
    expect(refusal(() => l.storeSnapshot(encoded(2))).code).toBe('snapshot-mismatch');
    l.report('a', report(3, 0, 2));
    l.report('a', report(3, 2, 4));
    expect(l.storeSnapshot(encoded(2)).snapshot).toMatchObject({ round: 2, hash: at(2).hash });
    const stored = decodeCheckpoint(l.snapshotBytes()!);
    expect(stored.memory).toBeUndefined();
    expect(Array.from(stored.x)).toEqual(Array.from(params(2)));
    // other parameters at a committed round
    expect(refusal(() => l.storeSnapshot(encoded(4, 1))).message).toMatch(/hash to .* the record has/);
    expect(refusal(() => l.storeSnapshot(encoded(4, 0, 'other'))).message).toMatch(/session other/);
    expect(refusal(() => l.storeSnapshot(new Uint8Array([1, 2, 3]))).code).toBe('snapshot-mismatch');
    expect(l.storeSnapshot(encoded(4)).snapshot?.round).toBe(4);
    expect(refusal(() => l.storeSnapshot(encoded(2))).code).toBe('backwards');
    const small = running({ maxSnapshotBytes: 100 });
    expect(refusal(() => small.storeSnapshot(encoded(2))).code).toBe('snapshot-too-large');
  });
});

describe('record ledger: evaluation history (late joiners chart from round 0)', () => {
  const evalAt = (r: number) => ({ round: r, loss: 2 / (r + 1), accuracy: Math.min(1, r / 1000) });

  it('keeps one point per reported evaluation, in order, bounded, spanning round 0 to the newest', () => {
    const l = running({ rounds: 1000, maxEvals: 16 });
    for (let r = 0; r < 100; r++) l.report('a', { ...report(3, r, r + 1), eval: evalAt(r) });
    const h = l.evalHistory();
    expect(h.length).toBeLessThanOrEqual(16);
    expect(h.length).toBeGreaterThanOrEqual(8);
    expect(h[0]).toEqual(evalAt(0));
    expect(h[h.length - 1]).toEqual(evalAt(99));
    for (let i = 1; i < h.length; i++) expect(h[i].round).toBeGreaterThan(h[i - 1].round);
    // thinning halves the density of the old part: no gap is wider than a few times the mean
    const gaps = h.slice(1).map((e, i) => e.round - h[i].round);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(4 * (99 / (h.length - 1)));
  });

  it('adds only evaluations the report accepted, and a rewind forgets the abandoned branch', () => {
    const l = running({ checkpointEvery: 2 });
    l.report('a', { ...report(3, 0, 2), eval: evalAt(2) });
    l.report('a', { ...report(3, 2, 4), eval: evalAt(4) });
    expect(() => l.report('b', { ...report(3, 4, 5), eval: evalAt(5) })).toThrow(RecordError);
    expect(l.evalHistory().map((e) => e.round)).toEqual([2, 4]);
    l.membership(4, []);
    l.membership(5, ['a', 'b', 'c']);
    l.report('a', { term: 5, from: at(2), to: at(3, 1), eval: { ...evalAt(3), accuracy: 0.5 } });
    expect(l.evalHistory()).toEqual([evalAt(2), { ...evalAt(3), accuracy: 0.5 }]);
  });
});
