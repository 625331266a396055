import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSessionConfig, type SessionConfig } from '../config';
import { createStrategy, decodeBallot, decodeUpdate, encodeBallot, encodeUpdate } from '../optim';
import { createSkewedQuadratic } from '../sim/skewed-quadratic';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, type Message } from '../protocol/messages';
import { createSessionPeer, type SessionEvent, type SessionPeer } from '../session';
import { createMemoryHub } from '../transport/memory';
import type { PeerId, Transport, TransportListener } from '../transport/transport';
import { validMessage } from './arbitraries';
import { budget, byteMutation, checkAsync, FUZZ_SEED, mutate, mutated, type ByteMutation, FUZZ_TIMEOUT_MS } from './harness';

/**
 * "No change of session state": garbage and mutated messages delivered to the peers of a running
 * in-memory session (core/src/transport/memory.ts) leave each target's round, hash and term as
 * they were, raise no error event, and the session finishes with the hash of an undisturbed run.
 *
 * What is injected, and from whom, is what the protocol must refuse whoever sends it: bytes that
 * do not decode, another session's messages, messages of another term, anything from a peer
 * outside the membership, and anything one worker sends another. (A member's well-formed
 * message to or from the aggregator is a vote or an instruction the protocol acts on by design:
 * a Byzantine peer, issue 15 item 1, not a decoding fault.)
 */

const SESSION = 'fuzz-session';
const OUTSIDER = 'mallory';
const N = 3;
const D = 16;

// as the protocol packs; for a message the live fields made invalid (encodeMessage refuses it)
const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number', mapsAsObjects: true });

const config: SessionConfig = parseSessionConfig({
  rounds: 24,
  expectedPeers: N,
  deadlineMs: 2000,
  evalEvery: 0,
  algorithm: { name: 'mv-sto-signsgd-sim', lr: 0.05, R: 2, theta: 0.9 },
});

/** a transport whose listeners the test can hand a message, as if it came off the wire */
function injectable(t: Transport): { transport: Transport; inject(from: PeerId, bytes: Uint8Array): void } {
  const listeners = new Set<TransportListener>();
  return {
    transport: {
      ...t,
      self: t.self,
      subscribe(listener) {
        listeners.add(listener);
        const off = t.subscribe(listener);
        return () => {
          listeners.delete(listener);
          off();
        };
      },
    },
    inject(from, bytes) {
      for (const l of listeners) l.message?.(from, bytes);
    },
  };
}

interface Injection {
  readonly target: number;
  /** a member (index into the join order) or, for -1, a peer outside the membership */
  readonly source: number;
  readonly content:
    | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
    /** a valid message, its session / term / round / hash set to the target's live ones as flagged, then mutated */
    | {
        readonly kind: 'message';
        readonly msg: Message;
        readonly live: { session: boolean; term: boolean; round: boolean; hash: boolean };
        /** for a ballot or verdict: a valid payload of this session's d, mutated, instead of random bytes */
        readonly payload: Uint8Array | null;
        readonly mutations: readonly ByteMutation[];
      };
}

const often = fc.constantFrom(true, true, true, false);

const signBits = fc.uint8Array({ minLength: D / 8, maxLength: D / 8 });
const validPayload = fc.oneof(
  signBits.map((bits) => encodeBallot({ kind: 'signs', bits }, D)),
  fc.tuple(signBits, fc.option(signBits, { nil: null })).map(([signs, ties]) =>
    encodeUpdate({ kind: 'verdict', signs: ties ? signs.map((b, i) => b & ~ties[i]) : signs, ties: ties?.some((t) => t !== 0) ? ties : null }, D),
  ),
);

const injection: fc.Arbitrary<Injection> = fc.record({
  target: fc.nat({ max: N - 1 }),
  source: fc.integer({ min: -1, max: N - 1 }),
  content: fc.oneof(
    fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ maxLength: 80 }) }),
    {
      arbitrary: fc.record({
        kind: fc.constant('message' as const),
        msg: validMessage,
        // mostly this session and term, so that most messages reach the handlers
        live: fc.record({ session: often, term: often, round: fc.boolean(), hash: fc.boolean() }),
        payload: fc.oneof(fc.constant(null), mutated(validPayload, 2)),
        mutations: fc.oneof(fc.constant([]), fc.array(byteMutation, { minLength: 1, maxLength: 3 })),
      }),
      weight: 4,
    },
  ),
});

/** a refused payload (bad-payload drop) where the peer would otherwise act: safe from a member */
function badPayloadAtLiveRound(m: Message, from: PeerId, toAggregator: boolean, at: { round: number; hash: string; aggregator: PeerId | null }): boolean {
  const refused = (decode: () => { kind: string }, kind: string): boolean => {
    try {
      return decode().kind !== kind;
    } catch {
      return true;
    }
  };
  if (m.type === 'ballot' && toAggregator) return m.hash === at.hash && refused(() => decodeBallot(m.payload, D), 'signs');
  if (m.type === 'verdict' && from === at.aggregator && !toAggregator) {
    return m.round === at.round && m.base === at.hash && refused(() => decodeUpdate(m.payload, D), 'verdict');
  }
  return false;
}

interface Run {
  readonly finals: { round: number; hash: string }[];
  readonly errors: string[];
  readonly injected: number;
}

