import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { createModel, ModelImportError, type SessionConfig } from '@signvote/core';
import { sha256Hex } from '@signvote/core';
import { HttpError, readBody, sendJson } from './http';
import type { ModelFiles, ModelStoreLimits, ModelSummary } from './model-files';
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
 * that file is in the store with that size. Where files are kept, and which are forgotten when a
 * new one does not fit, is model-files.ts's (memory) or redis-model-files.ts's (every server
 * process on one Redis serves the same files).
 */

/** a config names a model file this server does not hold: 400 over HTTP, `invalid` over the socket */
export class ModelFileError extends HttpError {
  constructor(message: string) {
    super(400, message);
  }
}

const SHA_PATH = /^\/models\/([0-9a-f]{64})\.onnx$/;
const CONFIG_PATH = /^\/api\/sessions\/([A-Za-z0-9_-]{1,64})\/config$/;
const FILE_NAME = /^[^\\/\0]{1,128}$/;

export interface ModelRoutes {
  /**
   * the stored summary of `config.modelFile` (undefined when the config names none); throws
   * ModelFileError when it is not in the store (or has another size)
   */
  requireFile(config: SessionConfig): Promise<ModelSummary | undefined>;
  /** pins the file of a created session, so eviction keeps it while the session lives */
  pin(config: SessionConfig, sessionId: string): Promise<void>;
  /**
   * stores a file as POST /api/models does, for a server's own process (`signvote start`);
   * throws ModelImportError (not a model that trains here) or HttpError 507 (store full)
   */
  add(bytes: Uint8Array, name: string): Promise<ModelSummary>;
  /** answers the routes above; false when the request is for none of them */
  handle(req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<boolean>;
}

export interface ModelRouteOptions {
  /** where the files are kept (model-files.ts) */
  files: ModelFiles;
  /** the session if the token is its own (throws RegistryError) */
  authorize(sessionId: string, token: string): Promise<SignalingSession>;
  log: Logger;
  /** the files' caps (the store enforces the total; an upload over `maxModelBytes` is refused here) */
  limits: ModelStoreLimits;
}

export function createModelRoutes(options: ModelRouteOptions): ModelRoutes {
  const { files, limits } = options;

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
      summary = await add(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), name);
    } catch (err) {
      if (err instanceof ModelImportError) {
        sendJson(res, 400, { ok: false, code: err.code, error: `${name}: ${err.message}` });
        return;
      }
      throw err;
    }
    sendJson(res, 201, summary);
  };

  const add = async (bytes: Uint8Array, name: string): Promise<ModelSummary> => {
    const sha256 = sha256Hex(bytes);
    // a file another upload (or another server process) imported is not imported again
    let summary = await files.summary(sha256);
    if (!summary) {
      const model = createModel({ onnx: bytes, name }, { caps: { bytes: limits.maxModelBytes } });
      const input = model.program.input;
      summary = {
        sha256, bytes: bytes.byteLength, name, d: model.d, inputShape: [...model.inputShape], numClasses: model.numClasses,
        ...(input.kind === 'index' && input.indexBound !== null ? { tokens: input.indexBound } : {}),
      };
      await files.write(summary, bytes);
      options.log.info({ sha256, bytes: bytes.byteLength, d: model.d }, 'model file stored');
    }
    // the name is the uploader's; the same bytes under another name are the same file
    return { ...summary, name };
  };

  const routes: ModelRoutes = {
    add,
    async requireFile(config) {
      const file = config.modelFile;
      if (!file) return undefined;
      const stored = await files.summary(file.sha256);
      if (!stored) throw new ModelFileError(`model file ${file.name} (SHA-256 ${file.sha256}) is not on this server: upload it first (POST /api/models)`);
      if (stored.bytes !== file.bytes) throw new ModelFileError(`model file ${file.name}: the config says ${file.bytes} bytes, the stored file has ${stored.bytes}`);
      return stored;
    },
    async pin(config, sessionId) {
      if (config.modelFile) await files.pin(config.modelFile.sha256, sessionId);
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
        const bytes = await files.read(file[1]);
        if (!bytes) throw new HttpError(404, `no model file ${file[1]} on this server: upload it first (POST /api/models)`);
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': bytes.byteLength,
          'cache-control': 'public, max-age=31536000, immutable',
          'access-control-allow-origin': '*',
        });
        res.end(method === 'HEAD' ? undefined : bytes);
        return true;
      }
      if (url.pathname.startsWith('/models/')) {
        throw new HttpError(404, `no model file ${url.pathname.slice('/models/'.length)}: model files are named /models/<SHA-256, 64 lowercase hex digits>.onnx`);
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
