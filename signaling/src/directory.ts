import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { describeIssues } from '@signvote/core';
import { HttpError, readBody, sendJson } from './http';
import { RegistryError, type SignalingSession } from './sessions';
import type { SessionStore } from './store';

/**
 * The server's directory of sessions, for the home page (docs/signaling.md, "HTTP API"):
 *
 * - `GET /api/sessions`: the sessions created as listed, with their tokens: anyone who can open
 *   the server may join them;
 * - `POST /api/sessions/status` `{"sessions":[{"id","token"}]}`: the summaries of the sessions
 *   whose token the caller holds (a browser asks for those it created or joined), so a private
 *   session is seen only by whoever has its link;
 * - `GET /api/server`: the base URL to share with other machines and whether it is HTTPS.
 */

export type SessionState = 'waiting' | 'running' | 'finished';

export interface SessionSummary {
  readonly id: string;
  /** the session record's status: waiting (not started), running, finished (nobody trains it again) */
  readonly state: SessionState;
  /** peers connected now */
  readonly peers: number;
  readonly expectedPeers: number;
  /** the last round committed to the session record (0-based); null until one is */
  readonly round: number | null;
  readonly rounds: number;
  readonly model: string;
  readonly dataset: string;
  readonly algorithm: string;
  /** ms since the epoch */
  readonly createdAt: number;
}

/** What the server knows about a session: membership, and the session record's progress. */
export function summarizeSession(session: SignalingSession): SessionSummary {
  const { config } = session;
  const record = session.ledger.view();
  return {
    id: session.id,
    state: record.status,
    peers: session.members.size,
    expectedPeers: config.expectedPeers,
    round: record.round > 0 ? record.round - 1 : null,
    rounds: config.rounds,
    model: config.model,
    dataset: config.dataset,
    algorithm: config.algorithm.name,
    createdAt: session.createdAt,
  };
}

export interface ListedSession extends SessionSummary {
  /** listed sessions are open to anyone who can reach the server */
  readonly token: string;
}

export interface ServerInfo {
  /** base URL other machines reach this server at (LAN address or --public-url) */
  readonly shareUrl: string;
  readonly https: boolean;
  /** the certificate is one `serve --https` made; it is downloadable at /cert.pem */
  readonly selfSigned: boolean;
}

/** at most this many sessions per status request: a browser remembers its last 20 */
const maxStatusQueries = 50;
const statusRequestSchema = z.object({
  sessions: z.array(z.object({ id: z.string().min(1).max(64), token: z.string().min(1).max(200) })).max(maxStatusQueries),
});

export interface Directory {
  /** lists a session on the home page (`?listed=true` on creation) */
  list(id: string, token: string): Promise<void>;
  /** answers the directory's routes; false for any other path */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
}

export function createDirectory(store: SessionStore, info: () => ServerInfo, maxBodyBytes: number): Directory {
  const listedSessions = async (): Promise<ListedSession[]> => {
    const out: ListedSession[] = [];
    for (const [id, token] of await store.listed()) {
      // the store forgets idle sessions; so does the directory
      const session = await store.get(id);
      if (session) out.push({ ...summarizeSession(session), token });
    }
    return out.sort((a, b) => b.createdAt - a.createdAt);
  };

  const status = async (req: IncomingMessage): Promise<{ sessions: SessionSummary[]; missing: string[] }> => {
    const body = await readBody(req, maxBodyBytes);
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new HttpError(400, 'body is not valid JSON');
    }
    const parsed = statusRequestSchema.safeParse(json);
    if (!parsed.success) throw new HttpError(400, `invalid status request: ${describeIssues(parsed.error)}`);
    const sessions: SessionSummary[] = [];
    const missing: string[] = [];
    for (const q of parsed.data.sessions) {
      try {
        sessions.push(summarizeSession(await store.authorize(q.id, q.token)));
      } catch (err) {
        // a wrong token reads as a missing session: the answer must not confirm that an id exists
        if (!(err instanceof RegistryError)) throw err;
        missing.push(q.id);
      }
    }
    return { sessions, missing };
  };

  return {
    list: (id, token) => store.list(id, token),
    async handle(req, res, url) {
      const method = req.method ?? 'GET';
      const route = `${method} ${url.pathname}`;
      if (route === 'GET /api/sessions' || route === 'HEAD /api/sessions') {
        sendJson(res, 200, { sessions: await listedSessions() });
        return true;
      }
      if (url.pathname === '/api/sessions/status') {
        if (method !== 'POST') throw new HttpError(405, 'use POST with {"sessions":[{"id","token"}]}');
        sendJson(res, 200, await status(req));
        return true;
      }
      if (url.pathname === '/api/server') {
        if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'use GET');
        sendJson(res, 200, info());
        return true;
      }
      return false;
    },
  };
}
