import type { Logger } from 'pino';
import type { Socket } from 'socket.io';
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
  OkAck,
  RecordAck,
  SessionConfig,
  SignalIn,
  SignalOut,
  SignalingErrorCode,
} from '@signvote/core';
import { ModelFileError } from './models';
import { TokenBucket } from './rate-limit';
import type { SignalingLimits } from './server';
import { RegistryError, type SessionRegistry, type SignalingSession } from './sessions';

/**
 * One socket's events (docs/signaling.md, "Socket.io events"): joins, the relay of WebRTC signals
 * (single and batched, each charged to its link's budget), unreachable reports, and the session
 * record's reports and reads. Every payload is validated with the shared zod schemas; a refused
 * event is answered (ack or `signaling:error`) and costs a strike, except refusals by the session
 * record, which are answers in the normal course of a failover.
 */

export interface ConnectionContext {
  readonly registry: SessionRegistry;
  readonly limits: SignalingLimits;
  readonly log: Logger;
  /** `${sessionId}/${peerId}` -> socket, for relaying signals and dropping peers */
  readonly sockets: Map<string, Socket>;
  baseUrl(host: string | undefined, secure: boolean): string;
  createSession(config: SessionConfig, base: string): CreatedSession;
  publishMembership(session: SignalingSession, except?: Socket): void;
  /** the record's status changed: tell every member */
  pushRecord(session: SignalingSession): void;
}

interface SocketState {
  session?: SignalingSession;
  peerId?: string;
  readonly bucket: TokenBucket;
  readonly strikes: TokenBucket;
  /** signal budget per receiving peer */
  readonly links: Map<string, TokenBucket>;
}

export const sessionKey = (sessionId: string, peerId: string): string => `${sessionId}/${peerId}`;
export const sessionRoom = (sessionId: string): string => `session:${sessionId}`;

const fail = (code: SignalingErrorCode, error: string): ErrorAck => ({ ok: false, code, error });