async function runSession(injections: readonly Injection[]): Promise<Run> {
  const hub = createMemoryHub();
  const problem = createSkewedQuadratic({ d: D, seed: 7, noise: 0.5 });
  const errors: string[] = [];
  const peers: { peer: SessionPeer; inject: (from: PeerId, bytes: Uint8Array) => void }[] = [];
  let next = 0;
  let injected = 0;
  const perRound = Math.ceil(injections.length / config.rounds);
  /** the first failed check of a microtask-run injection, rethrown at the end */
  let failure: unknown = null;
  const injectSome = (): void => {
    try {
      for (let k = 0; k < perRound && next < injections.length; k++) injectOne(injections[next++]);
    } catch (e) {
      failure ??= e;
    }
  };

  function injectOne(inj: Injection): void {
    const target = peers[inj.target];
    const before = target.peer.state();
    const aggregator = before.aggregator;
    let bytes: Uint8Array;
    if (inj.content.kind === 'bytes') bytes = inj.content.bytes;
    else {
      const { msg, live, payload, mutations } = inj.content;
      const m = { ...msg } as Record<string, unknown>;
      if (payload !== null && 'payload' in m) m.payload = payload;
      if (live.session) m.session = SESSION;
      if (live.term) m.term = before.term;
      if (live.round && 'round' in m) m.round = before.round;
      if (live.hash && 'hash' in m) m.hash = before.hash;
      if (live.hash && 'base' in m) m.base = before.hash;
      if (m.type === 'verdict') m.origin = Math.min(m.origin as number, m.term as number);
      let encoded: Uint8Array;
      try {
        encoded = encodeMessage(m as unknown as Message);
      } catch {
        encoded = new Uint8Array(packr.pack(m));
      }
      bytes = mutate(encoded, mutations);
    }
    let from = inj.source < 0 ? OUTSIDER : peers[inj.source].peer.self;
    if (from === target.peer.self) from = OUTSIDER;
    // a member's well-formed message of this session and term to or from the aggregator is a
    // vote or an instruction, sent from outside the membership instead; except a ballot or
    // verdict whose payload the codec refuses, at the round and hash where the peer decodes it
    let decoded: Message | null = null;
    try {
      decoded = decodeMessage(bytes);
    } catch {
      // refused whole
    }
    const toOrFromAggregator = from === aggregator || target.peer.self === aggregator;
    if (decoded !== null && decoded.session === SESSION && decoded.term === before.term && toOrFromAggregator && !badPayloadAtLiveRound(decoded, from, target.peer.self === aggregator, before)) {
      from = OUTSIDER;
    }
    target.inject(from, bytes);
    injected++;
    const after = target.peer.state();
    expect({ round: after.round, hash: after.hash, term: after.term, aggregator: after.aggregator }, `after ${decoded?.type ?? 'garbage'} from ${from}`).toEqual({
      round: before.round,
      hash: before.hash,
      term: before.term,
      aggregator: before.aggregator,
    });
  }

  const transports = hub.joinMany(N);
  for (const [i, t] of transports.entries()) {
    const { transport, inject } = injectable(t);
    const grad = problem.gradient(i, 4);
    const peer = createSessionPeer({
      transport,
      config,
      strategy: createStrategy(config.algorithm),
      params: problem.x0,
      session: SESSION,
      gradient: async (at) => ({ grad: await grad(at), loss: problem.loss(at) }),
      onEvent: (e: SessionEvent) => {
        if (e.type === 'error') errors.push(`${transport.self}: ${e.error}`);
        // between deliveries, never inside the peer's own event
        if (e.type === 'round' && i === 0) queueMicrotask(injectSome);
      },
    });
    peers.push({ peer, inject });
  }
  try {
    const finals = await Promise.all(peers.map((p) => p.peer.finished));
    // what is left goes to finished peers, which must not move either
    while (next < injections.length) injectOne(injections[next++]);
    if (failure !== null) throw failure;
    for (const p of peers) for (const [k, v] of Object.entries(p.peer.stats().dropped)) drops[k] = (drops[k] ?? 0) + (v ?? 0);
    return { finals, errors, injected };
  } finally {
    for (const p of peers) await p.peer.stop();
  }
}

/** drop reasons the injections met, summed over sessions: which layers the fuzz reached */
const drops: Record<string, number> = {};
let sessions = 0;
let messages = 0;
afterAll(() => console.log(`fuzz session: ${sessions} sessions, ${messages} injected messages (seed ${FUZZ_SEED}); drops: ${JSON.stringify(drops)}`));

describe('fuzz: a running session peer (no change of session state)', () => {
  it('garbage and mutated messages leave round, hash and term alone, and the session ends as an undisturbed one', async () => {
    const clean = await runSession([]);
    expect(clean.errors).toEqual([]);
    expect(new Set(clean.finals.map((f) => f.hash)).size).toBe(1);
    expect(clean.finals[0].round).toBe(config.rounds);

    await checkAsync(
      fc.asyncProperty(fc.array(injection, { minLength: 20, maxLength: 120 }), async (injections) => {
        const run = await runSession(injections);
        sessions++;
        messages += run.injected;
        expect(run.injected).toBe(injections.length);
        expect(run.errors).toEqual([]);
        expect(run.finals).toEqual(clean.finals);
      }),
      budget(40, 0.001),
    );
  }, FUZZ_TIMEOUT_MS);
});
