import { describe, expect, it } from 'vitest';
import { createSim, waitFor, type SimPeer } from '../sim/testing';
import { SessionEndedError, type SessionEvent } from './events';

/**
 * The round machine with a session record (docs/session.md, "The session record") on the
 * in-memory hub: the record's ledger is the signaling server's, so these are the server's rules.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const of = <T extends SessionEvent['type']>(p: SimPeer, type: T) => p.events.filter((e): e is Extract<SessionEvent, { type: T }> => e.type === type);

describe('a session with a record', () => {
  it('commits its progress as it goes, finishes in the record, and each peer finishes on the record\'s hash', async () => {
    const sim = createSim({ n: 3, record: true, config: { rounds: 30, deadlineMs: 500, checkpointEvery: 10 } });
    const done = await Promise.all(sim.peers.map((p) => p.peer.finished));
    const record = sim.record!.ledger.view();
    expect(record).toMatchObject({ status: 'finished', round: 30, finished: { round: 30, hash: done[0].hash }, shards: 3 });
    expect(new Set(done.map((d) => d.hash))).toEqual(new Set([done[0].hash]));
    // a few reports, not one per round, and never past a checkpoint round
    const committed = sim.peers.flatMap((p) => of(p, 'committed'));
    expect(committed.length).toBeGreaterThan(0);
    expect(committed.length).toBeLessThanOrEqual(30);
    for (const r of [10, 20, 30]) expect(committed.map((c) => c.round)).toContain(r);
    // the committed hashes are the ones the peers applied
    const applied = new Map(of(sim.peers[1], 'round').map((e) => [e.round + 1, e.hash]));
    for (const c of committed) expect(c.hash).toBe(applied.get(c.round));
    // the end is stored, so it outlives the peers
    expect(record.snapshot).toMatchObject({ round: 30, hash: done[0].hash });
    await sim.stop();
  });

  it('finding 2: a stalled peer that comes back after the others finished and left takes the end, it does not decide rounds alone', async () => {
    const stallAt = 10;
    let frozen = false;
    const sim = createSim({
      n: 2,
      record: true,
      config: { rounds: 30, deadlineMs: 100 },
      onEvent: (i, e) => {
        if (i === 1 && e.type === 'round' && e.round === stallAt - 1) frozen = true;
      },
    });
    const w = sim.peers[1];
    // a SIGSTOPped process: nothing reaches it and nothing leaves it until it is continued
    sim.hub.setFault(({ to, from }) => (frozen && (to === w.peer.self || from === w.peer.self) ? 'drop' : 'deliver'));
    const events = w.events;
    await waitFor(() => events.some((e) => e.type === 'round' && e.round === stallAt - 1), 10_000, 'round 9 at the stalled peer');
    const a = sim.peers[0];
    const end = await a.peer.finished;
    expect(sim.record!.ledger.view()).toMatchObject({ status: 'finished', finished: end });
    sim.hub.leave(a.peer.self);
    await sleep(50);
    frozen = false;
    const mine = await w.peer.finished;
    expect(mine).toEqual(end);
    // it applied no round after the stall: the end came from the record's snapshot
    expect(Math.max(...w.applied)).toBe(stallAt - 1);
    expect(of(w, 'resync').some((e) => e.from === 'record')).toBe(true);
    await sim.stop();
  });

  it('finding 3: a peer joining a finished session after everyone left finishes on its end without training', async () => {
    const sim = createSim({ n: 3, record: true, config: { rounds: 12, deadlineMs: 100 } });
    const done = await Promise.all(sim.peers.map((p) => p.peer.finished));
    for (const p of sim.peers) sim.hub.leave(p.peer.self);
    const late = sim.add();
    expect(await late.peer.finished).toEqual(done[0]);
    expect(late.applied).toEqual([]);
    expect(of(late, 'waiting')).toEqual([]);
    expect(sim.record!.ledger.view().status).toBe('finished');
    await sim.stop();
  });

  it('starts with the peers present when the creator says so', async () => {
    const sim = createSim({ n: 2, record: true, config: { rounds: 8, deadlineMs: 100, expectedPeers: 5 } });
    await waitFor(() => sim.peers.every((p) => of(p, 'waiting').length > 0 || p.events.some((e) => e.type === 'term')), 5000, 'terms');
    await sleep(150);
    expect(sim.peers.every((p) => p.applied.length === 0)).toBe(true);
    expect(sim.record!.start()).toMatchObject({ status: 'running', shards: 2 });
    const done = await Promise.all(sim.peers.map((p) => p.peer.finished));
    expect(done[0]).toEqual(done[1]);
    expect(sim.peers[0].applied).toEqual(Array.from({ length: 8 }, (_, i) => i));
    await sim.stop();
  });

  it('a group behind the record that cannot reach its state gives up with the reason, instead of re-deciding committed rounds', async () => {
    let cut = false;
    const sim = createSim({ n: 3, record: true, config: { rounds: 100_000, deadlineMs: 60 } });
    const [a, b, c] = sim.peers;
    // c hears nothing from about round 3 on (a link that died), while a and b commit rounds
    sim.hub.setFault(({ from, to }) => (cut && (from === c.peer.self || to === c.peer.self) ? 'drop' : 'deliver'));
    await waitFor(() => a.applied.includes(3), 10_000, 'round 3');
    cut = true;
    await waitFor(() => sim.record!.ledger.view().round >= Math.max(...c.applied) + 10, 20_000, 'ten rounds committed past c');
    const committed = sim.record!.ledger.view().round;
    // the two holders of the committed state crash together; c is left alone, far behind
    sim.hub.leave(a.peer.self);
    sim.hub.leave(b.peer.self);
    cut = false;
    const err = await c.peer.finished.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionEndedError);
    expect(err).toMatchObject({ kind: 'diverged' });
    expect((err as Error).message).toMatch(/the session record holds round \d+ \(parameters [0-9a-f]{16}\), which no member holds/);
    // it decided nothing of its own: no round past where its link died
    expect(Math.max(...c.applied)).toBeLessThan(committed - 5);
    expect(of(c, 'gave-up')).toHaveLength(1);
    await sim.stop();
  });
  it('a record that cannot be reached at the end is not called a divergence: every peer on the one final hash says the end is unconfirmed', async () => {
    const sim = createSim({ n: 2, record: true, config: { rounds: 30, deadlineMs: 50 } });
    const [a] = sim.peers;
    await waitFor(() => a.applied.includes(5), 10_000, 'round 5');
    // the signaling server's store (Redis) goes down: every record call answers "internal error"
    sim.record!.setOutage(true);
    const ends = await Promise.all(sim.peers.map((p) => p.peer.finished.catch((e: unknown) => e)));
    const last = sim.peers.map((p) => of(p, 'round').at(-1));
    // training went on over the peers' own links: both applied the last round, on one hash
    expect(last.map((e) => e?.round)).toEqual([29, 29]);
    expect(new Set(last.map((e) => e?.hash)).size).toBe(1);
    for (const e of ends) {
      expect(e).toBeInstanceOf(SessionEndedError);
      expect(e).toMatchObject({ kind: 'dropped' });
      expect((e as Error).message).toMatch(/could not confirm the end with the session record: it cannot be reached \(internal error\)/);
    }
    await sim.stop();
  });
});
