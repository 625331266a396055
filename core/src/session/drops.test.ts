import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { encodeMessage, PROTOCOL_VERSION } from '../protocol/messages';
import { createSim } from '../sim/testing';

describe('bad input from the network', () => {
  it('is dropped and counted, and the session trains on', async () => {
    const hash = '0123456789abcdef';
    let injected = false;
    const sim = createSim({
      n: 5,
      config: { rounds: 20 },
      onEvent: (i, e) => {
        if (i !== 0 || e.type !== 'round' || e.round !== 5) return;
        injected = true;
        const agg = sim.peers[0].peer;
        const rogue = sim.peers[2].transport;
        const term = agg.state().term;
        const ballot = { v: PROTOCOL_VERSION, type: 'ballot', session: 'local', term, round: 6, hash, payload: new Uint8Array(9) } as const;
        const bad: Uint8Array[] = [
          new Uint8Array([0xc1, 0xff, 0x00]),
          pack({ ...ballot, v: PROTOCOL_VERSION + 1 }),
          pack({ v: PROTOCOL_VERSION, type: 'gossip', session: 'local', term }),
          pack({ ...ballot, hash: 'not a hash' }),
          pack({ ...ballot, payload: [1, 2, 3] }),
          encodeMessage({ ...ballot, session: 'another' }),
          encodeMessage({ ...ballot, term: term - 1 }),
          encodeMessage({ ...ballot, round: 2 }),
          new Uint8Array(4 * 64 + 200 * 1024),
        ];
        for (const b of bad) void rogue.send(agg.self, b);
      },
    });
    const res = await Promise.all(sim.peers.map((p) => p.peer.finished));
    expect(injected).toBe(true);
    expect(new Set(res.map((r) => r.hash)).size).toBe(1);
    const dropped = sim.peers[0].peer.stats().dropped;
    expect(dropped.malformed).toBe(1);
    expect(dropped.version).toBe(1);
    expect(dropped['unknown-type']).toBe(1);
    expect(dropped.invalid).toBe(2);
    expect(dropped['wrong-session']).toBe(1);
    expect(dropped['too-large']).toBe(1);
    expect(dropped['stale-term']).toBeGreaterThanOrEqual(1);
    expect(dropped['stale-round']).toBeGreaterThanOrEqual(1);
    // every verdict still counted every honest peer
    const rounds = sim.peers[0].events.filter((e) => e.type === 'round');
    expect(rounds.length).toBe(20);
    expect(rounds.every((e) => e.type === 'round' && e.counted === 5)).toBe(true);
    expect(sim.peers[0].events.some((e) => e.type === 'error')).toBe(false);
    await sim.stop();
  });
});
