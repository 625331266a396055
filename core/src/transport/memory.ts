import type { Membership, PeerId, Transport, TransportListener } from './transport';
import { macrotask } from '../macrotask';

/**
 * An in-process membership authority plus message bus, standing in for the signaling server
 * and WebRTC channels in tests and paper-scale simulations (50-100 peers in one process).
 *
 * Semantics copied from the real thing, because the session must not be able to tell them apart:
 * - every join (or `joinMany` batch) and leave publishes a new epoch (peers in join order) to every member;
 * - delivery is asynchronous and FIFO per (sender, receiver) pair, also under injected delay;
 * - `leave` is a crash: the peer gets nothing more, and sends to or from it reject.
 *
 * Delivery drains one hub-wide queue from a microtask, but hands the event loop a turn once the
 * current slice (everything delivered since the event loop last had a turn) has run SLICE_MS:
 * a simulation whose gradients resolve instantly would otherwise run a whole training in one
 * microtask chain and starve timers (round deadlines), I/O and a browser's rendering. The slice
 * is measured across drains, not per drain: at 50 peers each drain empties the queue long before
 * any per-drain budget, and the drains chain through promise callbacks without a turn between.
 */

/** What the fault hook decides for one message. */
export type FaultAction = 'deliver' | 'drop';

export interface SendInfo {
  readonly from: PeerId;
  readonly to: PeerId;
  readonly bytes: Uint8Array;
}

export interface MemoryHubOptions {
  /** delay (ms) for every message, or per message; 0 = next drain */
  readonly delayMs?: number | ((info: SendInfo) => number);
  /** peer ids are `${prefix}${n}`, n counting joins from 1 */
  readonly prefix?: string;
}

export interface MemoryHub {
  /** a new member at the end of the join order; publishes a new epoch */
  join(): Transport;
  /**
   * n new members at once, in order, under a single new epoch: a session that starts with all
   * its peers present gets one term instead of one per join (whose status reports and
   * stale-term drops grow as n^2/2)
   */
  joinMany(n: number): Transport[];
  /** crash a member: a new epoch without it, messages to and from it fail */
  leave(peer: PeerId): void;
  readonly epoch: Membership;
  /** fault injection: decide per message whether it arrives (`undefined` clears the hook) */
  setFault(hook: ((info: SendInfo) => FaultAction) | undefined): void;
  /** fault injection: drop every message this peer sends (a half-dead peer) */
  dropOutgoing(peer: PeerId, drop: boolean): void;
  /** messages and bytes that went through `send`, delivered or not */
  readonly stats: { messages: number; bytes: number; dropped: number };
  /**
   * Called synchronously with every new epoch, before any member hears of it: the authority's
   * own bookkeeping (the session record's ledger, core/src/record/memory.ts) follows the hub here.
   */
  watch(observer: (membership: Membership) => void): () => void;
}

interface Member {
  readonly id: PeerId;
  readonly listeners: Set<ListenerState>;
  alive: boolean;
}

interface ListenerState {
  readonly listener: TransportListener;
  /** highest epoch delivered to this listener, so replays never go backwards */
  seen: number;
}

interface Pending {
  readonly to: Member;
  readonly from: PeerId;
  readonly bytes: Uint8Array;
  readonly resolve: () => void;
}

interface Lane {
  /** delayed messages of one (from, to) pair, readyAt non-decreasing */
  readonly queue: { readonly item: Pending; readonly readyAt: number }[];
  lastReadyAt: number;
}

/** ms of deliveries after which the event loop gets a turn (half a 60 Hz frame) */
const SLICE_MS = 8;
/** deliveries between two clock reads */
const CHECK_EVERY = 16;

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());


