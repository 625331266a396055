import { describe, expect, it } from 'vitest';
import { aggregatorRecentlyChanged, describeState, SessionModel } from './session-model';
import type { RoundInfo } from './peer-messages';

const round = (r: number, over: Partial<RoundInfo> = {}): { type: 'round' } & RoundInfo => ({
  type: 'round',
  round: r,
  term: 1,
  role: 'worker',
  aggregator: 'a',
  loss: 2 - r / 10,
  accuracy: null,
  testLoss: null,
  hash: `h${r}`,
  bytesUp: 100,
  bytesDown: 120,
  ms: 30,
  mine: true,
  ...over,
});

describe('SessionModel', () => {
  it('folds rounds into series once per round and tracks the latest values', () => {
    const m = new SessionModel();
    let notified = 0;
    m.subscribe(() => notified++);
    m.apply({ type: 'ready', peerId: 'b', backend: 'wasm', d: 55050, rounds: 10, algorithm: 'mv-sto-signsgd-sim', model: 'mlp' });
    m.apply(round(1));
    m.apply(round(2, { mine: false })); // a ballot that missed the deadline is not a vote
    m.apply(round(2)); // a replayed verdict is plotted once
    // round 0 was an evaluation round: its event comes when the evaluation is done
    m.apply(round(0, { accuracy: 0.25, loss: null, testLoss: 1.5 }));
    let s = m.getSnapshot();
    expect(m.series.round).toEqual([0, 1, 2]);
    expect(m.series.accuracy).toEqual([0.25, null, null]);
    expect(m.series.testLoss).toEqual([1.5, null, null]);
    expect(s.round).toBe(2);
    expect(s.hash).toBe('h2');
    expect(s.accuracy).toBe(0.25);
    expect(s.state).toBe('training');
    expect(s.role).toBe('worker');
    expect(notified).toBe(4);
    expect(s.peers).toEqual([{ id: 'b', backend: 'wasm', voted: 2, role: 'worker', self: true, latencyMs: undefined }]);
    m.apply(round(3, { accuracy: 0.5 }));
    m.apply(round(1, { accuracy: 0.4 })); // older than the accuracy shown: plotted only
    s = m.getSnapshot();
    expect(s.accuracy).toBe(0.5);
    expect(s.round).toBe(3);
  });

  it('notices an aggregator change and names both peers', () => {
    const m = new SessionModel();
    m.apply({ type: 'ready', peerId: 'b', backend: 'webgpu', d: 10, rounds: 100, algorithm: 'x', model: 'mlp' });
    m.apply(round(0));
    m.apply(round(1));
    m.apply({ type: 'term', term: 2, aggregator: 'b' });
    let s = m.getSnapshot();
    expect(s.role).toBe('aggregator');
    expect(s.previousAggregator).toBe('a');
    expect(aggregatorRecentlyChanged(s)).toBe(true);
    expect(describeState(s)).toBe('Training — aggregator changed to b');
    m.apply({ type: 'term', term: 1, aggregator: 'a' }); // an old term is ignored
    expect(m.getSnapshot().aggregator).toBe('b');
    for (let r = 2; r < 20; r++) m.apply(round(r, { term: 2, aggregator: 'b', role: 'aggregator' }));
    s = m.getSnapshot();
    expect(aggregatorRecentlyChanged(s)).toBe(false);
  });

  it('merges the peer list with this tab and marks the aggregator', () => {
    const m = new SessionModel();
    m.apply({ type: 'ready', peerId: 'b', backend: 'wasm', d: 10, rounds: 5, algorithm: 'x', model: 'mlp' });
    m.apply({ type: 'term', term: 3, aggregator: 'a' });
    m.apply({ type: 'peers', peers: [{ id: 'a', backend: 'node' }, { id: 'b', backend: 'wasm' }] });
    m.apply({ type: 'ballot', latencyMs: 12 });
    m.apply(round(0, { term: 3 }));
    // a verdict that names no voters (a term this tab never saw): only "mine" is known
    const rows = m.getSnapshot().peers;
    expect(rows).toEqual([
      { id: 'a', backend: 'node', voted: 0, role: 'aggregator', self: false },
      { id: 'b', backend: 'wasm', voted: 1, latencyMs: 12, role: 'worker', self: true },
    ]);
  });

  it('fills rounds voted and ballot latency for every peer from the verdicts', () => {
    const m = new SessionModel();
    m.apply({ type: 'ready', peerId: 'b', backend: 'wasm', d: 10, rounds: 9, algorithm: 'x', model: 'mlp' });
    m.apply({ type: 'peers', peers: [{ id: 'a', backend: 'node' }, { id: 'b' }, { id: 'c', label: 'cli' }] });
    expect(m.getSnapshot().peers.map((p) => p.voted)).toEqual([undefined, 0, undefined]); // no round yet
    m.apply(round(0, { voters: ['a', 'b', 'c', 'gone'], latencies: { a: 5, b: 40, c: 90, gone: 3 } }));
    m.apply(round(1, { voters: ['a', 'c'], latencies: { a: 6, c: 80 }, mine: false }));
    m.apply(round(1, { voters: ['a', 'c'], latencies: { a: 6, c: 80 }, mine: false })); // replayed: counted once
    m.apply(round(3, { voters: ['a', 'b', 'c'], latencies: { a: 8, b: 35, c: 70 } }));
    // an evaluation round reported late: its votes count, its latencies are older than round 3's
    m.apply(round(2, { voters: ['a', 'b'], latencies: { a: 7, b: 999 }, accuracy: 0.5 }));
    m.apply({ type: 'ballot', latencyMs: 12 }); // this tab's gradient time does not replace a measured latency
    const rows = m.getSnapshot().peers;
    expect(rows.map((p) => p.id)).toEqual(['a', 'b', 'c']); // a departed voter gets no row
    expect(rows.map((p) => p.voted)).toEqual([4, 3, 3]);
    expect(rows.map((p) => p.latencyMs)).toEqual([8, 35, 70]);
    expect(rows.find((p) => p.id === 'c')?.label).toBe('cli');
  });

  it('shows each peer\'s newest vote agreement and flags the ones far below the rest', () => {
    const m = new SessionModel();
    m.apply({ type: 'ready', peerId: 'b', backend: 'wasm', d: 10, rounds: 9, algorithm: 'x', model: 'mlp' });
    m.apply({ type: 'peers', peers: ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id })) });
    m.apply(round(0, { voters: ['a', 'b', 'c', 'd', 'e'], agreement: { a: 0.6, b: 0.61, c: 0.6, d: 0.59, e: 0.6 } }));
    expect(m.getSnapshot().peers.filter((p) => p.lowAgreement)).toEqual([]);
    m.apply(round(2, { voters: ['a', 'b', 'c', 'd', 'e'], agreement: { a: 0.6, b: 0.61, c: 0.6, d: 0.59, e: 0.48 } }));
    // reported late: older than round 2's averages
    m.apply(round(1, { voters: ['e'], agreement: { e: 0.62 }, accuracy: 0.5 }));
    const rows = m.getSnapshot().peers;
    expect(rows.map((p) => p.agreement)).toEqual([0.6, 0.61, 0.6, 0.59, 0.48]);
    expect(rows.filter((p) => p.lowAgreement).map((p) => p.id)).toEqual(['e']);
  });

  it('stays finished when late messages arrive, and reports errors with their reason', () => {
    const m = new SessionModel();
    m.apply({ type: 'state', state: 'finished' });
    m.apply({ type: 'state', state: 'training' });
    expect(m.getSnapshot().state).toBe('finished');
    m.apply({ type: 'state', state: 'error', detail: 'session not found' });
    expect(describeState(m.getSnapshot())).toBe('Error: session not found');
  });
});
