import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { createAdapter } from '@socket.io/redis-adapter';
import { Server } from 'socket.io';
import type { Socket } from 'socket.io';
import { type Dataset, type MembershipEpoch, parseSessionConfig, sessionConfigMismatch, SIGNALING_EVENTS, type SessionConfig, type SessionRecordView } from '@signvote/core';
import { sendClientNotBuilt } from './client-dist';
import { createDatasetFiles } from './dataset-files';
import { loadDatasetSplit } from './datasets';
import { createDirectory } from './directory';
import { HttpError, readBody, sendJson } from './http';
import { isWildcardHost, shareBase } from './lan';
import { defaultModelStoreLimits, MemoryModelFiles, type ModelStoreLimits, type ModelSummary } from './model-files';
import { createModelRoutes } from './models';
import type { RateLimit } from './rate-limit';
import { handleRecordRoute } from './record-routes';
import { handleRejections, isConnectionError, STORE_UNREACHABLE } from './redis-health';
import { RedisStore } from './redis-store';
import { RegistryError } from './sessions';
import { clientCacheControl, sendNoPage, staticFiles } from './static-files';
import { onConnection, sessionRoom as room } from './socket';
import { MemoryStore, type SessionStore } from './store';
import type { TlsFiles } from './tls';

/**
 * The signaling server: sessions as socket.io rooms, server-assigned peer ids, membership epochs,
 * and relay of WebRTC offers/answers/candidates between members of one session. It never carries
 * training data: once peers are connected, ballots and verdicts flow over their data channels.
 */

export interface SignalingLimits {
  /** hard cap on one socket.io packet (engine.io maxHttpBufferSize); bigger ones drop the connection */
  maxEventBytes: number;
  /** per-socket budget of events other than signals */
  rate: RateLimit;
  /**
   * per-link budget of WebRTC signals (each sender -> receiver pair): a link costs about 5 signals
   * to open, so a joiner's budget grows with the session instead of being cut off at ~46 members
   */
  linkRate: RateLimit;
  /** refused events (rate-limited or malformed) a socket may accumulate, refilling at a tenth per second */
  maxStrikes: number;
  maxSessions: number;
  maxPeersPerSession: number;
  idleSessionTtlMs: number;
  /** an empty finished session (its record and final snapshot) is kept this long */
  finishedSessionTtlMs: number;
  /** POST /api/sessions body */
  maxBodyBytes: number;
  /** a socket that does not answer a ping this long is disconnected (its peer leaves) */
  pingTimeoutMs: number;
  /** one session's stored snapshot (an encoded checkpoint: 8 bytes per parameter plus ~200) */
  maxSnapshotBytes: number;
  /** all stored snapshots together; over it, snapshots of empty sessions go first */
  maxSnapshotTotalBytes: number;
}

export const defaultLimits: SignalingLimits = {
  maxEventBytes: 64 * 1024,
  rate: { burst: 200, perSecond: 50 },
  linkRate: { burst: 64, perSecond: 8 },
  maxStrikes: 20,
  maxSessions: 1000,
  maxPeersPerSession: 256,
  idleSessionTtlMs: 60 * 60 * 1000,
  finishedSessionTtlMs: 24 * 60 * 60 * 1000,
  maxBodyBytes: 16 * 1024,
  pingTimeoutMs: 60_000,
  maxSnapshotBytes: 128 * 1024 * 1024,
  maxSnapshotTotalBytes: 512 * 1024 * 1024,
};

export interface SignalingServerOptions {
  /** 0 picks a free port (tests) */
  port?: number;
  /** 127.0.0.1 by default; 0.0.0.0 to accept phones and other machines on the LAN */
  host?: string;
  /** the built client, served at /; without it `/` says how to build it */
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
  /**
   * redis://host:port: keep sessions in this Redis and share rooms with every server process on
   * it (docs/signaling.md, "Several servers on one Redis"); without it, one process in memory
   */
  redis?: string;
  /** Redis key prefix and pub/sub channel (default `signvote:`): servers on one prefix share sessions */
  redisPrefix?: string;
  /** with Redis: how long a dead server process's peers keep their seats to resume them elsewhere (default 20 s) */
  resumeGraceMs?: number;
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
  createSession(config: SessionConfig, options?: { listed?: boolean }): Promise<{ id: string; token: string; url: string; admin: string }>;
  /** peers in a session now (0 for an unknown one) */
  members(sessionId: string): Promise<number>;
  /** the server processes of these sessions (with Redis: every live one, this one first; else [shareUrl]) */
  servers(): Promise<string[]>;
  /**
   * stores a model file as POST /api/models does (for `signvote start --model FILE`); with Redis
   * every server process on it serves the file. Throws ModelImportError, or HttpError 507 when the
   * store is full of files live sessions name.
   */
  storeModel(bytes: Uint8Array, name: string): Promise<ModelSummary>;
  close(): Promise<void>;
}

