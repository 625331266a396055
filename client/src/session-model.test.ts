import { describe, expect, it } from 'vitest';
import { SessionModel } from './session-model';
import { aggregatorRecentlyChanged, describeRole, describeSplit, describeState, noticeMs, plural, recentlyNotCounted } from './session-text';
import type { RoundInfo } from './peer-messages';

const round = (r: number, over: Partial<RoundInfo> = {}): { type: 'round' } & RoundInfo => ({
  type: 'round',
  round: r,
  term: 1,
  role: 'worker',
  aggregator: 'a',
  split: { k: 1, asked: 1, limit: null },
  voteShard: null,
  loss: 2 - r / 10,
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
    m.apply({ type: 'ready', peerId: 'b', backend: 'wasm', d: 55050, rounds: 10, expectedPeers: 2, algorithm: 'mv-sto-signsgd-sim', model: 'mlp' });
    m.apply(round(1));
    m.apply(round(2, { mine: false })); // a ballot that missed the deadline is not a vote
    m.apply(round(2)); // a replayed verdict is plotted once
    m.apply(round(0)); // an older round arriving late goes in its place
    // round 0 was evaluated; the evaluation is reported once done, after later rounds
    m.apply({ type: 'evaluation', round: 0, loss: 1.5, accuracy: 0.25 });
    let s = m.getSnapshot();
    expect(m.series.round).toEqual([0, 1, 2]);
    expect(m.series.accuracy).toEqual([0.25, null, null]);
    expect(m.series.testLoss).toEqual([1.5, null, null]);
    expect(s.round).toBe(2);
    expect(s.hash).toBe('h2');
    expect(s.accuracy).toBe(0.25);
    expect(s.state).toBe('training');
    expect(s.role).toBe('worker');
    expect(notified).toBe(5);
    expect(s.peers).toEqual([{ id: 'b', backend: 'wasm', voted: 2, role: 'worker', self: true, latencyMs: undefined }]);
    m.apply(round(3));
    m.apply({ type: 'evaluation', round: 3, loss: 1.2, accuracy: 0.5 });
    m.apply({ type: 'evaluation', round: 1, loss: 1.4, accuracy: 0.4 }); // older than the accuracy shown: plotted only
    s = m.getSnapshot();
    expect(s.accuracy).toBe(0.5);
    expect(m.series.accuracy).toEqual([0.25, 0.4, null, 0.5]);
    expect(s.round).toBe(3);
  });

  it('measures the pace and the time left from the rounds it applies', () => {
    let now = 0;
    const m = new SessionModel(() => now);
    m.apply({ type: 'ready', peerId: 'b', backend: 'wasm', d: 10, rounds: 50, expectedPeers: 2, algorithm: 'x', model: 'mlp' });
    for (let r = 0; r < 10; r++) {
      now = 1000 + 250 * r;
      m.apply(round(r));
    }
    const s = m.getSnapshot();
    expect(s.rate).toBeCloseTo(4, 9);
    expect(s.etaMs).toBeCloseTo((40 / 4) * 1000, 6);
  });

  it('keeps notices up for ten rounds and ten seconds, whichever is longer', () => {
    let now = 0;
    const m = new SessionModel(() => now);
    m.apply({ type: 'ready', peerId: 'b', backend: 'wasm', d: 10, rounds: 500, expectedPeers: 2, algorithm: 'x', model: 'mlp' });
    m.apply({ type: 'state', state: 'training' });
    m.apply(round(0));
    m.apply({ type: 'ballot', latencyMs: 40 });
    // this tab voted in round 1, the verdict counted only 'a': its ballot came too late
    m.apply(round(1, { voters: ['a'], mine: false }));
    m.apply({ type: 'term', term: 2, aggregator: 'b' });
    // a fast session: 30 rounds in one second
    for (let r = 2; r < 32; r++) {
      now += 33;
      m.apply(round(r, { term: 2, aggregator: 'b' }));
    }
    let s = m.getSnapshot();
    expect(s.notCounted?.round).toBe(1);
    expect(recentlyNotCounted(s, now)).toBe(true);
    expect(aggregatorRecentlyChanged(s, now)).toBe(true);
    expect(recentlyNotCounted(s, noticeMs + 1)).toBe(false);
    expect(aggregatorRecentlyChanged(s, noticeMs + 1)).toBe(false);
    // a slow session: ten seconds are two rounds, the notice stays for ten rounds
    now = 100_000;
    m.apply(round(32, { term: 2, aggregator: 'b' }));
    m.apply({ type: 'ballot', latencyMs: 40 });
    m.apply(round(33, { term: 2, aggregator: 'b', voters: ['a'], mine: false }));
    now += 20_000;
    m.apply(round(34, { term: 2, aggregator: 'b' }));
    s = m.getSnapshot();
    expect(recentlyNotCounted(s, now)).toBe(true);
  });

  it('says how many peers it waits for, as a worker too', () => {
    const m = new SessionModel();
    m.apply({ type: 'ready', peerId: 'b', backend: 'wasm', d: 10, rounds: 5, expectedPeers: 4, algorithm: 'x', model: 'mlp' });
    m.apply({ type: 'state', state: 'waiting' });
    m.apply({ type: 'peers', peers: [{ id: 'a' }, { id: 'b' }] });
    expect(describeState(m.getSnapshot())).toBe('Waiting for peers (2 of 4 peers)');
    m.apply({ type: 'state', state: 'waiting', detail: '3 of 4 peers' }); // the aggregator's own count
    expect(describeState(m.getSnapshot())).toBe('Waiting for peers (3 of 4 peers)');
  });

  it('notices an aggregator change and names both peers', () => {
    const m = new SessionModel();
    m.apply({ type: 'ready', peerId: 'b', backend: 'webgpu', d: 10, rounds: 100, expectedPeers: 2, algorithm: 'x', model: 'mlp' });
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
    // ten rounds later it goes once ten seconds have passed too
    expect(aggregatorRecentlyChanged(s, s.aggregatorChangedTime! + noticeMs - 1)).toBe(true);
    expect(aggregatorRecentlyChanged(s, s.aggregatorChangedTime! + noticeMs)).toBe(false);
  });

  it('merges the peer list with this tab and marks the aggregator', () => {
    const m = new SessionModel();
    m.apply({ type: 'ready', peerId: 'b', backend: 'wasm', d: 10, rounds: 5, expectedPeers: 2, algorithm: 'x', model: 'mlp' });
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
    m.apply({ type: 'ready', peerId: 'b', backend: 'wasm', d: 10, rounds: 9, expectedPeers: 3, algorithm: 'x', model: 'mlp' });
    m.apply({ type: 'peers', peers: [{ id: 'a', backend: 'node' }, { id: 'b' }, { id: 'c', label: 'cli' }] });
    expect(m.getSnapshot().peers.map((p) => p.voted)).toEqual([undefined, 0, undefined]); // no round yet
    m.apply(round(0, { voters: ['a', 'b', 'c', 'gone'], latencies: { a: 5, b: 40, c: 90, gone: 3 } }));
    m.apply(round(1, { voters: ['a', 'c'], latencies: { a: 6, c: 80 }, mine: false }));
    m.apply(round(1, { voters: ['a', 'c'], latencies: { a: 6, c: 80 }, mine: false })); // replayed: counted once
    m.apply(round(3, { voters: ['a', 'b', 'c'], latencies: { a: 8, b: 35, c: 70 } }));
    // a round reported late: its votes count, its latencies are older than round 3's
    m.apply(round(2, { voters: ['a', 'b'], latencies: { a: 7, b: 999 } }));
    m.apply({ type: 'ballot', latencyMs: 12 }); // this tab's gradient time does not replace a measured latency
    const rows = m.getSnapshot().peers;
    expect(rows.map((p) => p.id)).toEqual(['a', 'b', 'c']); // a departed voter gets no row
    expect(rows.map((p) => p.voted)).toEqual([4, 3, 3]);
    expect(rows.map((p) => p.latencyMs)).toEqual([8, 35, 70]);
    expect(rows.find((p) => p.id === 'c')?.label).toBe('cli');
  });

  it('shows each peer\'s newest vote agreement and flags the ones far below the rest', () => {
    const m = new SessionModel();
    m.apply({ type: 'ready', peerId: 'b', backend: 'wasm', d: 10, rounds: 9, expectedPeers: 5, algorithm: 'x', model: 'mlp' });
    m.apply({ type: 'peers', peers: ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id })) });
    m.apply(round(0, { voters: ['a', 'b', 'c', 'd', 'e'], agreement: { a: 0.6, b: 0.61, c: 0.6, d: 0.59, e: 0.6 } }));
    expect(m.getSnapshot().peers.filter((p) => p.lowAgreement)).toEqual([]);
    m.apply(round(2, { voters: ['a', 'b', 'c', 'd', 'e'], agreement: { a: 0.6, b: 0.61, c: 0.6, d: 0.59, e: 0.48 } }));
    // reported late: older than round 2's averages
    m.apply(round(1, { voters: ['e'], agreement: { e: 0.62 } }));
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

  it('a peer that lost its server keeps saying why while its last rounds land, and lists no other peers', () => {
    const m = new SessionModel();
    m.apply({ type: 'ready', peerId: 'a', backend: 'wasm', d: 10, rounds: 5000, expectedPeers: 2, algorithm: 'x', model: 'mlp' });
    m.apply({ type: 'peers', peers: [{ id: 'a' }, { id: 'b' }] });
    m.apply(round(10, { aggregator: 'a', role: 'aggregator' }));
    m.apply({ type: 'state', state: 'error', detail: 'lost the signaling server (io server disconnect)' });
    // rounds already under way when it stopped, and a late membership, change nothing of that
    m.apply(round(11, { aggregator: 'a', role: 'aggregator' }));
    m.apply({ type: 'peers', peers: [{ id: 'a' }, { id: 'b' }] });
    const s = m.getSnapshot();
    expect(s.state).toBe('error');
    expect(describeState(s)).toBe('Error: lost the signaling server (io server disconnect)');
    expect(s.peers.map((p) => p.id)).toEqual(['a']);
    // started again, it learns its peers anew
    m.apply({ type: 'state', state: 'connecting' });
    m.apply({ type: 'peers', peers: [{ id: 'a' }, { id: 'c' }] });
    expect(m.getSnapshot().peers.map((p) => p.id)).toEqual(['a', 'c']);
  });

  it('seeds a late joiner\'s charts with the history before its first round; live points append after', () => {
    const m = new SessionModel();
    m.apply(round(40));
    m.apply(round(41));
    const before = m.getSnapshot().seriesVersion;
    // the record's evaluations: 40 and 50 are not before this tab's first round and arrive live
    m.seedHistory([
      { round: 20, loss: 1.2, accuracy: 0.5 },
      { round: 0, loss: 2.3, accuracy: 0.1 },
      { round: 10, loss: null, accuracy: 0.3 },
      { round: 40, loss: 0.9, accuracy: 0.7 },
    ]);
    expect(m.getSnapshot().seriesVersion).toBeGreaterThan(before);
    expect(m.series.round).toEqual([0, 10, 20, 40, 41]);
    expect(m.series.accuracy).toEqual([0.1, 0.3, 0.5, null, null]);
    expect(m.series.testLoss).toEqual([2.3, null, 1.2, null, null]);
    expect(m.series.loss).toEqual([null, null, null, round(40).loss, round(41).loss]);
    expect(m.series.ms).toEqual([null, null, null, 30, 30]);
    expect(m.getSnapshot()).toMatchObject({ accuracy: 0.5, accuracyRound: 20, round: 41 });
    m.seedHistory([{ round: 10, loss: null, accuracy: 0.3 }]); // a second seed adds nothing twice
    expect(m.series.round).toEqual([0, 10, 20, 40, 41]);
    m.apply(round(42));
    m.apply({ type: 'evaluation', round: 40, loss: 0.9, accuracy: 0.7 });
    expect(m.series.round).toEqual([0, 10, 20, 40, 41, 42]);
    expect(m.series.accuracy).toEqual([0.1, 0.3, 0.5, 0.7, null, null]);
    expect(m.getSnapshot()).toMatchObject({ accuracy: 0.7, accuracyRound: 40, round: 42 });
  });

  it('a verdict this tab replays for a seeded round fills that point in instead of adding one', () => {
    const m = new SessionModel();
    m.seedHistory([
      { round: 0, loss: 2.3, accuracy: 0.1 },
      { round: 10, loss: 1.5, accuracy: 0.4 },
    ]);
    expect(m.series.round).toEqual([0, 10]);
    m.apply(round(10));
    m.apply(round(10)); // the replay after it is plotted once
    m.apply(round(11));
    expect(m.series.round).toEqual([0, 10, 11]);
    expect(m.series.accuracy).toEqual([0.1, 0.4, null]);
    expect(m.series.loss).toEqual([null, round(10).loss, round(11).loss]);
    expect(m.series.ms).toEqual([null, 30, 30]);
  });

  it('with k > 1 vote shards names the range each member tallies, and k in effect against what was asked', () => {
    const m = new SessionModel();
    m.apply({ type: 'ready', peerId: 'c', backend: 'wasm', d: 40, rounds: 5, expectedPeers: 5, algorithm: 'x', model: 'mlp' });
    m.apply({ type: 'peers', peers: [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }, { id: 'e' }] });
    const split = { k: 3, asked: 8, limit: 'coordinates' } as const;
    const mine = { index: 2, of: 3, start: 24, end: 40 };
    m.apply({ type: 'term', term: 4, aggregator: 'a', peers: ['a', 'b', 'c', 'd', 'e'], split, voteShard: mine });
    m.apply({ type: 'term', term: 4, aggregator: 'a' }); // the aggregator event of the same term keeps the split
    m.apply(round(0, { term: 4, split, voteShard: mine }));
    let s = m.getSnapshot();
    expect(s.split).toEqual(split);
    expect(s.voteShard).toEqual(mine);
    const ranges = Object.fromEntries(s.peers.map((p) => [p.id, p.voteShard ?? null]));
    expect(ranges).toEqual({ a: { index: 0, of: 3 }, b: { index: 1, of: 3 }, c: { index: 2, of: 3 }, d: null, e: null });
    const roles = Object.fromEntries(s.peers.map((p) => [p.id, describeRole(p.role, p.voteShard)]));
    expect(roles).toEqual({ a: 'aggregator · tallies range 1/3', b: 'worker · tallies range 2/3', c: 'worker · tallies range 3/3', d: 'worker', e: 'worker' });
    expect(describeSplit(s.split, s.d)).toBe('3 (asked 8: at most one per 8 coordinates, d = 40)');
    // a new term without 'c' and 'a': two members, one range each; this tab now tallies none
    m.apply({ type: 'term', term: 5, aggregator: 'b', peers: ['b', 'd'], split: { k: 2, asked: 8, limit: 'members' }, voteShard: null });
    s = m.getSnapshot();
    expect(s.voteShard).toBeNull();
    expect(Object.fromEntries(s.peers.map((p) => [p.id, p.voteShard ?? null]))).toEqual({ a: null, b: { index: 0, of: 2 }, c: null, d: { index: 1, of: 2 }, e: null });
    expect(describeSplit(s.split, s.d)).toBe('2 (asked 8: at most one per member)');
    // the star: no range named anywhere
    expect(describeRole('aggregator', { index: 0, of: 1 })).toBe('aggregator');
    expect(describeSplit({ k: 1, asked: 1, limit: null }, 40)).toBe('1');
  });
});


describe('plural', () => {
  it('says 1 peer, 2 peers, 0 shards, also for the form\'s strings', () => {
    expect(plural(1, 'peer')).toBe('1 peer');
    expect(plural(2, 'peer')).toBe('2 peers');
    expect(plural(0, 'shard')).toBe('0 shards');
    expect(plural('1', 'peer')).toBe('1 peer');
  });
});
