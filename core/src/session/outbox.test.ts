import { describe, expect, it } from 'vitest';
import type { TrustedUpdate } from '../optim/strategy';
import { decodeMessage, type Message, type SnapshotMessage } from '../protocol/messages';
import { createMemoryHub } from '../transport/memory';
import type { SessionView } from './context';
import { hashParams } from './hash';
import { createOutbox } from './outbox';
import { Replica } from './replica';
import type { RoundReport } from './round-report';
import { SnapshotAssembler } from './snapshot';

/**
 * A large snapshot streams: at most 64 pieces wait in the transport, the state sent is the one
 * asked for even when rounds are applied meanwhile, and what is sent to that peer afterwards
 * arrives after the snapshot's last piece (the order the peer relies on).
 */

// 2d = 1.2M floats: 74 pieces of 16,384, more than the 64 the outbox hands over at a time
const d = 600_000;
/** the counters the outbox reports to; the round report itself is not under test here */
const counters = { sent: () => {}, snapshotSent: () => {} } as unknown as RoundReport;
/** an update that adds one to every coordinate */
const plusOne = { apply: (x: Float32Array) => x.forEach((v, i) => (x[i] = v + 1)) };

describe('outbox: snapshots', () => {
  it('streams a large snapshot of the state it was asked for, with later messages behind it', async () => {
    const hub = createMemoryHub({ delayMs: 1 });
    const [a, b] = [hub.join(), hub.join()];
    const received: Message[] = [];
    let statusAt = -1;
    const done = new Promise<void>((resolve) =>
      b.subscribe({
        message: (_from, bytes) => {
          const msg = decodeMessage(bytes, { maxBytes: 4 * d + 128 * 1024 });
          received.push(msg);
          if (msg.type === 'status') {
            statusAt = received.length - 1;
            resolve();
          }
        },
      }),
    );
    const params = Float32Array.from({ length: d }, (_, i) => Math.sin(i));
    const replica = new Replica(params, plusOne, 4);
    // the outbox reads the term and the members only (not a vote-shard plan, where there is one)
    const members: Omit<SessionView, 'plan'> = { term: 1, peers: [a.self, b.self], aggregator: a.self, started: true };
    const view = members as SessionView;
    const outbox = createOutbox({ transport: a, session: 's', view, replica, report: counters, fail: (where, e) => { throw new Error(`${where}: ${String(e)}`); }, isStopped: () => false });

    const asked = { x: replica.x.slice(), xPrev: replica.xPrev.slice(), round: replica.round };
    const before = hub.stats.messages;
    outbox.sendSnapshot(b.self);
    // the window: 64 pieces handed to the transport, the other 10 wait until those are sent
    expect(hub.stats.messages - before).toBe(64);
    // two rounds applied while it streams: the snapshot still carries the state asked for
    for (let round = 0; round < 2; round++) {
      replica.apply({ round, decidedInTerm: 1, hashBefore: replica.hash, counted: new Uint8Array(1), payload: new Uint8Array(0) }, {} as TrustedUpdate);
    }
    outbox.send(b.self, { type: 'status', round: replica.round, hash: replica.hash, oldest: 0, started: true });
    await done;

    const pieces = received.filter((m): m is SnapshotMessage => m.type === 'snapshot');
    expect(pieces).toHaveLength(Math.ceil((2 * d) / 16_384));
    expect(statusAt).toBe(pieces.length);
    const assembler = new SnapshotAssembler(d);
    let state = null;
    for (const p of pieces) state = assembler.add(a.self, p) ?? state;
    expect(state?.round).toBe(asked.round);
    expect(hashParams(state!.x)).toBe(hashParams(asked.x));
    expect(hashParams(state!.xPrev)).toBe(hashParams(asked.xPrev));
    // and the replica went on from it
    expect(replica.round).toBe(2);
    expect(replica.x[0]).toBe(asked.x[0] + 2);
  }, 30_000);
});

describe('outbox: flushed', () => {
  it('resolves once the transport took every message, a streaming snapshot and what waits behind it included', async () => {
    // the hub settles a send when it delivers it: here 30 ms later
    const hub = createMemoryHub({ delayMs: 30 });
    const [a, b] = [hub.join(), hub.join()];
    const received: Message['type'][] = [];
    b.subscribe({ message: (_from, bytes) => void received.push(decodeMessage(bytes, { maxBytes: 4 * d + 128 * 1024 }).type) });
    const replica = new Replica(Float32Array.from({ length: d }, (_, i) => Math.cos(i)), plusOne, 4);
    const view = { term: 1, peers: [a.self, b.self], aggregator: a.self, started: true } as Omit<SessionView, 'plan'> as SessionView;
    const outbox = createOutbox({ transport: a, session: 's', view, replica, report: counters, fail: (where, e) => { throw new Error(`${where}: ${String(e)}`); }, isStopped: () => false });

    await outbox.flushed();
    outbox.send(b.self, { type: 'status', round: 0, hash: replica.hash, oldest: 0, started: true });
    await outbox.flushed();
    expect(received).toEqual(['status']);

    outbox.sendSnapshot(b.self);
    outbox.send(b.self, { type: 'open', round: 0, hash: replica.hash });
    await outbox.flushed();
    // every piece (more than the window of 64 handed over at a time), then the message behind them
    expect(received.length).toBe(1 + Math.ceil((2 * d) / 16_384) + 1);
    expect(received.at(-1)).toBe('open');
  }, 30_000);
});
