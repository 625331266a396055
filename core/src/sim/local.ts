import { parseSessionConfig, type SessionConfig } from '../config';
import { createStrategy } from '../optim';
import type { Strategy, WorkerState } from '../optim/strategy';
import { decodeMessage } from '../protocol/messages';
import {
  createSessionPeer, type Clock, type DropReason, type SessionEvent, type SessionGradient, type SessionPeer, type SessionStats,
} from '../session';
import { createMemoryHub, type MemoryHub } from '../transport/memory';
import type { Membership, PeerId, Transport, TransportListener } from '../transport/transport';
import { driveVirtualClock, VirtualClock } from './clock';

/**
 * n session peers on one in-memory hub, run to the last round: THE in-process runner, under
 * `npm run simulate` (synthetic.ts, model.ts), the experiment runner (node/experiment) and the
 * tests, so simulations go through the same round state machine as real peers (DESIGN: "the
 * one idea that keeps it simple").
 *
 * Time is virtual by default. The session's deadlines are set on a clock that only moves when
 * the run is quiescent: no message in flight on the hub, no epoch undelivered, no gradient or
 * evaluation pending. Then nothing but a timer can make progress, so the clock jumps to the
 * earliest one. A healthy run therefore never sees a deadline fire however slow the machine,
 * which keeps runs reproducible bit for bit, while a lost ballot costs one deadline of virtual
 * time instead of real waiting. A gradient that never settles stalls such a run: virtual time
 * cannot tell slow from hung. Pass `clock` to run on real (or test) time instead.
 *
 * Instant gradients make a run one long chain of microtasks; the hub, not this module, hands
 * the event loop its turns (transport/memory.ts), so timers, I/O and rendering keep running.
 *
 * Over 400 lines because runLocalSession is one closure on purpose: what "quiescent" means
 * (sends in flight, pending gradients and evaluations, epochs seen, crashed peers) is counted
 * by the transport and gradient wrappers, the evaluation queue and the event handler together,
 * and read by the clock's driver (clock.ts); split up, those counters would travel as
 * arguments between files. About a quarter of it is the documented options and result types.
 */

export interface LocalSessionOptions {
  /** validated again here; `expectedPeers` must not exceed `peers` */
  readonly config: SessionConfig;
  readonly peers: number;
  /** x^0, the same for every peer (copied) */
  readonly params: Float32Array;
  /** peer i's gradient hook (peer i joins i-th; peer 0 aggregates the first term) */
  gradientFor(peerIndex: number): SessionGradient;
  /**
   * Run on the parameters after every `config.evalEvery`-th round (when evalEvery > 0) and
   * after the last, on a copy taken when the first peer applies that round (every peer holds
   * the same parameters then). It runs beside the session, so round events are not held up
   * (no session peer is given an `evaluate` hook); calls are made one at a time, in round
   * order, and virtual time stands still while one is pending. A rejection fails the run.
   */
  readonly evaluate?: (x: Float32Array) => Promise<{ loss: number; accuracy: number }>;
  /** each evaluation as it settles, in round order (`round`: 0-based, as in LocalRound) */
  readonly onEvaluation?: (round: number, evaluation: { readonly loss: number; readonly accuracy: number }) => void;
  /** every event of every peer, synchronously (a throwing callback is ignored by the session) */
  readonly onEvent?: (peerIndex: number, e: SessionEvent) => void;
  /**
   * How the peers arrive on the hub. 'together' (default): all in one membership epoch, so the
   * session starts in one term without the status reports and stale-term drops of a term per
   * join. 'one-by-one': each joins in turn, as the peers of a real session arrive, so the
   * first round's byte counts include every intermediate term's status reports (how the
   * experiment runner has always measured, results/ included).
   */
  readonly arrival?: 'together' | 'one-by-one';
  /**
   * Peer i's ballot for round t is lost in transit; the aggregator tallies without it at the
   * deadline. The aggregator's own ballot never crosses the wire, so it cannot be lost.
   */
  readonly absent?: (round: number, peerIndex: number) => boolean;
  /**
   * Peers that crash right after applying a round: they leave the hub (a new membership
   * epoch, so a new term, and a new aggregator if it was the aggregator) and never return.
   * The run then finishes when every surviving peer has.
   */
  readonly crashes?: ReadonlyArray<{ readonly peer: number; readonly afterRound: number }>;
  /**
   * Replaces peer i's strategy (given the honest one) before its session starts: the hook for
   * adversarial peers (optim/adversary.ts), which lie in their worker step only.
   */
  readonly strategyFor?: (peerIndex: number, honest: Strategy) => Strategy;
  /** default: the virtual clock described above */
  readonly clock?: Clock;
  /** session id carried by every message (default 'local') */
  readonly session?: string;
  /** virtual deadlines that may fire in a row without any round applied before the run counts as stalled (default 1000) */
  readonly maxIdleTimers?: number;
}

