import { parseSessionConfig, type SessionConfig, type SessionConfigInput } from '../config';
import { createStrategy } from '../optim';
import {
  createSessionPeer, type CheckpointStore, type Clock, type SessionEvent, type SessionGradient, type SessionPeer,
} from '../session';
import { createMemoryHub, type MemoryHub, type MemoryHubOptions } from '../transport/memory';
import type { Transport } from '../transport/transport';
import { createSkewedQuadratic, type SyntheticProblem } from './skewed-quadratic';

/**
 * A small simulated session for tests that act on single peers at exact rounds: n peers on an
 * in-memory hub, added one by one (each join a new term, as in a real session), training the
 * seeded noisy quadratic (skewed-quadratic.ts) with majority-vote momentum signs, on the wall
 * clock or a manual one (clock.ts). Whole runs go through runLocalSession (local.ts) instead.
 */
export interface SimPeer {
  readonly peer: SessionPeer;
  readonly transport: Transport;
  readonly events: SessionEvent[];
  /** rounds applied, in order */
  readonly applied: number[];
}

export interface Sim {
  readonly hub: MemoryHub;
  readonly problem: SyntheticProblem;
  readonly config: SessionConfig;
  readonly peers: SimPeer[];
  add(opts?: { slow?: (round: number) => number; checkpoints?: CheckpointStore }): SimPeer;
  alive(): SimPeer[];
  stop(): Promise<void>;
}

export interface SimOptions {
  readonly n: number;
  readonly d?: number;
  readonly config?: SessionConfigInput;
  readonly hub?: MemoryHubOptions;
  readonly problemSeed?: number;
  readonly checkpoints?: (i: number) => CheckpointStore | undefined;
  /** called synchronously for every event of every peer (tests act at exact rounds) */
  readonly onEvent?: (i: number, e: SessionEvent) => void;
  readonly evaluate?: (x: Float32Array) => Promise<{ loss: number; accuracy: number }>;
  readonly clock?: Clock;
}

export function createSim(options: SimOptions): Sim {
  const config = parseSessionConfig({
    rounds: 40,
    expectedPeers: options.n,
    deadlineMs: 2000,
    evalEvery: 0,
    ...options.config,
    algorithm: { name: 'mv-sto-signsgd-sim', lr: 0.05, R: 2, theta: 0.9, ...options.config?.algorithm },
  });
  const problem = createSkewedQuadratic({ d: options.d ?? 64, seed: options.problemSeed ?? 7, noise: 0.5 });
  const hub = createMemoryHub(options.hub);
  const peers: SimPeer[] = [];
  const left = new Set<string>();
  const sim: Sim = {
    hub,
    problem,
    config,
    peers,
    add(opts = {}) {
      const i = peers.length;
      const transport = hub.join();
      const grad = problem.gradient(i, 4);
      const gradient: SessionGradient = async (at, round) => {
        const wait = opts.slow?.(round) ?? 0;
        // Infinity: a worker that hangs for good (a frozen tab)
        if (wait === Infinity) await new Promise(() => {});
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        return { grad: await grad(at), loss: problem.loss(at) };
      };
      const events: SessionEvent[] = [];
      const applied: number[] = [];
      const peer = createSessionPeer({
        transport,
        config,
        strategy: createStrategy(config.algorithm),
        params: problem.x0,
        gradient,
        evaluate: options.evaluate,
        clock: options.clock,
        checkpoints: opts.checkpoints ?? options.checkpoints?.(i),
        onEvent: (e) => {
          events.push(e);
          if (e.type === 'round') applied.push(e.round);
          options.onEvent?.(i, e);
        },
      });
      const p = { peer, transport, events, applied };
      peers.push(p);
      return p;
    },
    alive: () => peers.filter((p) => !left.has(p.peer.self) && hub.epoch.peers.includes(p.peer.self)),
    async stop() {
      for (const p of peers) await p.peer.stop();
    },
  };
  for (let i = 0; i < options.n; i++) sim.add();
  return sim;
}

/** Polls `cond` on the macrotask queue until it holds (or fails after `ms`). */
export async function waitFor(cond: () => boolean, ms = 20_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
