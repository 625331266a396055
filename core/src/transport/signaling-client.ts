import { io } from 'socket.io-client';
import { notifyEach } from './listeners';
import type { Socket } from 'socket.io-client';
import type { SessionConfig, SessionConfigInput } from '../config';
import { RecordError, recordRefusals, sessionRecordViewSchema } from '../record/record';
import type { ProgressReport, RecordRefusal, SessionRecordView } from '../record/record';
import {
  MAX_SIGNAL_BATCH,
  SIGNALING_EVENTS,
  createAckSchema,
  describeIssues,
  errorNoticeSchema,
  joinAckSchema,
  membershipEpochSchema,
  recordAckSchema,
  signalBatchInSchema,
  signalInSchema,
} from './signaling-protocol';
import type { CreatedSession, ErrorAck, ErrorNotice, JoinRequest, MembershipEpoch, SignalData, SignalIn, SignalOut } from './signaling-protocol';
import type { PeerId } from './transport';

/**
 * Isomorphic client of the signaling server (browser and Node: socket.io-client picks the
 * platform's WebSocket). Everything received is validated before it reaches a listener, so a
 * misbehaving server cannot feed the transport malformed epochs or signals.
 *
 * Given several URLs (server processes on one Redis, docs/signaling.md "Several servers on one
 * Redis"), it connects to the first that answers, and when its server goes away after the join it
 * resumes its seat through the next (same peer id, join sequence and shard, no new epoch);
 * listeners hear `disconnect` only when no server took it back.
 *
 * Over 400 lines: the failover (moveOn, connected, request) changes the socket under every
 * handler and request here, so it stays in this one closure with them.
 */

export interface SignalingListener {
  /** a newer membership epoch (stale or duplicate epochs are filtered out) */
  membership?(membership: MembershipEpoch): void;
  /** a WebRTC signal relayed from another member */
  signal?(from: PeerId, data: SignalData): void;
  /** a refused event or a notice from the server (e.g. code 'dropped') */
  error?(notice: ErrorNotice): void;
  /** the session record, pushed when its status changes (start, finish, everyone left) */
  record?(record: SessionRecordView): void;
  /**
   * the socket closed by the server or the network (not by our own close()): this peer has left
   * the session. `dropped`: the server's sentence when it removed this peer (a majority of the
   * others reported it unreachable over WebRTC; the notice arrives before the disconnect)
   */
  disconnect?(reason: string, dropped?: string): void;
}

export interface JoinedSession {
  readonly sessionId: string;
  readonly peerId: PeerId;
  readonly config: SessionConfig;
  readonly membership: MembershipEpoch;
  /** the session record as of the join */
  readonly record: SessionRecordView;
}

export interface SignalingClient {
  /** the server URL in use now (it changes when the client moves to another server) */
  readonly url: string;
  /** every server URL this client may use, in order */
  readonly urls: readonly string[];
  /** set once join() resolved */
  readonly joined: JoinedSession | undefined;
  /** the latest epoch seen (from the join ack or a broadcast) */
  readonly membership: MembershipEpoch | undefined;
  readonly connected: boolean;
  /** the latest session record heard (join ack, pushes, report acks, reads) */
  readonly record: SessionRecordView | undefined;
  createSession(config?: SessionConfigInput): Promise<CreatedSession>;
  /** rejects with a SignalingError; code 'finished' (with `record`) for a session that has ended */
  join(request: JoinRequest): Promise<JoinedSession>;
  /** batched: signals sent within `signalBatchMs` travel in one event (docs/signaling.md) */
  sendSignal(to: PeerId, data: SignalData): void;
  reportUnreachable(peer: PeerId): void;
  /** the term aggregator's progress report; refusals reject with a RecordError */
  reportProgress(report: ProgressReport): Promise<SessionRecordView>;
  readRecord(): Promise<SessionRecordView>;
  subscribe(listener: SignalingListener): () => void;
  close(): void;
}

