import { parseSessionConfig, type SessionConfig, type SessionConfigInput } from '../config';
import { macrotask } from '../macrotask';
import { createStrategy } from '../optim';
import { createSkewedQuadratic, type SyntheticProblem } from './skewed-quadratic';
import { createRng } from '../random';
import { createMemoryHub, type MemoryHub } from '../transport/memory';
import type { Membership, PeerId, Transport } from '../transport/transport';
import type { CheckpointStore } from '../session/checkpoint';
import type { Clock } from '../session/context';
import type { SessionEvent } from '../session/events';
import { createSessionPeer, type SessionPeer } from '../session/peer';

/**
 * The network the fault matrix (faults.test.ts) runs on: session peers on the in-memory hub,
 * training a seeded noisy quadratic, on virtual time. Time moves only when the network is
 * quiescent (no message in flight, no epoch undelivered, no gradient computing): then the
 * earliest timer fires, be it a round deadline or the end of a gradient that takes virtual
 * time. A fault therefore hits exactly where the table says, and a slow or hung peer costs
 * virtual deadlines rather than wall time. A run without message delays is nearly always the
 * same; only the hub's time slices (it yields to the event loop by wall time) can deliver an
 * epoch before or after a message in flight.
 */

export interface FaultPeer {
  /** the hub's id: p1, p2, ... in join order */
  readonly id: PeerId;
  readonly peer: SessionPeer;
  readonly transport: Transport;
  readonly events: SessionEvent[];
  /** rounds applied here, in order */
  readonly applied: number[];
  /** joined with a checkpoint store, so it may start at the round of its checkpoint */
  readonly resumable: boolean;
}

export interface FaultNetOptions {
  readonly n: number;
  readonly config?: SessionConfigInput;
  /** seeded random per-message delays (0-3 ms of wall time on 30 % of messages), as in a real network */
  readonly jitterSeed?: number;
  /** virtual ms every gradient takes (default 0) */
  readonly gradientMs?: number;
  /** checkpoint store of peer i of the first n */
  readonly checkpoints?: (i: number) => CheckpointStore | undefined;
}

export interface JoinOptions {
  readonly checkpoints?: CheckpointStore;
}

/** Virtual time: timers run when `fireNext` says so, earliest first, ties in arming order. */
class VirtualClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void; deadline: boolean }>();
  /** session timers (deadlines) fired so far */
  deadlinesFired = 0;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    return this.arm(fn, ms, true);
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** a timer of the harness itself (a gradient's virtual duration, a scheduled fault) */
  after(ms: number, fn: () => void): void {
    this.arm(fn, ms, false);
  }
  fireNext(): boolean {
    let best: number | null = null, at = Infinity;
    for (const [id, timer] of this.timers) if (timer.at < at) [best, at] = [id, timer.at];
    if (best === null) return false;
    const timer = this.timers.get(best)!;
    this.timers.delete(best);
    this.t = Math.max(this.t, timer.at);
    if (timer.deadline) this.deadlinesFired++;
    timer.fn();
    return true;
  }
  private arm(fn: () => void, ms: number, deadline: boolean): number {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn, deadline });
    return id;
  }
}

export class FaultNet {
  readonly hub: MemoryHub;
  readonly clock = new VirtualClock();
  readonly config: SessionConfig;
  readonly problem: SyntheticProblem;
  readonly peers: FaultPeer[] = [];
  private readonly hooks: ((p: FaultPeer, e: SessionEvent) => void)[] = [];
  private inflight = 0;
  private computing = 0;
  private readonly seen = new Map<PeerId, number>();
  /**
   * Virtual ms the gradient of peer i (join order) for `round` takes, when it says (Infinity:
   * it never returns, a hung peer); else `gradientMs`. Set it before `run`; it may act too (a
   * peer that dies while computing its ballot).
   */
  gradientTime: (i: number, round: number) => number | undefined = () => undefined;

  constructor(private readonly options: FaultNetOptions) {
    this.config = parseSessionConfig({
      rounds: 20,
      expectedPeers: options.n,
      deadlineMs: 100,
      evalEvery: 0,
      ...options.config,
      algorithm: { name: 'mv-sto-signsgd-sim', lr: 0.05, R: 2, theta: 0.9, ...options.config?.algorithm },
    });
    this.problem = createSkewedQuadratic({ d: 64, seed: 7, noise: 0.5 });
    const jitter = options.jitterSeed === undefined ? null : createRng(options.jitterSeed);
    this.hub = createMemoryHub(jitter === null ? {} : { delayMs: () => (jitter.float() < 0.3 ? jitter.int(4) : 0) });
    for (let i = 0; i < options.n; i++) this.join({ checkpoints: options.checkpoints?.(i) });
  }