export function onConnection(socket: Socket, ctx: ConnectionContext): void {
  const { registry, limits, log, sockets, publishMembership, pushRecord } = ctx;
  const key = sessionKey;
  const room = sessionRoom;
  const state: SocketState = {
    bucket: new TokenBucket(limits.rate),
    strikes: new TokenBucket({ burst: limits.maxStrikes, perSecond: limits.maxStrikes / 10 }),
    links: new Map(),
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

  /**
   * `perSocket: false`: the event is not charged to the socket's bucket (signals are charged
   * per link inside their handler). A refusal by the session record is an answer, not a strike:
   * a deposed aggregator's late report is refused in the normal course of a failover.
   */
  const on = <S extends z.ZodType>(
    event: string,
    schema: S,
    handler: (payload: z.infer<S>, base: string) => { ok: true } | ErrorAck,
    perSocket = true,
  ): void => {
    socket.on(event, (...args: unknown[]) => {
      const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (body: unknown) => void) : undefined;
      try {
        if (perSocket && !state.bucket.take()) return strike(event, fail('rate-limited', `rate limit: at most ${limits.rate.perSecond} events/s`), ack);
        const parsed = schema.safeParse(args[0]);
        if (!parsed.success) return strike(event, fail('invalid', `invalid ${event}: ${describeIssues(parsed.error)}`), ack);
        const result = handler(parsed.data, ctx.baseUrl(socket.handshake.headers.host, socket.handshake.secure));
        if (result.ok === false) return strike(event, result, ack);
        ack?.(result);
      } catch (err) {
        if (err instanceof RecordError) {
          const refusal: ErrorAck = { ok: false, code: err.code, error: err.message, ...(err.record ? { record: err.record } : {}) };
          if (ack) ack(refusal);
          else socket.emit(SIGNALING_EVENTS.error, { code: err.code, error: err.message, event } satisfies ErrorNotice);
          return;
        }
        if (err instanceof RegistryError) return strike(event, fail(err.code, err.message), ack);
        if (err instanceof ModelFileError) return strike(event, fail('invalid', err.message), ack);
        log.error({ err, event }, 'signaling handler failed');
        strike(event, fail('internal', 'internal error'), ack);
      }
    });
  };

  /** the budget of signals from this socket's peer to `to` (per link, docs/signaling.md) */
  const linkBudget = (to: string): boolean => {
    let bucket = state.links.get(to);
    if (!bucket) {
      // ids of peers that left are never reused: forget their buckets once there are many
      if (state.links.size >= 2 * limits.maxPeersPerSession) {
        for (const id of state.links.keys()) if (!state.session?.members.has(id)) state.links.delete(id);
      }
      state.links.set(to, (bucket = new TokenBucket(limits.linkRate)));
    }
    return bucket.take();
  };

  /** relay checks shared by single and batched signals; null when it may go */
  const refuseSignal = (msg: SignalOut): ErrorAck | null => {
    const { session, peerId } = state;
    if (!session || !peerId) return fail('not-joined', 'join a session before relaying signals');
    if (msg.to === peerId || !session.members.has(msg.to) || !sockets.has(key(session.id, msg.to))) {
      return fail('unknown-peer', `peer ${msg.to} is not in this session`);
    }
    if (!linkBudget(msg.to)) {
      return fail('rate-limited', `rate limit: at most ${limits.linkRate.burst} signals at once and ${limits.linkRate.perSecond}/s to one peer`);
    }
    return null;
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

  on(SIGNALING_EVENTS.create, sessionConfigSchema, (config, base): CreateAck => ({
    ok: true,
    ...ctx.createSession(config, base),
  }));

  on(SIGNALING_EVENTS.join, joinRequestSchema, (req): JoinAck => {
    if (state.session) return fail('already-joined', `this connection already joined session ${state.session.id}`);
    const session = registry.authorize(req.sessionId, req.token);
    const before = session.ledger.view().status;
    const member = registry.join(session, req.info, req.shard);
    state.session = session;
    state.peerId = member.id;
    sockets.set(key(session.id, member.id), socket);
    void socket.join(room(session.id));
    log.info({ session: session.id, peer: member.id, seq: member.seq, shard: member.shard, backend: req.info.backend }, 'peer joined');
    // the joiner learns the epoch and the record from its ack; everyone else from the broadcast
    publishMembership(session, socket);
    if (session.ledger.view().status !== before) pushRecord(session);
    return { ok: true, peerId: member.id, config: session.config, membership: registry.membership(session), record: session.ledger.view() };
  });

  on(
    SIGNALING_EVENTS.signal,
    signalOutSchema,
    (msg): OkAck => {
      const refused = refuseSignal(msg);
      if (refused) return refused;
      sockets.get(key(state.session!.id, msg.to))!.emit(SIGNALING_EVENTS.signal, { from: state.peerId!, data: msg.data } satisfies SignalIn);
      return { ok: true };
    },
    false,
  );

  // a batch is one event for the socket's budget; each signal in it costs its link's budget
  on(SIGNALING_EVENTS.signals, signalBatchOutSchema, (batch): OkAck => {
    const byTarget = new Map<string, SignalIn[]>();
    let refused: ErrorAck | null = null;
    for (const msg of batch) {
      const why = refuseSignal(msg);
      if (why) {
        refused ??= why;
        continue;
      }
      let list = byTarget.get(msg.to);
      if (!list) byTarget.set(msg.to, (list = []));
      list.push({ from: state.peerId!, data: msg.data });
    }
    for (const [to, list] of byTarget) {
      const target = sockets.get(key(state.session!.id, to))!;
      if (list.length === 1) target.emit(SIGNALING_EVENTS.signal, list[0]);
      else target.emit(SIGNALING_EVENTS.signals, list);
    }
    return refused ?? { ok: true };
  });

  on(SIGNALING_EVENTS.report, progressReportSchema, (report): RecordAck => {
    const { session, peerId } = state;
    if (!session || !peerId || !session.members.has(peerId)) return fail('not-joined', 'join a session before reporting progress');
    const before = session.ledger.view().status;
    const record = session.ledger.report(peerId, report);
    if (record.status !== before) pushRecord(session);
    return { ok: true, record };
  });

  on(SIGNALING_EVENTS.read, recordReadSchema, (): RecordAck => {
    const { session } = state;
    if (!session) return fail('not-joined', 'join a session before reading its record');
    return { ok: true, record: session.ledger.view() };
  });

  on(SIGNALING_EVENTS.unreachable, unreachableReportSchema, (msg): OkAck => {
    const { session, peerId } = state;
    if (!session || !peerId || !session.members.has(peerId)) return fail('not-joined', 'join a session before reporting peers');
    if (registry.report(session, peerId, msg.peer)) {
      log.warn({ session: session.id, peer: msg.peer }, 'peer dropped: unreachable for a majority');
      const dropped = sockets.get(key(session.id, msg.peer));
      sockets.delete(key(session.id, msg.peer));
      if (dropped) {
        dropped.emit(SIGNALING_EVENTS.error, {
          code: 'dropped',
          error: 'a majority of the session could not reach this peer over WebRTC',
        } satisfies ErrorNotice);
        dropped.disconnect(true);
      }
      publishMembership(session);
    }
    return { ok: true };
  });

  socket.on('disconnect', () => {
    const { session, peerId } = state;
    if (!session || !peerId) return;
    if (sockets.get(key(session.id, peerId)) === socket) sockets.delete(key(session.id, peerId));
    if (registry.leave(session, peerId)) {
      log.info({ session: session.id, peer: peerId }, 'peer left');
      publishMembership(session);
    }
  });
}