export interface SignalingClientOptions {
  /** how long to wait for an ack before failing (default 10 s) */
  ackTimeoutMs?: number;
  /** 'websocket' alone skips the long-polling handshake (faster in Node and tests) */
  transports?: ('websocket' | 'polling')[];
  /** how long signals are gathered into one batch (default 5 ms; 0 sends each at once) */
  signalBatchMs?: number;
  /**
   * after losing its server, how long the client keeps trying the URLs (each in turn) to resume
   * its seat before reporting the disconnect (default 30 s; the server side keeps the seat ~20 s
   * after its process died)
   */
  failoverMs?: number;
  /** what happens while moving to another server (for logs) */
  onFailover?(event: { from: string; to: string; ok: boolean; error?: string }): void;
}

export class SignalingError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** where the session record stands, when the refusal is about it (e.g. 'finished') */
    readonly record?: SessionRecordView,
  ) {
    super(message);
    this.name = 'SignalingError';
  }
}

/** A refusal as an error: the record's own codes become RecordErrors, the rest SignalingErrors. */
function refusal(ack: ErrorAck): Error {
  if ((recordRefusals as readonly string[]).includes(ack.code)) return new RecordError(ack.code as RecordRefusal, ack.error, ack.record);
  return new SignalingError(ack.code, ack.error, ack.record);
}

/**
 * A batch stays well under the server's 64 KiB packet cap (an SDP may be up to 32 KiB): past this
 * many characters of JSON the batch is sent at once and the next signal starts another.
 */
const BATCH_CHARS = 24 * 1024;

