import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { Server } from 'socket.io';
import type { Socket } from 'socket.io';
import type { z } from 'zod';
import {
  type Dataset,
  parseSessionConfig,
  sessionConfigSchema,
  type SessionConfig,
} from '@signvote/core';
import {
  SIGNALING_EVENTS,
  describeIssues,
  joinRequestSchema,
  signalOutSchema,
  unreachableReportSchema,
} from '@signvote/core';
import type {
  CreateAck,
  ErrorAck,
  ErrorNotice,
  JoinAck,
  OkAck,
  SignalIn,
  SignalingErrorCode,
} from '@signvote/core';
import { createDatasetFiles } from './dataset-files';
import { loadDatasetSplit } from './datasets';
import { createDirectory } from './directory';
import { HttpError, readBody, sendJson } from './http';
import { isWildcardHost, shareBase } from './lan';
import { createModelRoutes, ModelFileError, type ModelStoreLimits, type ModelSummary } from './models';
import { TokenBucket } from './rate-limit';
import type { RateLimit } from './rate-limit';
import { RegistryError, SessionRegistry } from './sessions';
import type { SignalingSession } from './sessions';
import { clientCacheControl, staticFiles } from './static-files';
import type { TlsFiles } from './tls';

/**
 * The signaling server: sessions as socket.io rooms, server-assigned peer ids, membership epochs,
 * and relay of WebRTC offers/answers/candidates between members of one session. It never carries
 * training data: once peers are connected, ballots and verdicts flow over their data channels.
 */

export interface SignalingLimits {
  /** hard cap on one socket.io packet (engine.io maxHttpBufferSize); bigger ones drop the connection */
  maxEventBytes: number;
  /** per-socket event budget */
  rate: RateLimit;
  /** refused events (rate-limited or malformed) a socket may accumulate, refilling at a tenth per second */
  maxStrikes: number;
  maxSessions: number;
  maxPeersPerSession: number;
  idleSessionTtlMs: number;
  /** POST /api/sessions body */
  maxBodyBytes: number;
}

export const defaultLimits: SignalingLimits = {
  maxEventBytes: 64 * 1024,
  rate: { burst: 200, perSecond: 50 },
  maxStrikes: 20,
  maxSessions: 1000,
  maxPeersPerSession: 256,
  idleSessionTtlMs: 60 * 60 * 1000,
  maxBodyBytes: 16 * 1024,
};

export interface SignalingServerOptions {
  /** 0 picks a free port (tests) */
  port?: number;
  /** 127.0.0.1 by default; 0.0.0.0 to accept phones and other machines on the LAN */
  host?: string;
  /** the built client, served at / */
  staticDir?: string;
  /**
   * resolves a dataset name to its data, or undefined when there is no such dataset; default:
   * loadDatasetSplit (`mnist-train`, `fashion-mnist-test`, `synthetic-train`, ...)
   */
  loadDataset?: (name: string) => Promise<Dataset | undefined>;
  /**
   * base of join links; defaults to the Host header of the request that created the session, and
   * to the LAN address (`shareUrl`) for sessions created in-process
   */
  publicUrl?: string;
  /** serve HTTPS with this certificate (tls.ts: readTls, selfSignedTls) */
  tls?: TlsFiles;
  /** false: silent */
  logger?: Logger | false;
  limits?: Partial<SignalingLimits>;
  /** the model-file store's caps (models.ts) */
  models?: Partial<ModelStoreLimits>;
}

export interface SignalingServer {
  /** http(s)://host:port, with a wildcard host replaced by 127.0.0.1 so it is dialable here */
  readonly url: string;
  /**
   * the base URL for other machines: `publicUrl` when given, the first LAN address when bound to
   * all interfaces, else `url`
   */
  readonly shareUrl: string;
  readonly port: number;
  /** creates a session as POST /api/sessions does; its join link starts with `shareUrl` */
  createSession(config: SessionConfig, options?: { listed?: boolean }): { id: string; token: string; url: string };
  /** stores a model file as POST /api/models does (for `signvote start --model FILE`); throws ModelImportError */
  storeModel(bytes: Uint8Array, name: string): ModelSummary;
  close(): Promise<void>;
}

const DATASET_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

interface SocketState {
  session?: SignalingSession;
  peerId?: string;
  readonly bucket: TokenBucket;
  readonly strikes: TokenBucket;
}

