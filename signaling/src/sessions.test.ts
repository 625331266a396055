import { describe, expect, it } from 'vitest';
import { parseSessionConfig } from '@signvote/core';
import { RegistryError, SessionRegistry } from './sessions';
import { TokenBucket } from './rate-limit';

const limits = { maxSessions: 2, maxPeersPerSession: 3, idleSessionTtlMs: 1000 };
const node = { backend: 'node' } as const;
const config = parseSessionConfig({ expectedPeers: 2 });
/** a join's member without the key that resumes it (the membership never carries that key) */
const seat = <M extends { resumeKey: string }>({ resumeKey: _key, ...m }: M): Omit<M, 'resumeKey'> => m;

describe('session registry', () => {
  it('checks tokens, assigns growing seqs and bumps the epoch on every change', () => {
    const r = new SessionRegistry(limits);
    const { session, token } = r.create(config);
    expect(() => r.authorize(session.id, token.slice(1))).toThrow(RegistryError);
    expect(() => r.authorize('missing', token)).toThrow(/unknown session/);
    const s = r.authorize(session.id, token);
    const a = r.join(s, node);
    const b = seat(r.join(s, node));
    expect([a.seq, b.seq]).toEqual([0, 1]);
    expect(r.leave(s, a.id)).toBe(true);
    expect(r.leave(s, a.id)).toBe(false);
    const c = seat(r.join(s, node));
    expect(c.seq).toBe(2); // seqs are never reused, so join order stays total
    expect(r.membership(s)).toEqual({ epoch: 4, peers: [{ ...b, shard: 1 }, { ...c, shard: 0 }] });
    r.join(s, node);
    expect(() => r.join(s, node)).toThrow(/peers already/);
  });

  it('drops a peer on a strict majority of reports from live members', () => {
    const r = new SessionRegistry(limits);
    const { session: s } = r.create(config);
    const [a, b] = [seat(r.join(s, node)), seat(r.join(s, node))];
    expect(r.report(s, a.id, b.id)).toBe(true); // two peers: the one other peer is a majority
    expect(r.membership(s).peers).toEqual([a]);
    const c = r.join(s, node);
    const d = r.join(s, node);
    expect(r.report(s, a.id, d.id)).toBe(false); // 1 of 2
    r.leave(s, a.id); // a departed reporter no longer counts
    expect(r.report(s, c.id, d.id)).toBe(true); // 1 of 1
    expect(() => r.report(s, c.id, c.id)).toThrow(/itself/);
  });

  it('forgets idle sessions after the TTL and caps the session count', () => {
    let now = 0;
    const r = new SessionRegistry(limits, () => now);
    r.create(config);
    const { session } = r.create(config);
    r.join(session, node);
    expect(() => r.create(config)).toThrow(/sessions already/);
    now = 5000;
    expect(r.sweep()).toBe(1); // the one with a member stays
    expect(r.size).toBe(1);
    expect(() => r.create(config)).not.toThrow();
  });

  it('refuses expectedPeers over the member cap at create: such a session could never start', () => {
    const r = new SessionRegistry(limits);
    expect(() => r.create(parseSessionConfig({ expectedPeers: 4 }))).toThrow(/expectedPeers: 4 exceeds this server's cap of 3 peers per session/);
    expect(r.size).toBe(0);
  });

  it('gives each member a shard, refuses joins of a finished session with its record, and keeps it longer', () => {
    let now = 0;
    const r = new SessionRegistry({ ...limits, finishedSessionTtlMs: 10_000 }, () => now);
    const { session: s } = r.create(parseSessionConfig({ expectedPeers: 2, rounds: 3 }));
    const a = r.join(s, node);
    const b = r.join(s, node);
    expect([a.shard, b.shard]).toEqual([0, 1]);
    expect(s.ledger.view()).toMatchObject({ status: 'running', shards: 2 });
    const h = '0123456789abcdef';
    s.ledger.report(a.id, { term: s.epoch, from: { round: 0, hash: h }, to: { round: 3, hash: h } });
    expect(() => r.join(s, node)).toThrow(/finished at round 3 with parameters 0123456789abcdef/);
    r.leave(s, a.id);
    r.leave(s, b.id);
    now = 5000;
    expect(r.sweep()).toBe(0); // an idle unfinished session would be gone by now
    now = 20_000;
    expect(r.sweep()).toBe(1);
  });

  it('token bucket allows a burst, then refills at the configured rate', () => {
    let t = 0;
    const bucket = new TokenBucket({ burst: 3, perSecond: 2 }, () => t);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    t = 500;
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
  });
});
