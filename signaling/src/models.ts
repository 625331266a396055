import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { createModel, MODEL_CAPS, ModelImportError, type SessionConfig } from '@signvote/core';
import { sha256Hex } from '@signvote/core';
import { HttpError, readBody, sendJson } from './http';
import { RegistryError, type SignalingSession } from './sessions';

/**
 * Model files that travel with sessions, and the description a peer reads before it joins.
 *
 *   POST /api/models?name=model.onnx   body: the ONNX bytes -> 201 { sha256, bytes, name, d, inputShape, numClasses }
 *   GET  /models/<sha256>.onnx         the bytes (immutable: the name is the content's hash)
 *   GET  /api/sessions/<id>/config     header x-session-token -> { id, config }
 *
 * An upload is imported (core/src/import) before it is kept, so the store holds only models
 * that train here, and a session whose config names a file (`modelFile`) is created only when
 * that file is in the store with that size. Files are kept in memory, content-addressed, at
 * most `maxModelBytes` each and `maxStoreBytes` together; when a new upload does not fit, the
 * least recently used files that no live session names are forgotten first.
 */

export interface ModelStoreLimits {
  /** one file (default MODEL_CAPS.bytes, 64 MiB) */
  maxModelBytes: number;
  /** all files together (default 256 MiB) */
  maxStoreBytes: number;
}

export const defaultModelStoreLimits: ModelStoreLimits = { maxModelBytes: MODEL_CAPS.bytes, maxStoreBytes: 256 * 1024 * 1024 };

/** a config names a model file this server does not hold: 400 over HTTP, `invalid` over the socket */
export class ModelFileError extends HttpError {
  constructor(message: string) {
    super(400, message);
  }
}

interface Stored {
  readonly bytes: Uint8Array;
  readonly summary: ModelSummary;
  lastUsed: number;
}

export interface ModelSummary {
  readonly sha256: string;
  readonly bytes: number;
  readonly name: string;
  readonly d: number;
  readonly inputShape: readonly number[];
  readonly numClasses: number;
}

const SHA_PATH = /^\/models\/([0-9a-f]{64})\.onnx$/;
const CONFIG_PATH = /^\/api\/sessions\/([A-Za-z0-9_-]{1,64})\/config$/;
const FILE_NAME = /^[^\\/\0]{1,128}$/;