export interface LocalRound {
  /** 0-based round */
  readonly round: number;
  /** index of the peer that tallied this round */
  readonly aggregator: number;
  /** ballots counted into the verdict */
  readonly counted: number;
  /** mean of the training losses the gradient hooks reported for this round (NaN: none did) */
  readonly trainLoss: number;
  /** the evaluation of the parameters after this round, when `evaluate` ran */
  readonly evaluation?: { readonly loss: number; readonly accuracy: number };
  /** encoded message bytes (protocol framing included) peer i sent / received for this round */
  readonly bytesUp: Float64Array;
  readonly bytesDown: Float64Array;
}

export interface LocalPeerResult {
  readonly self: PeerId;
  readonly round: number;
  readonly hash: string;
  readonly params: Float32Array;
  readonly stats: SessionStats;
  /** the strategy's per-peer memory counters */
  readonly nonFiniteGradients: number;
  readonly gradientCalls: number;
  /** crashed (`crashes`): its round, hash and params are where it stopped */
  readonly crashed: boolean;
}

export interface LocalSessionResult {
  /** the parameter hash every surviving peer ended on */
  readonly hash: string;
  /** the first surviving peer's final parameters (equal to every other survivor's: same hash) */
  readonly params: Float32Array;
  readonly peers: readonly LocalPeerResult[];
  readonly rounds: readonly LocalRound[];
  /** messages and bytes through the hub, and those lost to `absent` */
  readonly hub: { readonly messages: number; readonly bytes: number; readonly dropped: number };
  /** drops the peers counted, summed over peers */
  readonly dropped: Readonly<Partial<Record<DropReason, number>>>;
  /** virtual ms spent waiting on deadlines (0 with a caller's clock), and how many fired */
  readonly virtualMs: number;
  readonly timersFired: number;
  readonly wallMs: number;
}

function checkOptions(o: LocalSessionOptions): SessionConfig {
  if (!(Number.isInteger(o.peers) && o.peers >= 1 && o.peers <= 1000)) {
    throw new RangeError(`peers must be an integer in [1, 1000], got ${o.peers}`);
  }
  if (!(o.params instanceof Float32Array) || o.params.length === 0) throw new RangeError('params must be a non-empty Float32Array');
  if (typeof o.gradientFor !== 'function') throw new TypeError('gradientFor must be a function');
  const config = parseSessionConfig(o.config);
  // the session would wait for peers that never come
  if (config.expectedPeers > o.peers) {
    throw new RangeError(`config.expectedPeers (${config.expectedPeers}) exceeds the ${o.peers} local peers`);
  }
  for (const c of o.crashes ?? []) {
    if (!(Number.isInteger(c.peer) && c.peer >= 0 && c.peer < o.peers)) throw new RangeError(`crash: peer must be an index in [0, ${o.peers}), got ${c.peer}`);
    if (!(Number.isInteger(c.afterRound) && c.afterRound >= 0 && c.afterRound < config.rounds - 1)) {
      throw new RangeError(`crash: afterRound must be an integer in [0, ${config.rounds - 1}), got ${c.afterRound}`);
    }
  }
  if (new Set((o.crashes ?? []).map((c) => c.peer)).size === o.peers) throw new RangeError('crash: at least one peer must survive');
  if (o.arrival !== undefined && o.arrival !== 'together' && o.arrival !== 'one-by-one') {
    throw new RangeError(`arrival must be 'together' or 'one-by-one', got ${String(o.arrival)}`);
  }
  return config;
}