export function createSignalingClient(url: string | readonly string[], options: SignalingClientOptions = {}): SignalingClient {
  const ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
  const urls = (typeof url === 'string' ? [url] : [...url]).filter((u) => u.length > 0);
  if (urls.length === 0) throw new SignalingError('invalid', 'no signaling server URL given');
  let current = 0;
  // Reconnecting by socket.io would silently make this a new peer (the server assigns ids per
  // connection), so a dropped socket is handled here: resume the seat elsewhere, or report it.
  const open = (u: string): Socket =>
    io(u, {
      reconnection: false,
      transports: options.transports ?? ['websocket', 'polling'],
      timeout: ackTimeoutMs,
      forceNew: true,
    });
  let socket: Socket = open(urls[0]);
  const listeners = new Set<SignalingListener>();
  let joined: JoinedSession | undefined;
  let membership: MembershipEpoch | undefined;
  let record: SessionRecordView | undefined;
  let closed = false;
  const batchMs = options.signalBatchMs ?? 5;

  /** the newest record wins (acks and pushes may cross) */
  const learnRecord = (r: SessionRecordView): SessionRecordView => {
    if (!record || r.updatedAt >= record.updatedAt) record = r;
    return r;
  };

  const each = (fn: (l: SignalingListener) => void): void => notifyEach(listeners, fn);

  const acceptMembership = (m: MembershipEpoch): void => {
    if (membership && m.epoch <= membership.epoch) return;
    membership = m;
    each((l) => l.membership?.(m));
  };

  /**
   * An epoch can be decoded before our join ack has resolved `join()`: the server acks, then a
   * peer joining right after us triggers a broadcast, and both packets may arrive in one read,
   * before the promise continuation runs. Dropping it left this peer a term behind for good.
   */
  let early: MembershipEpoch | undefined;
  /** the seat's key, from the join ack: resumes it through another server */
  let resumeKey: string | undefined;
  /** a move to another server in progress */
  let failover: Promise<boolean> | undefined;
  let moving = false;
  /** why the session dropped this peer (unreachable for a majority): no seat to resume */
  let dropped: string | undefined;
  const held: SignalIn[] = [];
  // a joiner of a 200-member session hears ~5 signals per member before its transport subscribes
  const MAX_HELD = 8192;
  const attach = (socket: Socket): void => {
  socket.on(SIGNALING_EVENTS.membership, (payload: unknown) => {
    const parsed = membershipEpochSchema.safeParse(payload);
    if (!parsed.success) return each((l) => l.error?.({ code: 'invalid', error: `bad membership from server: ${describeIssues(parsed.error)}` }));
    if (joined) acceptMembership(parsed.data);
    else if (!early || parsed.data.epoch > early.epoch) early = parsed.data;
  });
  /**
   * Offers can arrive between the join ack and the moment the caller creates its transport (it
   * may be loading data meanwhile); they are held here until a signal listener subscribes,
   * since a lost offer would only surface as a connect timeout much later.
   */
  socket.on(SIGNALING_EVENTS.signal, (payload: unknown) => {
    const parsed = signalInSchema.safeParse(payload);
    if (!parsed.success) return each((l) => l.error?.({ code: 'invalid', error: `bad signal from server: ${describeIssues(parsed.error)}` }));
    receive(parsed.data);
  });
  socket.on(SIGNALING_EVENTS.signals, (payload: unknown) => {
    const parsed = signalBatchInSchema.safeParse(payload);
    if (!parsed.success) return each((l) => l.error?.({ code: 'invalid', error: `bad signal batch from server: ${describeIssues(parsed.error)}` }));
    for (const sig of parsed.data) receive(sig);
  });
  socket.on(SIGNALING_EVENTS.record, (payload: unknown) => {
    const parsed = sessionRecordViewSchema.safeParse(payload);
    if (!parsed.success) return each((l) => l.error?.({ code: 'invalid', error: `bad record from server: ${describeIssues(parsed.error)}` }));
    learnRecord(parsed.data);
    each((l) => l.record?.(parsed.data));
  });
  socket.on(SIGNALING_EVENTS.error, (payload: unknown) => {
    const parsed = errorNoticeSchema.safeParse(payload);
    const notice: ErrorNotice = parsed.success ? parsed.data : { code: 'invalid', error: 'unreadable error notice from server' };
    if (notice.code === 'dropped') dropped = notice.error;
    each((l) => l.error?.(notice));
  });
  socket.on('disconnect', (reason: string) => {
    if (closed || failover) return;
    // a peer the session dropped, or one that never joined, has no seat to resume
    // with one URL there is nowhere to go: the disconnect is reported at once, as it always was
    if (!joined || !resumeKey || dropped !== undefined || urls.length === 1) return each((l) => l.disconnect?.(reason, dropped));
    moving = true;
    failover = moveOn(reason).finally(() => (failover = undefined));
  });
  };
  attach(socket);
  function receive(sig: SignalIn): void {
    if (![...listeners].some((l) => l.signal)) {
      if (held.length < MAX_HELD) held.push(sig);
      return;
    }
    each((l) => l.signal?.(sig.from, sig.data));
  }

  /** this socket is connected, or the reason it never was */
  const connect = (sock: Socket, u: string): Promise<void> => {
    if (sock.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const ok = () => {
        sock.off('connect_error', bad);
        resolve();
      };
      const bad = (err: Error) => {
        sock.off('connect', ok);
        reject(new SignalingError('connect', `cannot reach signaling server ${u}: ${err.message}`));
      };
      sock.once('connect', ok);
      sock.once('connect_error', bad);
    });
  };

  /**
   * The server went away: try the URLs in turn, starting with the next, until one takes the seat
   * back or `failoverMs` ran out; then the listeners hear the disconnect. True when resumed.
   */
  const moveOn = async (reason: string): Promise<boolean> => {
    const deadline = Date.now() + (options.failoverMs ?? 30_000);
    const from = urls[current];
    let lastError = reason;
    for (let attempt = 1; !closed && Date.now() < deadline; attempt++) {
      const i = (current + attempt) % urls.length;
      const next = open(urls[i]);
      try {
        await connect(next, urls[i]);
        const ack = joinAckSchema.safeParse(
          await next.timeout(ackTimeoutMs).emitWithAck(SIGNALING_EVENTS.join, {
            sessionId: joined!.sessionId,
            token: joinToken!,
            info: joinInfo!,
            resume: { peerId: joined!.peerId, key: resumeKey! },
          } satisfies JoinRequest),
        );
        if (!ack.success) throw new SignalingError('invalid', `bad join ack: ${describeIssues(ack.error)}`);
        if (!ack.data.ok) {
          next.disconnect();
          options.onFailover?.({ from, to: urls[i], ok: false, error: ack.data.error });
          // the seat is gone (grace over, dropped) or the session ended: nothing to resume
          if (['unknown-peer', 'bad-token', 'unknown-session', 'finished'].includes(ack.data.code)) break;
          lastError = ack.data.error;
          continue;
        }
        if (closed) {
          next.disconnect();
          moving = false;
          return false;
        }
        socket = next;
        current = i;
        attach(next);
        learnRecord(ack.data.record);
        acceptMembership(ack.data.membership);
        options.onFailover?.({ from, to: urls[i], ok: true });
        // the transport may have sent signals while no server carried them
        moving = false;
        flushSignals();
        return true;
      } catch (err) {
        next.disconnect();
        lastError = (err as Error).message;
        options.onFailover?.({ from, to: urls[i], ok: false, error: lastError });
        // every URL failed once: wait a little before the next round
        if (attempt % urls.length === 0) await new Promise((r) => setTimeout(r, 500));
      }
    }
    moving = false;
    if (!closed) each((l) => l.disconnect?.(`${reason}; no other signaling server took this peer back (${lastError})`));
    return false;
  };
  let joinToken: string | undefined;
  let joinInfo: JoinRequest['info'] | undefined;

  /**
   * Signals emitted close together (a joiner answers every member at once, each with a few ICE
   * candidates) leave as one `signals` event: fewer packets for the server to parse and rate.
   */
  let outbox: SignalOut[] = [];
  let outboxChars = 0;
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  const flushSignals = (): void => {
    if (flushTimer !== undefined) clearTimeout(flushTimer);
    flushTimer = undefined;
    // while moving to another server the signals wait, and leave through the new one
    if (outbox.length === 0 || closed || moving) return;
    const batch = outbox;
    outbox = [];
    outboxChars = 0;
    if (batch.length === 1) socket.emit(SIGNALING_EVENTS.signal, batch[0]);
    else socket.emit(SIGNALING_EVENTS.signals, batch);
  };
  /**
   * Connected, or the reason why not. Before the join, a server that cannot be reached is skipped
   * for the next URL; after it, a move to another server is waited for.
   */
  const connected = async (): Promise<void> => {
    if (closed) throw new SignalingError('closed', 'signaling client is closed');
    if (failover && !(await failover)) throw new SignalingError('connect', `lost the signaling server ${urls[current]}`);
    if (socket.connected) return;
    let error: unknown;
    for (let tried = 0; tried < urls.length; tried++) {
      try {
        await connect(socket, urls[current]);
        return;
      } catch (err) {
        error = err;
        if (joined || urls.length === 1) break;
        socket.disconnect();
        current = (current + 1) % urls.length;
        socket = open(urls[current]);
        attach(socket);
      }
    }
    throw error;
  };

  /** an event with its ack; asked again once when the server went away before answering */
  const request = async (event: string, payload: unknown): Promise<unknown> => {
    for (let attempt = 0; ; attempt++) {
      await connected();
      const sent = socket;
      try {
        return await sent.timeout(ackTimeoutMs).emitWithAck(event, payload);
      } catch (err) {
        const moved = failover !== undefined || sent !== socket;
        if (moved && attempt === 0 && event !== SIGNALING_EVENTS.join && event !== SIGNALING_EVENTS.create) continue;
        throw new SignalingError('timeout', `no answer to ${event} within ${ackTimeoutMs} ms (${(err as Error).message})`);
      }
    }
  };

  return {
    get url() {
      return urls[current];
    },
    urls,
    get joined() {
      return joined;
    },
    get membership() {
      return membership;
    },
    get connected() {
      return socket.connected;
    },
    get record() {
      return record;
    },
    async createSession(config = {}) {
      const parsed = createAckSchema.safeParse(await request(SIGNALING_EVENTS.create, config));
      if (!parsed.success) throw new SignalingError('invalid', `bad create ack: ${describeIssues(parsed.error)}`);
      if (!parsed.data.ok) throw new SignalingError(parsed.data.code, parsed.data.error);
      const { id, token, url: link, admin } = parsed.data;
      return { id, token, url: link, admin };
    },
    async join(req) {
      if (joined) throw new SignalingError('already-joined', `already joined as ${joined.peerId}`);
      const parsed = joinAckSchema.safeParse(await request(SIGNALING_EVENTS.join, req));
      if (!parsed.success) throw new SignalingError('invalid', `bad join ack: ${describeIssues(parsed.error)}`);
      if (!parsed.data.ok) {
        early = undefined;
        throw new SignalingError(parsed.data.code, parsed.data.error, parsed.data.record);
      }
      learnRecord(parsed.data.record);
      resumeKey = parsed.data.resumeKey;
      joinToken = req.token;
      joinInfo = req.info;
      joined = {
        sessionId: req.sessionId,
        peerId: parsed.data.peerId,
        config: parsed.data.config,
        membership: parsed.data.membership,
        record: parsed.data.record,
      };
      acceptMembership(parsed.data.membership);
      // the server only broadcasts to members, so an epoch that came first is of this session
      if (early) acceptMembership(early);
      early = undefined;
      return joined;
    },
    sendSignal(to, data) {
      if (closed) return;
      const chars = JSON.stringify(data).length + 64;
      if (outboxChars + chars > BATCH_CHARS || outbox.length >= MAX_SIGNAL_BATCH) flushSignals();
      outbox.push({ to, data });
      outboxChars += chars;
      if (batchMs <= 0) flushSignals();
      else flushTimer ??= setTimeout(flushSignals, batchMs);
    },
    reportUnreachable(peer) {
      if (!closed) socket.emit(SIGNALING_EVENTS.unreachable, { peer });
    },
    async reportProgress(report) {
      const parsed = recordAckSchema.safeParse(await request(SIGNALING_EVENTS.report, report));
      if (!parsed.success) throw new SignalingError('invalid', `bad report ack: ${describeIssues(parsed.error)}`);
      if (!parsed.data.ok) {
        if (parsed.data.record) learnRecord(parsed.data.record);
        throw refusal(parsed.data);
      }
      return learnRecord(parsed.data.record);
    },
    async readRecord() {
      const parsed = recordAckSchema.safeParse(await request(SIGNALING_EVENTS.read, {}));
      if (!parsed.success) throw new SignalingError('invalid', `bad record ack: ${describeIssues(parsed.error)}`);
      if (!parsed.data.ok) throw refusal(parsed.data);
      return learnRecord(parsed.data.record);
    },
    subscribe(listener) {
      listeners.add(listener);
      if (listener.signal && held.length > 0) {
        // delivered after subscribe() returns, so the caller's setup has finished
        queueMicrotask(() => {
          for (const sig of held.splice(0)) if (listeners.has(listener)) listener.signal?.(sig.from, sig.data);
        });
      }
      return () => listeners.delete(listener);
    },
    close() {
      if (closed) return;
      // signals already handed over still leave (an answer sent just before leaving)
      flushSignals();
      closed = true;
      // a deliberate close is not a lost server, so listeners hear nothing: otherwise the transport
      // would tear its channels down under a peer that is only leaving (runtime leave()), and a
      // browser tab would report "lost the signaling server" after its own Leave
      listeners.clear();
      socket.disconnect();
    },
  };
}
