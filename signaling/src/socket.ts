import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import type { z } from 'zod';
import {
  RecordError,
  SIGNALING_EVENTS,
  describeIssues,
  joinRequestSchema,
  progressReportSchema,
  recordReadSchema,
  sessionConfigSchema,
  signalBatchOutSchema,
  signalOutSchema,
  unreachableReportSchema,
} from '@signvote/core';
import type {
  CreateAck,
  CreatedSession,
  ErrorAck,
  ErrorNotice,
  JoinAck,
  MembershipEpoch,
  OkAck,
  RecordAck,
  SessionConfig,
  SessionRecordView,
  SignalIn,
  SignalOut,
  SignalingErrorCode,
} from '@signvote/core';
import { ModelFileError } from './models';
import { isConnectionError, STORE_UNREACHABLE } from './redis-health';
import { TokenBucket } from './rate-limit';
import type { SignalingLimits } from './server';
import { RegistryError } from './sessions';
import type { SessionStore } from './store';

/**
 * One socket's events (docs/signaling.md, "Socket.io events"): joins, the relay of WebRTC signals
 * (single and batched, each charged to its link's budget), unreachable reports, and the session
 * record's reports and reads. Every payload is validated with the shared zod schemas; a refused
 * event is answered (ack or `signaling:error`) and costs a strike, except refusals by the session
 * record, which are answers in the normal course of a failover. A socket's events are handled one
 * at a time, in order, since each may wait for the store (Redis).
 */

export interface ConnectionContext {
  readonly store: SessionStore;
  readonly io: Server;
  readonly limits: SignalingLimits;
  readonly log: Logger;
  /** the server is closing: with Redis, its peers keep their seats to resume them elsewhere */
  closing(): boolean;
  baseUrl(host: string | undefined, secure: boolean): string;
  createSession(config: SessionConfig, base: string): Promise<CreatedSession>;
  publishMembership(sessionId: string, membership: MembershipEpoch, except?: Socket): void;
  /** the record's status changed: tell every member */
  pushRecord(sessionId: string, record: SessionRecordView): void;
}

interface SocketState {
  sessionId?: string;
  peerId?: string;
  readonly bucket: TokenBucket;
  readonly strikes: TokenBucket;
  /** signal budget per receiving peer */
  readonly links: Map<string, TokenBucket>;
  /** events are handled in order, one at a time */
  queue: Promise<void>;
}

export const sessionRoom = (sessionId: string): string => `session:${sessionId}`;
/** one peer's socket, wherever (which server process) it is connected */
export const peerRoom = (sessionId: string, peerId: string): string => `peer:${sessionId}/${peerId}`;

const fail = (code: SignalingErrorCode, error: string): ErrorAck => ({ ok: false, code, error });