export async function runLocalSession(options: LocalSessionOptions): Promise<LocalSessionResult> {
  const config = checkOptions(options);
  const n = options.peers;
  const t0 = performance.now();
  const virtual = options.clock === undefined ? new VirtualClock() : null;
  const clock: Clock = options.clock ?? virtual!;
  const hub: MemoryHub = createMemoryHub();
  const maxIdleTimers = options.maxIdleTimers ?? 1000;

  // ---- what "quiescent" is made of ----
  let inflightSends = 0;
  let pendingWork = 0;
  const seenEpoch = new Int32Array(n);
  const crashed = new Uint8Array(n);
  const crashAfter = new Map<number, number>();
  for (const c of options.crashes ?? []) crashAfter.set(c.peer, Math.min(c.afterRound, crashAfter.get(c.peer) ?? Infinity));
  const indexOf = new Map<PeerId, number>();

  // ---- per-round collection ----
  interface Pending {
    aggregator: number;
    counted: number;
    lossSum: number;
    lossCount: number;
    evaluation?: { readonly loss: number; readonly accuracy: number };
    bytesUp: Float64Array;
    bytesDown: Float64Array;
  }
  const rounds: Pending[] = [];
  const roundAt = (r: number): Pending => {
    while (rounds.length <= r) {
      rounds.push({ aggregator: -1, counted: 0, lossSum: 0, lossCount: 0, bytesUp: new Float64Array(n), bytesDown: new Float64Array(n) });
    }
    return rounds[r];
  };
  let roundEvents = 0;

  let settle!: { resolve: () => void; reject: (e: Error) => void };
  const outcome = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  let settled = false;
  const fail = (e: Error): void => {
    if (settled) return;
    settled = true;
    settle.reject(e);
  };

  if (options.absent !== undefined) {
    const absent = options.absent;
    hub.setFault(({ from, bytes }) => {
      const i = indexOf.get(from);
      if (i === undefined) return 'deliver';
      let msg;
      try {
        msg = decodeMessage(bytes);
      } catch {
        // not ours to judge: the receiver drops malformed bytes and counts them
        return 'deliver';
      }
      if (msg.type !== 'ballot') return 'deliver';
      try {
        return absent(msg.round, i) ? 'drop' : 'deliver';
      } catch (e) {
        fail(new Error(`absent(${msg.round}, ${i}) threw: ${e instanceof Error ? e.message : String(e)}`));
        return 'deliver';
      }
    });
  }

  const workerStates: (WorkerState | null)[] = new Array<WorkerState | null>(n).fill(null);
  const peers: SessionPeer[] = [];
  const together = (options.arrival ?? 'together') === 'together' ? hub.joinMany(n) : null;
  try {
    for (let i = 0; i < n; i++) {
      // one-by-one: each join publishes an epoch, after the peers before it have subscribed
      const transport = together?.[i] ?? hub.join();
      indexOf.set(transport.self, i);
      peers.push(createSessionPeer({
        transport: observed(transport, i),
        config,
        strategy: keepingState(options.strategyFor?.(i, createStrategy(config.algorithm)) ?? createStrategy(config.algorithm), i),
        params: options.params,
        gradient: tracked(options.gradientFor(i)),
        clock,
        session: options.session,
        onEvent: (e) => onEvent(i, e),
      }));
    }
  } catch (e) {
    for (const p of peers) await p.stop();
    throw e;
  }

  function observed(inner: Transport, i: number): Transport {
    return {
      self: inner.self,
      send(to, bytes) {
        inflightSends++;
        // the hub resolves a send on delivery (or on a drop), so this counts messages still queued
        try {
          return inner.send(to, bytes).finally(() => inflightSends--);
        } catch (e) {
          inflightSends--;
          throw e;
        }
      },
      subscribe(listener: TransportListener) {
        return inner.subscribe({
          ...listener,
          membership: (m: Membership) => {
            seenEpoch[i] = Math.max(seenEpoch[i], m.epoch);
            listener.membership?.(m);
          },
        });
      },
      reportUnreachable: (peer) => inner.reportUnreachable?.(peer),
      close: () => inner.close(),
    };
  }

  function keepingState(strategy: Strategy, i: number): Strategy {
    return {
      ...strategy,
      createWorkerState(d: number): WorkerState {
        const s = strategy.createWorkerState(d);
        workerStates[i] = s;
        return s;
      },
    };
  }

  /** counts the caller's async work as pending, so virtual time stands still while it runs */
  function tracked<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
    return (...args) => {
      pendingWork++;
      let p: Promise<R>;
      try {
        p = Promise.resolve(fn(...args));
      } catch (e) {
        pendingWork--;
        throw e;
      }
      return p.finally(() => pendingWork--);
    };
  }

  // ---- evaluations, beside the session ----
  const evaluate = options.evaluate;
  const evaluated = new Set<number>();
  let evaluations: Promise<void> = Promise.resolve();
  let evaluationFailure: Error | null = null;
  const evaluationDue = (round: number): boolean =>
    evaluate !== undefined && !evaluated.has(round) &&
    ((config.evalEvery > 0 && (round + 1) % config.evalEvery === 0) || round + 1 === config.rounds);
  function evaluateAfter(round: number, x: Float32Array): void {
    evaluated.add(round);
    const copy = new Float32Array(x);
    pendingWork++;
    evaluations = evaluations
      .then(async () => {
        const e = await evaluate!(copy);
        const evaluation = { loss: e.loss, accuracy: e.accuracy };
        roundAt(round).evaluation = evaluation;
        options.onEvaluation?.(round, evaluation);
      })
      .catch((e: unknown) => {
        evaluationFailure ??= new Error(`evaluate after round ${round}: ${e instanceof Error ? e.message : String(e)}`);
        fail(evaluationFailure);
      })
      .finally(() => pendingWork--);
  }

  const finished = new Uint8Array(n);
  function checkDone(): void {
    if (settled) return;
    for (let i = 0; i < n; i++) if (finished[i] === 0 && crashed[i] === 0) return;
    settled = true;
    settle.resolve();
  }
  function crash(i: number): void {
    crashed[i] = 1;
    checkDone();
    // after the event has run its course: the peer finishes the step it is in (sends included),
    // then vanishes, as a process killed between two rounds would
    queueMicrotask(() => {
      hub.leave(peers[i].self);
      void peers[i].stop();
    });
  }
  function onEvent(i: number, e: SessionEvent): void {
    if (crashed[i] === 1) return;
    switch (e.type) {
      case 'round': {
        const r = roundAt(e.round);
        r.bytesUp[i] += e.bytesUp;
        r.bytesDown[i] += e.bytesDown;
        if (e.role === 'aggregator') {
          r.aggregator = i;
          r.counted = e.counted;
        }
        if (Number.isFinite(e.loss)) {
          r.lossSum += e.loss;
          r.lossCount++;
        }
        if (evaluationDue(e.round)) evaluateAfter(e.round, peers[i].state().x);
        roundEvents++;
        // >=: a peer that skipped rounds by installing a snapshot still crashes at its next one
        if (e.round >= (crashAfter.get(i) ?? Infinity)) crash(i);
        break;
      }
      case 'finished':
        finished[i] = 1;
        checkDone();
        break;
      case 'error':
        fail(new Error(`peer ${i} (${peers[i]?.self ?? '?'}): ${e.error}`));
        break;
      default:
        break;
    }
    options.onEvent?.(i, e);
  }

  // ---- the virtual clock's driver ----
  const quiescent = (): boolean => {
    if (inflightSends > 0 || pendingWork > 0) return false;
    // an epoch on its way usually comes with status reports in flight, but a term change that
    // sends nothing yet must not look like a stall either
    const epoch = hub.epoch.epoch;
    for (let i = 0; i < n; i++) if (crashed[i] === 0 && seenEpoch[i] < epoch) return false;
    return true;
  };
  const where = (): string => peers.map((p, i) => `${i}@${p.state().round}`).join(' ');
  const driver = virtual === null ? null : driveVirtualClock(virtual, {
    // a settled run fires nothing more
    quiescent: () => !settled && quiescent(),
    progress: () => roundEvents,
    maxIdleTimers,
    stalled: (why) => fail(new Error(`local session stalled: ${why} (peer@round: ${where()})`)),
  });

  try {
    await outcome;
    // the last evaluations may still be running once every peer has finished
    await evaluations;
    if (evaluationFailure !== null) throw evaluationFailure;
    const results: LocalPeerResult[] = peers.map((p, i) => {
      const s = p.state();
      return {
        self: p.self,
        round: s.round,
        hash: s.hash,
        params: new Float32Array(s.x),
        stats: p.stats(),
        nonFiniteGradients: workerStates[i]?.nonFiniteGradients ?? 0,
        gradientCalls: workerStates[i]?.gradientCalls ?? 0,
        crashed: crashed[i] === 1,
      };
    });
    const alive = results.filter((r) => !r.crashed);
    const hashes = new Set(alive.map((r) => r.hash));
    // every peer applied the same verdicts in the same order: anything else is a protocol bug
    if (hashes.size !== 1) {
      throw new Error(`peers disagree after the last round: ${hashes.size} distinct parameter hashes (${alive.map((r) => r.hash).join(', ')})`);
    }
    const dropped: Partial<Record<DropReason, number>> = {};
    for (const r of results) {
      for (const [reason, count] of Object.entries(r.stats.dropped) as [DropReason, number][]) {
        dropped[reason] = (dropped[reason] ?? 0) + count;
      }
    }
    return {
      hash: alive[0].hash,
      params: alive[0].params,
      peers: results,
      rounds: rounds.map((r, round) => ({
        round,
        aggregator: r.aggregator,
        counted: r.counted,
        trainLoss: r.lossCount > 0 ? r.lossSum / r.lossCount : Number.NaN,
        ...(r.evaluation !== undefined && { evaluation: r.evaluation }),
        bytesUp: r.bytesUp,
        bytesDown: r.bytesDown,
      })),
      hub: { ...hub.stats },
      dropped,
      virtualMs: virtual?.now() ?? 0,
      timersFired: driver?.fired ?? 0,
      wallMs: performance.now() - t0,
    };
  } finally {
    settled = true;
    driver?.stop();
    for (const p of peers) await p.stop();
  }
}
