import { describe, expect, it } from 'vitest';
import { parseSessionConfig } from '@signvote/core';
import { RegistryError, SessionRegistry } from './sessions';
import { TokenBucket } from './rate-limit';

const limits = { maxSessions: 2, maxPeersPerSession: 3, idleSessionTtlMs: 1000 };
const node = { backend: 'node' } as const;

describe('session registry', () => {
  it('checks tokens, assigns growing seqs and bumps the epoch on every change', () => {
    const r = new SessionRegistry(limits);
    const { session, token } = r.create(parseSessionConfig({}));
    expect(() => r.authorize(session.id, token.slice(1))).toThrow(RegistryError);
    expect(() => r.authorize('missing', token)).toThrow(/unknown session/);
    const s = r.authorize(session.id, token);
    const a = r.join(s, node);
    const b = r.join(s, node);
    expect([a.seq, b.seq]).toEqual([0, 1]);
    expect(r.leave(s, a.id)).toBe(true);
    expect(r.leave(s, a.id)).toBe(false);
    const c = r.join(s, node);
    expect(c.seq).toBe(2); // seqs are never reused, so join order stays total
    expect(r.membership(s)).toEqual({ epoch: 4, peers: [b, c] });
    r.join(s, node);
    expect(() => r.join(s, node)).toThrow(/peers already/);
  });

  it('drops a peer on a strict majority of reports from live members', () => {
    const r = new SessionRegistry(limits);
    const { session: s } = r.create(parseSessionConfig({}));
    const [a, b] = [r.join(s, node), r.join(s, node)];
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
    r.create(parseSessionConfig({}));
    const { session } = r.create(parseSessionConfig({}));
    r.join(session, node);
    expect(() => r.create(parseSessionConfig({}))).toThrow(/sessions already/);
    now = 5000;
    expect(r.sweep()).toBe(1); // the one with a member stays
    expect(r.size).toBe(1);
    expect(() => r.create(parseSessionConfig({}))).not.toThrow();
  });

  it('token bucket allows a burst, then refills at the configured rate', () => {
    let t = 0;
    const bucket = new TokenBucket({ burst: 3, perSecond: 2 }, () => t);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    t = 500;
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
  });
});
