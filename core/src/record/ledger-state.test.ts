import { describe, expect, it } from 'vitest';
import { encodeCheckpoint } from '../session/checkpoint';
import { hashPair, hashParams } from '../session/hash';
import { RecordLedger, type LedgerState } from './ledger';

/**
 * A ledger saved with toState and restored with fromState (a signaling server on Redis does this
 * for every change) decides exactly as the one that never left memory.
 */

const options = { session: 's1', rounds: 10, expectedPeers: 2, checkpointEvery: 4, now: () => 1000 };
const params = (r: number) => Float32Array.from({ length: 8 }, (_, i) => r * 10 + i);
const at = (r: number) => ({ round: r, hash: hashParams(params(r)) });
const roundTrip = (l: RecordLedger): RecordLedger => RecordLedger.fromState(options, JSON.parse(JSON.stringify(l.toState())) as LedgerState);

describe('record ledger state', () => {
  it('round-trips through JSON and goes on deciding the same', () => {
    const live = new RecordLedger(options);
    live.membership(1, ['a']);
    live.membership(2, ['a', 'b']);
    live.report('a', { term: 2, from: at(0), to: at(4), eval: { round: 4, loss: 1, accuracy: 0.5 } });
    const bytes = encodeCheckpoint({ session: 's1', round: 4, x: params(4), xPrev: params(3), hash: hashPair(params(4), params(3)), savedAt: 1 });
    live.storeSnapshot(bytes);
    live.report('a', { term: 2, from: at(4), to: at(6) });

    const restored = roundTrip(live);
    expect(restored.view()).toEqual(live.view());
    expect(restored.toState()).toEqual(live.toState());
    expect(restored.evalHistory()).toEqual(live.evalHistory());
    expect(restored.assignment('b')).toEqual(live.assignment('b'));
    // the snapshot's bytes stay outside the state; its size and point stay in
    expect(restored.snapshotBytes()).toBeNull();
    expect(restored.view().snapshot).toEqual({ round: 4, hash: at(4).hash, bytes: live.snapshotBytes()!.byteLength });
    // the same next steps, the same answers: a stale report, a new term, the end
    for (const l of [live, restored]) {
      expect(() => l.report('a', { term: 2, from: at(4), to: at(5) })).toThrow(/round 6/);
      l.membership(3, ['b', 'a']);
      expect(() => l.report('a', { term: 3, from: at(6), to: at(7) })).toThrow(/not the aggregator/);
      l.report('b', { term: 3, from: at(6), to: at(10) });
    }
    expect(roundTrip(restored).view()).toEqual(live.view());
    expect(restored.view()).toMatchObject({ status: 'finished', round: 10 });
  });
});