export interface ModelRoutes {
  /** throws ModelFileError when `config.modelFile` is not in the store (or has another size); pins it to the session */
  requireFile(config: SessionConfig, sessionId?: string): void;
  /** pins the file of a created session, so eviction keeps it while the session lives */
  pin(config: SessionConfig, sessionId: string): void;
  /** stores a file as POST /api/models does, for a server's own process (`signvote start`); throws ModelImportError */
  add(bytes: Uint8Array, name: string): ModelSummary;
  /** the bytes of a stored file (the export of a finished session needs them), or undefined */
  get(sha256: string): Uint8Array | undefined;
  /** answers the routes above; false when the request is for none of them */
  handle(req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<boolean>;
}

export interface ModelRouteOptions {
  /**
   * whether a session still lives (its model file stays pinned); a server on Redis answers true
   * for any session it pinned, so its files stay until the process ends
   */
  isLive(sessionId: string): boolean;
  /** the session if the token is its own (throws RegistryError) */
  authorize(sessionId: string, token: string): Promise<SignalingSession>;
  log: Logger;
  limits?: Partial<ModelStoreLimits>;
  now?: () => number;
}

export function createModelRoutes(options: ModelRouteOptions): ModelRoutes {
  const limits: ModelStoreLimits = { ...defaultModelStoreLimits, ...options.limits };
  const now = options.now ?? Date.now;
  const store = new Map<string, Stored>();
  /** sha256 -> sessions created with it */
  const pins = new Map<string, Set<string>>();
  let total = 0;

  const pinned = (sha: string): boolean => {
    const sessions = pins.get(sha);
    if (!sessions) return false;
    for (const id of sessions) if (!options.isLive(id)) sessions.delete(id);
    return sessions.size > 0;
  };

  const makeRoom = (size: number): void => {
    if (total + size <= limits.maxStoreBytes) return;
    const idle = [...store.entries()].filter(([sha]) => !pinned(sha)).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    const freeable = idle.reduce((a, [, e]) => a + e.bytes.byteLength, 0);
    // forget nothing unless forgetting makes room
    if (total - freeable + size > limits.maxStoreBytes) {
      throw new HttpError(507, `the model store is full (${limits.maxStoreBytes} bytes, mostly files that live sessions name); try again when sessions end`);
    }
    for (const [sha, entry] of idle) {
      if (total + size <= limits.maxStoreBytes) break;
      store.delete(sha);
      pins.delete(sha);
      total -= entry.bytes.byteLength;
      options.log.info({ sha256: sha }, 'model file forgotten (store full)');
    }
  };

  const upload = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const name = url.searchParams.get('name') ?? 'model.onnx';
    if (!FILE_NAME.test(name)) throw new HttpError(400, 'name must be 1..128 characters without slashes');
    const body = await readBody(req, limits.maxModelBytes).catch((err: unknown) => {
      if (err instanceof HttpError && err.status === 413) {
        throw new HttpError(413, `the model file is over this server's cap of ${limits.maxModelBytes} bytes`);
      }
      throw err;
    });
    if (body.length === 0) throw new HttpError(400, 'empty body: POST the ONNX file\'s bytes');
    let summary: ModelSummary;
    try {
      summary = add(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), name);
    } catch (err) {
      if (err instanceof ModelImportError) {
        sendJson(res, 400, { ok: false, code: err.code, error: `${name}: ${err.message}` });
        return;
      }
      throw err;
    }
    sendJson(res, 201, summary);
  };

  /** imports and keeps a file; throws ModelImportError (not a model it can train) or HttpError 507 (store full) */
  const add = (bytes: Uint8Array, name: string): ModelSummary => {
    const sha256 = sha256Hex(bytes);
    let entry = store.get(sha256);
    if (!entry) {
      const model = createModel({ onnx: bytes, name }, { caps: { bytes: limits.maxModelBytes } });
      makeRoom(bytes.byteLength);
      const summary: ModelSummary = { sha256, bytes: bytes.byteLength, name, d: model.d, inputShape: [...model.inputShape], numClasses: model.numClasses };
      entry = { bytes: bytes.slice(), summary, lastUsed: now() };
      store.set(sha256, entry);
      total += bytes.byteLength;
      options.log.info({ sha256, bytes: bytes.byteLength, d: model.d }, 'model file stored');
    }
    entry.lastUsed = now();
    // the name is the uploader's; the same bytes under another name are the same file
    return { ...entry.summary, name };
  };

  const routes: ModelRoutes = {
    add,
    requireFile(config) {
      const file = config.modelFile;
      if (!file) return;
      const entry = store.get(file.sha256);
      if (!entry) throw new ModelFileError(`model file ${file.name} (SHA-256 ${file.sha256}) is not on this server: upload it first (POST /api/models)`);
      if (entry.bytes.byteLength !== file.bytes) throw new ModelFileError(`model file ${file.name}: the config says ${file.bytes} bytes, the stored file has ${entry.bytes.byteLength}`);
      entry.lastUsed = now();
    },
    pin(config, sessionId) {
      const sha = config.modelFile?.sha256;
      if (!sha) return;
      let sessions = pins.get(sha);
      if (!sessions) pins.set(sha, (sessions = new Set()));
      sessions.add(sessionId);
    },
    get(sha256) {
      return store.get(sha256)?.bytes;
    },
    async handle(req, res, url, method) {
      if (url.pathname === '/api/models') {
        if (method !== 'POST') throw new HttpError(405, 'use POST with the ONNX file as the body');
        await upload(req, res, url);
        return true;
      }
      const file = SHA_PATH.exec(url.pathname);
      if (file) {
        if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'use GET');
        const entry = store.get(file[1]);
        if (!entry) throw new HttpError(404, `no model file ${file[1]} on this server`);
        entry.lastUsed = now();
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': entry.bytes.byteLength,
          'cache-control': 'public, max-age=31536000, immutable',
          'access-control-allow-origin': '*',
        });
        res.end(method === 'HEAD' ? undefined : entry.bytes);
        return true;
      }
      const described = CONFIG_PATH.exec(url.pathname);
      if (described) {
        if (method !== 'GET') throw new HttpError(405, 'use GET');
        const token = req.headers['x-session-token'];
        if (typeof token !== 'string' || token.length === 0 || token.length > 128) throw new HttpError(403, 'send the session token in the x-session-token header');
        try {
          const session = await options.authorize(described[1], token);
          sendJson(res, 200, { id: session.id, config: session.config });
        } catch (err) {
          if (!(err instanceof RegistryError)) throw err;
          sendJson(res, err.code === 'unknown-session' ? 404 : 403, { ok: false, code: err.code, error: err.message });
        }
        return true;
      }
      return false;
    },
  };
  return routes;
}