/**
 * socket.io's Redis adapter, on connections of its own. It never handles the promises of its
 * commands; while Redis is out of reach each would be an unhandled rejection, which ends a Node
 * process: here they are handled (redis-health.ts).
 */
function redisAdapter(store: RedisStore, prefix: string, log: Logger) {
  const pub = handleRejections(store.connection(), ['publish'], log);
  const sub = handleRejections(store.connection(), ['subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe'], log);
  return createAdapter(pub, sub, { key: `${prefix}socket.io` });
}

const DATASET_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;


export async function createSignalingServer(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const limits: SignalingLimits = { ...defaultLimits, ...options.limits };
  const log: Logger = options.logger === false ? pino({ level: 'silent' }) : (options.logger ?? pino({ name: 'signaling' }));
  const store: SessionStore = options.redis
    ? await RedisStore.connect({ url: options.redis, limits, prefix: options.redisPrefix, resumeGraceMs: options.resumeGraceMs, log })
    : new MemoryStore(limits);
  const modelLimits: ModelStoreLimits = { ...defaultModelStoreLimits, ...options.models };
  const models = createModelRoutes({
    files:
      store instanceof RedisStore
        ? store.modelFiles(modelLimits, log)
        : new MemoryModelFiles(modelLimits, (id) => (store as MemoryStore).registry.get(id) !== undefined, log),
    authorize: (id, token) => store.authorize(id, token),
    log,
    limits: modelLimits,
  });
  const startedAt = Date.now();
  const datasets = createDatasetFiles(options.loadDataset ?? loadDatasetSplit);
  const secure = options.tls !== undefined;
  let shareUrl = '';
  const directory = createDirectory(store, () => ({ shareUrl, https: secure, selfSigned: options.tls?.selfSigned ?? false }), limits.maxBodyBytes);

  const baseUrl = (host: string | undefined, secure: boolean): string => {
    if (options.publicUrl) return options.publicUrl.replace(/\/+$/, '');
    return `${secure ? 'https' : 'http'}://${host ?? 'localhost'}`;
  };

  const createSession = async (config: SessionConfig, base: string, listed = false) => {
    const file = await models.requireFile(config);
    // what every peer would refuse on joining is refused here, in the peers' words
    const mismatch = sessionConfigMismatch(config, file);
    if (mismatch) throw new RegistryError('invalid', `invalid session config: ${mismatch}`);
    const { session, token, admin } = await store.create(config);
    await models.pin(config, session.id);
    // with Redis the link also names the other live server processes: a tab moves to them if this one goes away
    const others = store instanceof RedisStore ? (await store.servers()).slice(1) : [];
    const url = `${base}/?session=${encodeURIComponent(session.id)}&token=${encodeURIComponent(token)}${others.length ? `&servers=${others.map(encodeURIComponent).join(',')}` : ''}`;
    if (listed) await directory.list(session.id, token);
    log.info({ session: session.id, listed }, 'session created');
    // the peers fetch both splits right after joining; compressing them now saves that wait
    // (peers that bring their own data fetch none)
    if (!config.data) for (const split of ['train', 'test']) {
      datasets.prepare(`${config.dataset}-${split}`).catch((err: unknown) => log.warn({ err, dataset: config.dataset }, 'preparing a dataset failed'));
    }
    return { id: session.id, token, url, admin };
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
      const stats = await store.stats();
      sendJson(res, 200, {
        ok: true,
        sessions: stats.sessions,
        peers: stats.peers,
        store: store.kind,
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
      let created;
      try {
        created = await createSession(config, baseUrl(req.headers.host, secure), listed === 'true');
      } catch (err) {
        if (err instanceof RegistryError) throw new HttpError(err.code === 'invalid' ? 400 : 503, err.message);
        throw err;
      }
      sendJson(res, 201, created);
      return;
    }
    if (await handleRecordRoute(req, res, url, { store, maxBodyBytes: limits.maxSnapshotBytes, onStarted: started })) return;
    if (await models.handle(req, res, url, method)) return;
    // an API path no route took (a session id the server never makes, a typo) is the API's
    // JSON 404, never the page: a client reading it as JSON must learn it does not exist
    if (url.pathname === '/api' || url.pathname.startsWith('/api/')) throw new HttpError(404, `no route for ${method} ${url.pathname}`);
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
    if (method === 'GET' || method === 'HEAD') {
      if (serveClient && (await serveClient(req, res))) return;
      // a person opened the page (or a join link) of a server whose client was never built
      if (!serveClient && (url.pathname === '/' || url.pathname === '/index.html')) return sendClientNotBuilt(res, method);
      // the page lives at / only: served at /foo/bar its relative asset URLs would miss
      return sendNoPage(res, method, url.pathname);
    }
    throw new HttpError(404, `no route for ${method} ${url.pathname}`);
  };

  // no fallback to index.html: the app has no client-side routes, and its asset URLs are relative
  // (client/vite.config.ts base './', so a proxy may mount it under a prefix)
  const serveClient = options.staticDir ? staticFiles(options.staticDir, { cacheControl: clientCacheControl }) : undefined;

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handleHttp(req, res).catch((err: unknown) => {
      // Redis out of reach is logged once by the store (redis-health.ts), not once per request
      const unreachable = isConnectionError(err);
      const status = err instanceof HttpError ? err.status : unreachable ? 503 : 500;
      if (status === 500) log.error({ err, url: req.url }, 'http handler failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, status, { ok: false, error: status === 500 ? 'internal error' : unreachable ? STORE_UNREACHABLE : (err as Error).message });
    });
  };
  const httpServer = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onRequest) : createServer(onRequest);

  const io = new Server(httpServer, {
    maxHttpBufferSize: limits.maxEventBytes,
    cors: { origin: '*' },
    serveClient: false,
    // A crashed peer's socket closes at once; the ping only finds peers that stopped answering.
    // socket.io's 20 s dropped live peers on a loaded machine (32 peer processes on 2 cores,
    // each busy loading its engine): 25 s between pings, 60 s to answer.
    pingInterval: 25_000,
    pingTimeout: limits.pingTimeoutMs,
    ...(store instanceof RedisStore ? { adapter: redisAdapter(store, options.redisPrefix ?? 'signvote:', log) } : {}),
  });

  const publishMembership = (sessionId: string, membership: MembershipEpoch, except?: Socket): void => {
    (except ? except.to(room(sessionId)) : io.to(room(sessionId))).emit(SIGNALING_EVENTS.membership, membership);
    log.info({ session: sessionId, epoch: membership.epoch, peers: membership.peers.length }, 'membership');
  };

  /** the record's status changed (start, finish): every member hears it */
  const pushRecord = (sessionId: string, record: SessionRecordView): void => {
    io.to(room(sessionId)).emit(SIGNALING_EVENTS.record, record);
    log.info({ session: sessionId, status: record.status, round: record.round, shards: record.shards }, 'record');
  };
  /** the creator started the session: new shards in a new epoch, then the record */
  function started(sessionId: string, membership: MembershipEpoch, record: SessionRecordView): void {
    publishMembership(sessionId, membership);
    pushRecord(sessionId, record);
  }

  let closingNow = false;
  io.on('connection', (socket) =>
    onConnection(socket, { store, io, limits, log, closing: () => closingNow, baseUrl, createSession: (config, base) => createSession(config, base), publishMembership, pushRecord }),
  );

  /** a failure of a periodic job because Redis is out of reach is the store's one line, not one per run */
  const jobFailed = (what: string) => (err: unknown) => {
    if (!isConnectionError(err)) log.warn({ err }, what);
  };
  const sweep = (): void => void store.sweep().catch(jobFailed('sweeping sessions failed'));
  const sweeper = setInterval(sweep, Math.min(60_000, limits.idleSessionTtlMs));
  sweeper.unref();
  /** with Redis: free the seats of dead server processes that their peers did not resume in time */
  const reaper =
    store instanceof RedisStore
      ? setInterval(() => {
          // while Redis is out of reach nothing can be freed, and the tries would only queue up
          if (!store.reachable) return;
          store
            .reapDeadServers()
            .then(async (changed) => {
              for (const id of changed) {
                const session = await store.get(id);
                if (!session) continue;
                log.info({ session: id }, 'seats of a dead server process freed');
                publishMembership(id, { epoch: session.epoch, peers: [...session.members.values()].map((m) => ({ id: m.id, seq: m.seq, info: m.info, shard: session.ledger.shard(m.id) ?? 0 })) });
                if (session.members.size === 0) pushRecord(id, session.ledger.view());
              }
            })
            .catch(jobFailed('reaping dead server processes failed'));
        }, 2_000)
      : undefined;
  reaper?.unref();

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
  if (store instanceof RedisStore) await store.announce(shareUrl);
  log.info({ url, shareUrl, host, port, store: store.kind }, 'signaling server listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    shareUrl,
    port,
    createSession: (config, opts) => createSession(config, shareUrl, opts?.listed ?? false),
    members: async (sessionId) => (await store.get(sessionId))?.members.size ?? 0,
    servers: async () => (store instanceof RedisStore ? store.servers() : [shareUrl]),
    storeModel: (bytes, name) => models.add(bytes, name),
    close: () =>
      (closing ??= new Promise<void>((resolvePromise) => {
        clearInterval(sweeper);
        if (reaper) clearInterval(reaper);
        closingNow = true;
        // this process's sockets only: with the Redis adapter io.disconnectSockets reaches every process
        io.local.disconnectSockets(true);
        // io.close() also closes the http server; keep-alive sockets must not hold it open
        void io.close(() => resolvePromise());
        httpServer.closeAllConnections();
      })
        .then(() => datasets.close())
        .then(() => store.close())),
  };
}
