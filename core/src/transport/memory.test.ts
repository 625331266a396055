import { describe, expect, it } from 'vitest';
import { createMemoryHub } from './memory';
import type { Membership } from './transport';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('in-memory hub', () => {
  it('publishes epochs in join order, in increasing order, also to late subscribers', async () => {
    const hub = createMemoryHub();
    const a = hub.join();
    const seen: Membership[] = [];
    a.subscribe({ membership: (m) => seen.push(m) });
    const b = hub.join();
    hub.join();
    await tick();
    hub.leave(b.self);
    await tick();
    expect(seen.map((m) => m.epoch)).toEqual([1, 2, 3, 4]);
    expect(seen.at(-1)!.peers).toEqual(['p1', 'p3']);
    const late: Membership[] = [];
    hub.join().subscribe({ membership: (m) => late.push(m) });
    await tick();
    expect(late.map((m) => m.epoch)).toEqual([5]);
    expect(late[0].peers).toEqual(['p1', 'p3', 'p4']);
  });

  it('delivers asynchronously and FIFO per pair, also with random per-message delays', async () => {
    let k = 0;
    const hub = createMemoryHub({ delayMs: () => [5, 0, 12, 1][k++ % 4] });
    const a = hub.join();
    const b = hub.join();
    const got: number[] = [];
    b.subscribe({ message: (from, bytes) => from === a.self && got.push(bytes[0]) });
    for (let i = 0; i < 20; i++) void a.send(b.self, new Uint8Array([i]));
    expect(got).toEqual([]);
    await tick(60);
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('a left peer receives nothing more and cannot send', async () => {
    const hub = createMemoryHub();
    const a = hub.join();
    const b = hub.join();
    let got = 0;
    b.subscribe({ message: () => got++ });
    void a.send(b.self, new Uint8Array([1]));
    hub.leave(b.self);
    await tick();
    expect(got).toBe(0);
    await expect(a.send(b.self, new Uint8Array([2]))).rejects.toThrow(/not reachable/);
    await expect(b.send(a.self, new Uint8Array([2]))).rejects.toThrow(/left/);
  });

  it('drops a muted peer\'s messages and applies the fault hook', async () => {
    const hub = createMemoryHub();
    const [a, b, c] = [hub.join(), hub.join(), hub.join()];
    const got: string[] = [];
    c.subscribe({ message: (from) => got.push(from) });
    hub.dropOutgoing(a.self, true);
    hub.setFault(({ from }) => (from === b.self ? 'drop' : 'deliver'));
    await a.send(c.self, new Uint8Array(1));
    await b.send(c.self, new Uint8Array(1));
    hub.dropOutgoing(a.self, false);
    hub.setFault(undefined);
    await a.send(c.self, new Uint8Array(1));
    await tick();
    expect(got).toEqual([a.self]);
    expect(hub.stats.dropped).toBe(2);
  });

  it('moves 100 peers x 100 messages quickly', async () => {
    const hub = createMemoryHub();
    const peers = Array.from({ length: 100 }, () => hub.join());
    let got = 0;
    for (const p of peers) p.subscribe({ message: () => got++ });
    const t0 = performance.now();
    const payload = new Uint8Array(6400);
    const sends: Promise<void>[] = [];
    for (let r = 0; r < 100; r++) for (let i = 1; i < 100; i++) sends.push(peers[i].send(peers[0].self, payload));
    await Promise.all(sends);
    await tick();
    expect(got).toBe(9900);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('joinMany publishes one epoch with every new member, in order', async () => {
    const hub = createMemoryHub();
    const first = hub.join();
    const seen: Membership[] = [];
    first.subscribe({ membership: (m) => seen.push(m) });
    const more = hub.joinMany(3);
    const late: Membership[] = [];
    more[2].subscribe({ membership: (m) => late.push(m) });
    await tick();
    expect(more.map((t) => t.self)).toEqual(['p2', 'p3', 'p4']);
    expect(seen.map((m) => m.epoch)).toEqual([1, 2]);
    expect(seen[1].peers).toEqual(['p1', 'p2', 'p3', 'p4']);
    expect(late).toEqual([seen[1]]);
    expect(() => hub.joinMany(0)).toThrow(/positive integer/);
  });

  it('gives timers turns while replies chain through many small drains', async () => {
    // each reply waits a microtask, so every drain empties the queue: a per-drain message budget
    // never trips and, without a budget kept across drains, timers get no turn at all
    const hub = createMemoryHub();
    const [a, b] = hub.joinMany(2);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    let volleys = 0;
    const finished = new Promise<void>((resolve) => {
      const bounce = (self: typeof a) => async (from: string) => {
        await Promise.resolve();
        if (++volleys === 30_000) return resolve();
        void self.send(from, new Uint8Array(1));
      };
      a.subscribe({ message: bounce(a) });
      b.subscribe({ message: bounce(b) });
    });
    void a.send(b.self, new Uint8Array(1));
    await finished;
    const ms = performance.now() - t0;
    clearInterval(timer);
    // about one turn per 8 ms slice; a loaded machine stretches slices, but a hub that never
    // yields gives none at all (`ms` counts time the machine gave to others too)
    expect(ticks).toBeGreaterThanOrEqual(2);
    expect(ticks).toBeGreaterThan(ms / 200);
  });
});