  /** peer i in join order (0: the first aggregator) */
  at(i: number): FaultPeer {
    return this.peers[i];
  }

  /** `fn` runs synchronously on every event of every peer: faults strike at exact rounds */
  on(fn: (p: FaultPeer, e: SessionEvent) => void): void {
    this.hooks.push(fn);
  }

  /** whether this peer is still a member (not left, not dropped as unreachable) */
  present(p: FaultPeer): boolean {
    return this.hub.epoch.peers.includes(p.id);
  }

  /** a crash: the peer leaves the hub and hears nothing more (a new epoch for the others) */
  leave(p: FaultPeer): void {
    this.hub.leave(p.id);
  }

  join(opts: JoinOptions = {}): FaultPeer {
    const i = this.peers.length;
    const inner = this.hub.join();
    const transport = this.observed(inner);
    const grad = this.problem.gradient(i, 4);
    const events: SessionEvent[] = [];
    const applied: number[] = [];
    let self!: FaultPeer;
    const peer = createSessionPeer({
      transport,
      config: this.config,
      strategy: createStrategy(this.config.algorithm),
      params: this.problem.x0,
      clock: this.clock,
      checkpoints: opts.checkpoints,
      gradient: async (at, round) => {
        const ms = this.gradientTime(i, round) ?? this.options.gradientMs ?? 0;
        if (ms === Infinity) await new Promise(() => {});
        if (ms > 0) await new Promise<void>((r) => this.clock.after(ms, r));
        this.computing++;
        try {
          return { grad: await grad(at), loss: this.problem.loss(at) };
        } finally {
          this.computing--;
        }
      },
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'round') applied.push(e.round);
        for (const h of this.hooks) h(self, e);
      },
    });
    self = { id: inner.self, peer, transport, events, applied, resumable: opts.checkpoints !== undefined };
    this.peers.push(self);
    return self;
  }

  /**
   * Runs until every peer still present has finished; fails on an `error` event, on a stall
   * (nothing in flight and no timer armed) and after `maxFirings` timers.
   */
  async run(maxFirings = 5000): Promise<void> {
    let firings = 0;
    const where = (): string => this.peers.map((p) => `${p.id}@${p.peer.state().round}${this.present(p) ? '' : '(gone)'}`).join(' ');
    for (;;) {
      await new Promise<void>((r) => macrotask(r));
      const error = this.peers.flatMap((p) => p.events).find((e) => e.type === 'error');
      if (error) throw new Error(`session error: ${JSON.stringify(error)}`);
      if (this.peers.filter((p) => this.present(p)).every((p) => p.events.some((e) => e.type === 'finished'))) return;
      if (!this.quiescent()) continue;
      if (++firings > maxFirings) throw new Error(`no end after ${maxFirings} timers (${where()})`);
      if (!this.clock.fireNext()) throw new Error(`stalled: nothing in flight and no timer armed (${where()})`);
    }
  }

  async stop(): Promise<void> {
    for (const p of this.peers) await p.peer.stop();
  }

  private quiescent(): boolean {
    if (this.inflight > 0 || this.computing > 0) return false;
    const epoch = this.hub.epoch;
    return epoch.peers.every((id) => (this.seen.get(id) ?? 0) >= epoch.epoch);
  }

  /** counts messages in flight (the hub settles a send on delivery or drop) and epochs delivered */
  private observed(inner: Transport): Transport {
    return {
      self: inner.self,
      send: (to, bytes) => {
        this.inflight++;
        return inner.send(to, bytes).finally(() => this.inflight--);
      },
      subscribe: (listener) =>
        inner.subscribe({
          ...listener,
          membership: (m: Membership) => {
            this.seen.set(inner.self, Math.max(this.seen.get(inner.self) ?? 0, m.epoch));
            listener.membership?.(m);
          },
        }),
      reportUnreachable: (peer) => inner.reportUnreachable?.(peer),
      close: () => inner.close(),
    };
  }
}
