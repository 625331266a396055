import type { IncomingMessage, ServerResponse } from 'node:http';
import { RecordError } from '@signvote/core';
import type { EvalHistory, RecordRefusal, SessionStatus, StartAnswer } from '@signvote/core';
import { HttpError, readBody, sendJson } from './http';
import { RegistryError } from './sessions';
import type { SessionStore } from './store';
import type { MembershipEpoch, SessionRecordView } from '@signvote/core';

/**
 * HTTP routes of the session record (docs/signaling.md, "The session record"): what a session
 * has committed, starting it with the peers present, its stored snapshot, and its evaluation
 * history. Secrets travel as
 * `authorization: Bearer ...` (or `?token=` for a plain download link, or the session token as
 * `x-session-token`): the session token to read and to store snapshots, the creator's key to start.
 */

export interface RecordRouteContext {
  readonly store: SessionStore;
  /** PUT body cap (limits.maxSnapshotBytes) */
  readonly maxBodyBytes: number;
  /** after a start: publish the new epoch and push the record */
  onStarted(sessionId: string, membership: MembershipEpoch, record: SessionRecordView): void;
}

const ROUTE = /^\/api\/sessions\/([A-Za-z0-9_-]{1,64})(\/start|\/snapshot|\/history)?$/;

const STATUS: Record<RecordRefusal, number> = {
  'not-member': 403,
  'not-aggregator': 403,
  'stale-term': 409,
  'future-term': 409,
  'not-started': 409,
  'already-started': 409,
  finished: 409,
  conflict: 409,
  backwards: 409,
  'beyond-end': 400,
  'nobody-here': 409,
  'snapshot-mismatch': 409,
  'snapshot-too-large': 413,
  'snapshot-full': 507,
  'no-snapshot': 404,
};

const REGISTRY_STATUS: Record<RegistryError['code'], number> = {
  'unknown-session': 404,
  'bad-token': 403,
  'not-creator': 403,
  'session-full': 409,
  'too-many-sessions': 503,
  'unknown-peer': 404,
  invalid: 400,
};

function secret(req: IncomingMessage, url: URL, param: string): string {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^Bearer /i.test(auth)) return auth.slice(7).trim();
  // the header GET /api/sessions/ID/config takes (models.ts)
  const header = req.headers['x-session-token'];
  if (param === 'token' && typeof header === 'string') return header;
  return url.searchParams.get(param) ?? '';
}

/** Handles the route and returns true, or returns false when the path is not one of these. */
export async function handleRecordRoute(req: IncomingMessage, res: ServerResponse, url: URL, ctx: RecordRouteContext): Promise<boolean> {
  const match = ROUTE.exec(url.pathname);
  if (!match) return false;
  const [, id, sub] = match;
  const method = req.method ?? 'GET';
  try {
    if (sub === '/start') {
      if (method !== 'POST') throw new HttpError(405, 'use POST with the creator key (authorization: Bearer KEY)');
      let admin = secret(req, url, 'admin');
      if (!admin) {
        const body = await readBody(req, 4096);
        try {
          const json = body.length ? (JSON.parse(body.toString('utf8')) as { admin?: unknown }) : {};
          if (typeof json.admin === 'string') admin = json.admin;
        } catch {
          throw new HttpError(400, 'body is not valid JSON');
        }
      }
      await ctx.store.authorizeCreator(id, admin);
      const started = await ctx.store.update(id, (session, registry) => {
        const record = registry.start(session);
        return { record, membership: registry.membership(session) };
      });
      ctx.onStarted(id, started.membership, started.record);
      sendJson(res, 200, { ok: true, record: started.record, members: started.membership.peers.length } satisfies StartAnswer);
      return true;
    }
    const session = await ctx.store.authorize(id, secret(req, url, 'token'));
    if (sub === '/history') {
      // a late joiner's charts start at round 0 with these
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'use GET');
      sendJson(res, 200, { evals: session.ledger.evalHistory() } satisfies EvalHistory);
      return true;
    }
    if (sub === '/snapshot') {
      if (method === 'PUT') {
        const body = await readBody(req, ctx.maxBodyBytes);
        const record = await ctx.store.storeSnapshot(id, new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
        sendJson(res, 200, { ok: true, record });
        return true;
      }
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'use GET to download, PUT to store');
      const bytes = await ctx.store.readSnapshot(id);
      const stored = session.ledger.view().snapshot;
      if (bytes === null || stored === null) throw new RecordError('no-snapshot', `session ${id} has no stored snapshot yet`, session.ledger.view());
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': bytes.byteLength,
        'content-disposition': `attachment; filename="signvote-${id}-round-${stored.round}.ckpt"`,
        'cache-control': 'no-store',
        'access-control-allow-origin': '*',
        'access-control-expose-headers': 'x-signvote-round, x-signvote-hash',
        'x-signvote-round': String(stored.round),
        'x-signvote-hash': stored.hash,
      });
      res.end(method === 'HEAD' ? undefined : bytes);
      return true;
    }
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'use GET');
    sendJson(res, 200, {
      ok: true,
      id,
      config: session.config,
      record: session.ledger.view(),
      members: session.members.size,
      epoch: session.epoch,
    } satisfies SessionStatus);
    return true;
  } catch (err) {
    if (err instanceof RecordError) {
      sendJson(res, STATUS[err.code], { ok: false, code: err.code, error: err.message, ...(err.record ? { record: err.record } : {}) });
      return true;
    }
    if (err instanceof RegistryError) {
      sendJson(res, REGISTRY_STATUS[err.code], { ok: false, code: err.code, error: err.message });
      return true;
    }
    throw err;
  }
}