export function onConnection(socket: Socket, ctx: ConnectionContext): void {
  const { store, io, limits, log, publishMembership, pushRecord } = ctx;
  const room = sessionRoom;
  const state: SocketState = {
    bucket: new TokenBucket(limits.rate),
    strikes: new TokenBucket({ burst: limits.maxStrikes, perSecond: limits.maxStrikes / 10 }),
    links: new Map(),
    queue: Promise.resolve(),
  };
  // the events a client may send; the server's own (membership, record, signaling:error) coming
  // back from a client are refused like any unknown one, or their ack would never be answered
  const known = new Set<string>([
    SIGNALING_EVENTS.create,
    SIGNALING_EVENTS.join,
    SIGNALING_EVENTS.signal,
    SIGNALING_EVENTS.signals,
    SIGNALING_EVENTS.unreachable,
    SIGNALING_EVENTS.report,
    SIGNALING_EVENTS.read,
  ]);

  /** A refused event costs a strike; a socket that keeps misbehaving is disconnected. */
  const strike = (event: string, notice: ErrorAck, ack?: (body: unknown) => void): void => {
    log.debug({ socket: socket.id, event, code: notice.code }, notice.error);
    if (ack) ack(notice);
    else socket.emit(SIGNALING_EVENTS.error, { code: notice.code, error: notice.error, event } satisfies ErrorNotice);
    if (!state.strikes.take()) {
      log.warn({ socket: socket.id, peer: state.peerId }, 'disconnecting a misbehaving socket');
      socket.emit(SIGNALING_EVENTS.error, { code: notice.code, error: 'too many refused events; disconnecting', event } satisfies ErrorNotice);
      socket.disconnect(true);
    }
  };

  /** A session this socket joined is no longer in the store: say so, not "unknown session" or "join first". */
  const gone = (id: string): string =>
    `session ${id} is gone from the session store, though this peer joined it` +
    (store.kind === 'redis' ? ' (a Redis restarted without persistence loses every session: run it with appendonly yes; docs/signaling.md)' : '');
  const vanished = (err: RegistryError): string | null =>
    err.code === 'unknown-session' && state.sessionId !== undefined && err.message.includes(state.sessionId) ? gone(state.sessionId) : null;

  /**
   * `perSocket: false`: the event is not charged to the socket's bucket (signals are charged
   * per link inside their handler). A refusal by the session record is an answer, not a strike:
   * a deposed aggregator's late report is refused in the normal course of a failover.
   */
  const on = <S extends z.ZodType>(
    event: string,
    schema: S,
    handler: (payload: z.infer<S>, base: string) => Promise<{ ok: true } | ErrorAck>,
    perSocket = true,
  ): void => {
    socket.on(event, (...args: unknown[]) => {
      const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (body: unknown) => void) : undefined;
      // the budget is charged on arrival, so a flood is refused however slow the store is; the
      // answers go out in the order the events came
      const charged = !perSocket || state.bucket.take();
      const parsed = schema.safeParse(args[0]);
      state.queue = state.queue.then(async () => {
        if (!charged) return strike(event, fail('rate-limited', `rate limit: at most ${limits.rate.perSecond} events/s`), ack);
        if (!parsed.success) return strike(event, fail('invalid', `invalid ${event}: ${describeIssues(parsed.error)}`), ack);
        try {
          const result = await handler(parsed.data, ctx.baseUrl(socket.handshake.headers.host, socket.handshake.secure));
          if (result.ok === false) return strike(event, result, ack);
          ack?.(result);
        } catch (err) {
          if (err instanceof RecordError) {
            const refusal: ErrorAck = { ok: false, code: err.code, error: err.message, ...(err.record ? { record: err.record } : {}) };
            if (ack) ack(refusal);
            else socket.emit(SIGNALING_EVENTS.error, { code: err.code, error: err.message, event } satisfies ErrorNotice);
            return;
          }
          if (err instanceof RegistryError) return strike(event, fail(err.code, vanished(err) ?? err.message), ack);
          if (err instanceof ModelFileError) return strike(event, fail('invalid', err.message), ack);
          if (isConnectionError(err)) {
            // Redis is out of reach, which the store logs once (redis-health.ts); not the socket's fault, so no strike
            const refusal = fail('internal', STORE_UNREACHABLE);
            if (ack) ack(refusal);
            else socket.emit(SIGNALING_EVENTS.error, { code: refusal.code, error: refusal.error, event } satisfies ErrorNotice);
            return;
          }
          log.error({ err, event }, 'signaling handler failed');
          strike(event, fail('internal', 'internal error'), ack);
        }
      });
    });
  };

  /** the budget of signals from this socket's peer to `to` (per link, docs/signaling.md) */
  const linkBudget = (to: string, members: ReadonlyMap<string, unknown>): boolean => {
    let bucket = state.links.get(to);
    if (!bucket) {
      // ids of peers that left are never reused: forget their buckets once there are many
      if (state.links.size >= 2 * limits.maxPeersPerSession) {
        for (const id of state.links.keys()) if (!members.has(id)) state.links.delete(id);
      }
      state.links.set(to, (bucket = new TokenBucket(limits.linkRate)));
    }
    return bucket.take();
  };

  /** relay checks shared by single and batched signals; null when it may go */
  const refuseSignal = (msg: SignalOut, members: ReadonlyMap<string, unknown> | undefined): ErrorAck | null => {
    const { peerId } = state;
    if (!members || !peerId) return fail('not-joined', 'join a session before relaying signals');
    if (msg.to === peerId || !members.has(msg.to)) return fail('unknown-peer', `peer ${msg.to} is not in this session`);
    if (!linkBudget(msg.to, members)) {
      return fail('rate-limited', `rate limit: at most ${limits.linkRate.burst} signals at once and ${limits.linkRate.perSecond}/s to one peer`);
    }
    return null;
  };

  /** the members of this socket's session now, or undefined before a join */
  const members = async (): Promise<ReadonlyMap<string, unknown> | undefined> => {
    if (!state.sessionId) return undefined;
    return (await store.get(state.sessionId))?.members;
  };

  socket.onAny((event: unknown, ...args: unknown[]) => {
    // socket.io's parser also accepts numeric event names, so nothing about `event` is trusted
    const name = String(event).slice(0, 64);
    if (typeof event === 'string' && known.has(event)) return;
    try {
      const ack = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as (body: unknown) => void) : undefined;
      state.bucket.take();
      strike(name, fail('invalid', `unknown event ${JSON.stringify(name)}`), ack);
    } catch (err) {
      log.error({ err, event: name }, 'refusing an unknown event failed');
    }
  });

  on(SIGNALING_EVENTS.create, sessionConfigSchema, async (config, base): Promise<CreateAck> => ({
    ok: true,
    ...(await ctx.createSession(config, base)),
  }));

  on(SIGNALING_EVENTS.join, joinRequestSchema, async (req): Promise<JoinAck> => {
    if (state.sessionId) return fail('already-joined', `this connection already joined session ${state.sessionId}`);
    await store.authorize(req.sessionId, req.token);
    const resume = req.resume;
    const joined = await store.update(req.sessionId, (session, registry) => {
      const before = session.ledger.view().status;
      const member = resume
        ? { ...registry.resume(session, resume.peerId, resume.key, store.serverId, socket.id), resumeKey: resume.key }
        : registry.join(session, req.info, req.shard, store.serverId, socket.id);
      const record = session.ledger.view();
      return { member, config: session.config, membership: registry.membership(session), record, recordChanged: record.status !== before };
    });
    const { member, membership, record } = joined;
    state.sessionId = req.sessionId;
    state.peerId = member.id;
    await socket.join([room(req.sessionId), peerRoom(req.sessionId, member.id)]);
    log.info({ session: req.sessionId, peer: member.id, seq: member.seq, shard: member.shard, backend: req.info.backend, resumed: resume !== undefined }, resume ? 'peer resumed' : 'peer joined');
    // the joiner learns the epoch and the record from its ack; everyone else from the broadcast
    // (a resumed seat is no new epoch: the others never saw it leave)
    if (!resume) publishMembership(req.sessionId, membership, socket);
    if (joined.recordChanged) pushRecord(req.sessionId, record);
    return { ok: true, peerId: member.id, config: joined.config, membership, record, resumeKey: member.resumeKey };
  });

  on(
    SIGNALING_EVENTS.signal,
    signalOutSchema,
    async (msg): Promise<OkAck> => {
      const refused = refuseSignal(msg, await members());
      if (refused) return refused;
      io.to(peerRoom(state.sessionId!, msg.to)).emit(SIGNALING_EVENTS.signal, { from: state.peerId!, data: msg.data } satisfies SignalIn);
      return { ok: true };
    },
    false,
  );

  // a batch is one event for the socket's budget; each signal in it costs its link's budget
  on(SIGNALING_EVENTS.signals, signalBatchOutSchema, async (batch): Promise<OkAck> => {
    const byTarget = new Map<string, SignalIn[]>();
    let refused: ErrorAck | null = null;
    const present = await members();
    for (const msg of batch) {
      const why = refuseSignal(msg, present);
      if (why) {
        refused ??= why;
        continue;
      }
      let list = byTarget.get(msg.to);
      if (!list) byTarget.set(msg.to, (list = []));
      list.push({ from: state.peerId!, data: msg.data });
    }
    for (const [to, list] of byTarget) {
      const target = io.to(peerRoom(state.sessionId!, to));
      if (list.length === 1) target.emit(SIGNALING_EVENTS.signal, list[0]);
      else target.emit(SIGNALING_EVENTS.signals, list);
    }
    return refused ?? { ok: true };
  });

  on(SIGNALING_EVENTS.report, progressReportSchema, async (report): Promise<RecordAck> => {
    const { sessionId, peerId } = state;
    if (!sessionId || !peerId) return fail('not-joined', 'join a session before reporting progress');
    const out = await store.update(sessionId, (session) => {
      if (!session.members.has(peerId)) return null;
      const before = session.ledger.view().status;
      const record = session.ledger.report(peerId, report);
      return { record, changed: record.status !== before };
    });
    if (!out) return fail('not-joined', 'join a session before reporting progress');
    if (out.changed) pushRecord(sessionId, out.record);
    return { ok: true, record: out.record };
  });

  on(SIGNALING_EVENTS.read, recordReadSchema, async (): Promise<RecordAck> => {
    if (!state.sessionId) return fail('not-joined', 'join a session before reading its record');
    const session = await store.get(state.sessionId);
    if (!session) return fail('unknown-session', gone(state.sessionId));
    return { ok: true, record: session.ledger.view() };
  });

  on(SIGNALING_EVENTS.unreachable, unreachableReportSchema, async (msg): Promise<OkAck> => {
    const { sessionId, peerId } = state;
    if (!sessionId || !peerId) return fail('not-joined', 'join a session before reporting peers');
    const dropped = await store.update(sessionId, (session, registry) => {
      if (!session.members.has(peerId)) return 'not-member' as const;
      // who reported it, as of this report (a drop clears the reports)
      const reporters = [...(session.reports.get(msg.peer) ?? []), peerId].filter((r, i, all) => session.members.has(r) && all.indexOf(r) === i);
      const others = session.members.size - 1;
      return registry.report(session, peerId, msg.peer) ? { membership: registry.membership(session), reporters, others } : null;
    });
    if (dropped === 'not-member') return fail('not-joined', 'join a session before reporting peers');
    if (dropped) {
      log.warn({ session: sessionId, peer: msg.peer, reporters: dropped.reporters }, 'peer dropped: unreachable for a majority');
      // wherever its socket is: the adapter reaches the other server processes. The notice goes
      // first on the same connection, so the peer knows why before the disconnect
      const target = io.in(peerRoom(sessionId, msg.peer));
      target.emit(SIGNALING_EVENTS.error, { code: 'dropped', error: droppedReason(dropped.reporters, dropped.others) } satisfies ErrorNotice);
      target.disconnectSockets(true);
      publishMembership(sessionId, dropped.membership);
    }
    return { ok: true };
  });

  socket.on('disconnect', () => {
    state.queue = state.queue.then(async () => {
      const { sessionId, peerId } = state;
      if (!sessionId || !peerId) return;
      // a closing server on Redis hands its peers over: they resume their seats elsewhere
      if (ctx.closing() && store.kind === 'redis') return;
      try {
        const left = await store.update(sessionId, (session, registry) => {
          // the peer resumed its seat through another socket (another server): that one holds it now
          const seat = session.members.get(peerId);
          if (seat && seat.socket !== '' && seat.socket !== socket.id) return null;
          return registry.leave(session, peerId) ? registry.membership(session) : null;
        });
        if (left) {
          log.info({ session: sessionId, peer: peerId }, 'peer left');
          publishMembership(sessionId, left);
        }
      } catch (err) {
        if (isConnectionError(err)) log.warn({ session: sessionId, peer: peerId }, 'a leave was not stored: Redis is unreachable (the seat stays until a server frees it)');
        else if (!(err instanceof RegistryError)) log.error({ err, session: sessionId, peer: peerId }, 'a leave failed');
      }
    });
  });
}

/**
 * What a dropped peer is told (signaling:error code 'dropped'): who could not reach it, and what
 * to check. Either end of the failed connections may be at fault; the majority decides only
 * which peer leaves.
 */
export function droppedReason(reporters: readonly string[], others: number): string {
  const names = reporters.length > 5 ? `${reporters.slice(0, 5).join(', ')} and ${reporters.length - 5} more` : reporters.join(', ');
  const who = others === 1 ? `the only other member (${names}) reported that it` : `${reporters.length} of the ${others} other members (${names}) reported that they`;
  return (
    `the signaling server removed this peer from the session: ${who} could not open a WebRTC connection to it. ` +
    'Check that no firewall blocks UDP on this machine or theirs, and that the ' +
    "session's ICE servers (STUN/TURN URLs and credentials) are right and reachable from every peer; a TURN server relays where direct connections fail"
  );
}