export async function createSignalingServer(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const limits: SignalingLimits = { ...defaultLimits, ...options.limits };
  const log: Logger = options.logger === false ? pino({ level: 'silent' }) : (options.logger ?? pino({ name: 'signaling' }));
  const registry = new SessionRegistry(limits);
  const models = createModelRoutes({ registry, log, limits: options.models });
  const startedAt = Date.now();
  /** `${sessionId}/${peerId}` -> socket, for relaying signals and dropping peers */
  const sockets = new Map<string, Socket>();
  const datasets = createDatasetFiles(options.loadDataset ?? loadDatasetSplit);
  const secure = options.tls !== undefined;
  let shareUrl = '';
  const directory = createDirectory(registry, () => ({ shareUrl, https: secure, selfSigned: options.tls?.selfSigned ?? false }), limits.maxBodyBytes);
  const key = (sessionId: string, peerId: string) => `${sessionId}/${peerId}`;
  const room = (sessionId: string) => `session:${sessionId}`;

  const baseUrl = (host: string | undefined, secure: boolean): string => {
    if (options.publicUrl) return options.publicUrl.replace(/\/+$/, '');
    return `${secure ? 'https' : 'http'}://${host ?? 'localhost'}`;
  };

  const createSession = (config: SessionConfig, base: string, listed = false) => {
    models.requireFile(config);
    const { session, token } = registry.create(config);
    models.pin(config, session.id);
    const url = `${base}/?session=${encodeURIComponent(session.id)}&token=${encodeURIComponent(token)}`;
    if (listed) directory.list(session.id, token);
    log.info({ session: session.id, listed }, 'session created');
    // the peers fetch both splits right after joining; compressing them now saves that wait
    // (peers that bring their own data fetch none)
    if (!config.data) for (const split of ['train', 'test']) {
      datasets.prepare(`${config.dataset}-${split}`).catch((err: unknown) => log.warn({ err, dataset: config.dataset }, 'preparing a dataset failed'));
    }
    return { id: session.id, token, url };
  };

  const handleHttp = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://local');
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-allow-headers': 'content-type, x-session-token',
      });
      res.end();
      return;
    }
    if (url.pathname === '/healthz') {
      sendJson(res, 200, {
        ok: true,
        sessions: registry.size,
        peers: registry.peerCount,
        uptime: (Date.now() - startedAt) / 1000,
      });
      return;
    }
    if (await directory.handle(req, res, url)) return;
    if (url.pathname === '/api/sessions') {
      if (method !== 'POST') throw new HttpError(405, 'use POST with a JSON session config');
      const listed = url.searchParams.get('listed') ?? 'false';
      if (listed !== 'true' && listed !== 'false') throw new HttpError(400, 'listed must be true or false');
      const body = await readBody(req, limits.maxBodyBytes);
      let json: unknown;
      try {
        json = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
      } catch {
        throw new HttpError(400, 'body is not valid JSON');
      }
      let config: SessionConfig;
      try {
        config = parseSessionConfig(json);
      } catch (err) {
        throw new HttpError(400, (err as Error).message);
      }
      const created = createSession(config, baseUrl(req.headers.host, secure), listed === 'true');
      sendJson(res, 201, created);
      return;
    }
    if (await models.handle(req, res, url, method)) return;
    const dataset = /^\/datasets\/([^/]+)\.bin$/.exec(url.pathname);
    if (dataset) {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'use GET');
      const name = dataset[1];
      if (!DATASET_NAME.test(name) || !(await datasets.serve(name, req, res))) throw new HttpError(404, `unknown dataset ${JSON.stringify(name)}`);
      return;
    }
    if (url.pathname === '/cert.pem' && options.tls?.selfSigned && (method === 'GET' || method === 'HEAD')) {
      // the certificate is public (every TLS handshake sends it); phones install it from here
      res.writeHead(200, { 'content-type': 'application/x-pem-file', 'content-disposition': 'attachment; filename="signvote-cert.pem"' });
      res.end(method === 'HEAD' ? undefined : options.tls.cert);
      return;
    }
    if ((method === 'GET' || method === 'HEAD') && serveClient) {
      if (await serveClient(req, res)) return;
    }
    throw new HttpError(404, `no route for ${method} ${url.pathname}`);
  };

  const serveClient = options.staticDir ? staticFiles(options.staticDir, { cacheControl: clientCacheControl, spa: true }) : undefined;

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handleHttp(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) log.error({ err, url: req.url }, 'http handler failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, status, { ok: false, error: status === 500 ? 'internal error' : (err as Error).message });
    });
  };
  const httpServer = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onRequest) : createServer(onRequest);

  const io = new Server(httpServer, {
    maxHttpBufferSize: limits.maxEventBytes,
    cors: { origin: '*' },
    serveClient: false,
  });

  const publishMembership = (session: SignalingSession, except?: Socket): void => {
    const membership = registry.membership(session);
    (except ? except.to(room(session.id)) : io.to(room(session.id))).emit(SIGNALING_EVENTS.membership, membership);
    log.info({ session: session.id, epoch: membership.epoch, peers: membership.peers.length }, 'membership');
  };

  const fail = (code: SignalingErrorCode, error: string): ErrorAck => ({ ok: false, code, error });

  io.on('connection', (socket) => {
    const state: SocketState = {
      bucket: new TokenBucket(limits.rate),
      strikes: new TokenBucket({ burst: limits.maxStrikes, perSecond: limits.maxStrikes / 10 }),
    };
    // the events a client may send; the server's own (membership, signaling:error) coming back
    // from a client are refused like any unknown one, or their ack would never be answered
    const known = new Set<string>([SIGNALING_EVENTS.create, SIGNALING_EVENTS.join, SIGNALING_EVENTS.signal, SIGNALING_EVENTS.unreachable]);

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

    const on = <S extends z.ZodType>(
      event: string,
      schema: S,
      handler: (payload: z.infer<S>, base: string) => { ok: true } | ErrorAck,
    ): void => {
      socket.on(event, (...args: unknown[]) => {
        const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (body: unknown) => void) : undefined;
        try {
          if (!state.bucket.take()) return strike(event, fail('rate-limited', `rate limit: at most ${limits.rate.perSecond} events/s`), ack);
          const parsed = schema.safeParse(args[0]);
          if (!parsed.success) return strike(event, fail('invalid', `invalid ${event}: ${describeIssues(parsed.error)}`), ack);
          const result = handler(parsed.data, baseUrl(socket.handshake.headers.host, socket.handshake.secure));
          if (result.ok === false) return strike(event, result, ack);
          ack?.(result);
        } catch (err) {
          if (err instanceof RegistryError) return strike(event, fail(err.code, err.message), ack);
          if (err instanceof ModelFileError) return strike(event, fail('invalid', err.message), ack);
          log.error({ err, event }, 'signaling handler failed');
          strike(event, fail('internal', 'internal error'), ack);
        }
      });
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
      ...createSession(config, base),
    }));

    on(SIGNALING_EVENTS.join, joinRequestSchema, (req): JoinAck => {
      if (state.session) return fail('already-joined', `this connection already joined session ${state.session.id}`);
      const session = registry.authorize(req.sessionId, req.token);
      const member = registry.join(session, req.info);
      state.session = session;
      state.peerId = member.id;
      sockets.set(key(session.id, member.id), socket);
      void socket.join(room(session.id));
      log.info({ session: session.id, peer: member.id, seq: member.seq, backend: req.info.backend }, 'peer joined');
      // the joiner learns the epoch from its ack; everyone else from the broadcast
      publishMembership(session, socket);
      return { ok: true, peerId: member.id, config: session.config, membership: registry.membership(session) };
    });

    on(SIGNALING_EVENTS.signal, signalOutSchema, (msg): OkAck => {
      const { session, peerId } = state;
      if (!session || !peerId) return fail('not-joined', 'join a session before relaying signals');
      const target = session.members.has(msg.to) ? sockets.get(key(session.id, msg.to)) : undefined;
      if (!target || msg.to === peerId) return fail('unknown-peer', `peer ${msg.to} is not in this session`);
      target.emit(SIGNALING_EVENTS.signal, { from: peerId, data: msg.data } satisfies SignalIn);
      return { ok: true };
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
  });

  const sweeper = setInterval(() => registry.sweep(), Math.min(60_000, limits.idleSessionTtlMs));
  sweeper.unref();

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolvePromise, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.port ?? 0, host, () => {
      httpServer.off('error', reject);
      resolvePromise();
    });
  });
  const port = (httpServer.address() as AddressInfo).port;
  const scheme = secure ? 'https' : 'http';
  const dialHost = isWildcardHost(host) ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `${scheme}://${dialHost}:${port}`;
  shareUrl = shareBase({ scheme, host, port, publicUrl: options.publicUrl });
  log.info({ url, shareUrl, host, port }, 'signaling server listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    shareUrl,
    port,
    createSession: (config, opts) => createSession(config, shareUrl, opts?.listed ?? false),
    storeModel: (bytes, name) => models.add(bytes, name),
    close: () =>
      (closing ??= new Promise<void>((resolvePromise) => {
        clearInterval(sweeper);
        io.disconnectSockets(true);
        // io.close() also closes the http server; keep-alive sockets must not hold it open
        void io.close(() => resolvePromise());
        httpServer.closeAllConnections();
      }).then(() => datasets.close())),
  };
}