export function createMemoryHub(options: MemoryHubOptions = {}): MemoryHub {
  const prefix = options.prefix ?? 'p';
  const members = new Map<PeerId, Member>();
  const order: PeerId[] = [];
  let joined = 0;
  let epoch: Membership = { epoch: 0, peers: [] };
  let fault: ((info: SendInfo) => FaultAction) | undefined;
  const mute = new Set<PeerId>();
  const observers = new Set<(m: Membership) => void>();
  const stats = { messages: 0, bytes: 0, dropped: 0 };

  const ready: (() => void)[] = [];
  let head = 0;
  let scheduled = false;
  const lanes = new Map<string, Lane>();
  /** when the current slice began; -1: the event loop has had a turn since */
  let sliceStart = -1;
  /** deliveries since the clock was last read, across drains like the slice itself */
  let unchecked = 0;
  const endSlice = (): void => {
    sliceStart = -1;
  };

  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(drain);
  };
  function drain(): void {
    if (sliceStart < 0) {
      sliceStart = now();
      // runs at the event loop's next turn, whoever gives it one (us below, or an awaited I/O)
      macrotask(endSlice);
    }
    while (head < ready.length) {
      if (++unchecked >= CHECK_EVERY) {
        unchecked = 0;
        if (now() - sliceStart >= SLICE_MS) {
          // `scheduled` stays set: sends meanwhile only queue; endSlice runs first (FIFO)
          macrotask(drain);
          return;
        }
      }
      const job = ready[head];
      ready[head++] = noop;
      try {
        job();
      } catch {
        // a throwing listener must not stop delivery to everyone else
      }
    }
    ready.length = 0;
    head = 0;
    scheduled = false;
  }
  const enqueue = (job: () => void): void => {
    ready.push(job);
    schedule();
  };

  const deliver = (p: Pending): void => {
    p.resolve();
    if (!p.to.alive) return;
    for (const l of p.to.listeners) l.listener.message?.(p.from, p.bytes);
  };

  const publish = (): void => {
    epoch = { epoch: epoch.epoch + 1, peers: order.filter((id) => members.get(id)?.alive) };
    const snapshot = epoch;
    for (const o of observers) o(snapshot);
    for (const id of snapshot.peers) {
      const m = members.get(id);
      if (m) for (const l of m.listeners) enqueue(() => deliverEpoch(m, l, snapshot));
    }
  };
  const deliverEpoch = (m: Member, l: ListenerState, e: Membership): void => {
    if (!m.alive || !m.listeners.has(l) || e.epoch <= l.seen) return;
    l.seen = e.epoch;
    l.listener.membership?.(e);
  };

  const flushLane = (lane: Lane, now: number): void => {
    while (lane.queue.length > 0 && lane.queue[0].readyAt <= now) {
      const { item } = lane.queue.shift()!;
      enqueue(() => deliver(item));
    }
    if (lane.queue.length > 0) {
      setTimeout(() => flushLane(lane, Date.now()), Math.max(0, lane.queue[0].readyAt - now));
    }
  };

  const send = (from: Member, to: PeerId, bytes: Uint8Array): Promise<void> => {
    if (!from.alive) return Promise.reject(new Error(`peer ${from.id} has left the hub`));
    const target = members.get(to);
    if (!target || !target.alive) return Promise.reject(new Error(`peer ${to} is not reachable`));
    stats.messages++;
    stats.bytes += bytes.byteLength;
    const info: SendInfo = { from: from.id, to, bytes };
    if (mute.has(from.id) || (fault !== undefined && fault(info) === 'drop')) {
      stats.dropped++;
      // a dropped message still "left" the sender, as on a channel that dies in flight
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const item: Pending = { to: target, from: from.id, bytes, resolve };
      const delay = typeof options.delayMs === 'function' ? options.delayMs(info) : (options.delayMs ?? 0);
      const key = `${from.id}\u0000${to}`;
      let lane = lanes.get(key);
      if (delay <= 0 && (lane === undefined || lane.queue.length === 0)) {
        enqueue(() => deliver(item));
        return;
      }
      if (lane === undefined) {
        lane = { queue: [], lastReadyAt: 0 };
        lanes.set(key, lane);
      }
      const now = Date.now();
      const readyAt = Math.max(now + Math.max(0, delay), lane.lastReadyAt);
      lane.lastReadyAt = readyAt;
      lane.queue.push({ item, readyAt });
      if (lane.queue.length === 1) {
        const l = lane;
        setTimeout(() => flushLane(l, Date.now()), readyAt - now);
      }
    });
  };

  const add = (): Transport => {
    const id = `${prefix}${++joined}`;
    const member: Member = { id, listeners: new Set(), alive: true };
    members.set(id, member);
    order.push(id);
    return transportOf(member);
  };

  return {
    join(): Transport {
      const t = add();
      publish();
      return t;
    },
    joinMany(n: number): Transport[] {
      if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`joinMany: n must be a positive integer, got ${n}`);
      const ts = Array.from({ length: n }, add);
      publish();
      return ts;
    },
    leave,
    get epoch() {
      return epoch;
    },
    setFault(hook) {
      fault = hook;
    },
    dropOutgoing(peer, drop) {
      if (drop) mute.add(peer);
      else mute.delete(peer);
    },
    stats,
    watch(observer) {
      observers.add(observer);
      return () => observers.delete(observer);
    },
  };

  function transportOf(member: Member): Transport {
    const id = member.id;
    return {
      self: id,
      send: (to, bytes) => send(member, to, bytes),
      subscribe(listener) {
        const state: ListenerState = { listener, seen: 0 };
        member.listeners.add(state);
        // a listener that subscribes after the last epoch still learns the current membership
        const current = epoch;
        if (member.alive) enqueue(() => deliverEpoch(member, state, current));
        return () => {
          member.listeners.delete(state);
        };
      },
      reportUnreachable: (peer) => {
        if (member.alive && members.get(peer)?.alive) leave(peer);
      },
      close: async () => {
        if (member.alive) leave(id);
      },
    };
  }

  function leave(peer: PeerId): void {
    const m = members.get(peer);
    if (!m || !m.alive) return;
    m.alive = false;
    m.listeners.clear();
    const i = order.indexOf(peer);
    if (i >= 0) order.splice(i, 1);
    publish();
  }
}

function noop(): void {}
