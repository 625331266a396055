import { z } from 'zod';
import { evalHistorySchema, sessionStatusSchema, startAnswerSchema, type EvalHistory, type SessionConfig, type SessionStatus, type StartAnswer } from '@signvote/core';

/** What the signaling server answers to POST /api/sessions. */
const createdSchema = z.object({
  id: z.string().min(1).max(200),
  token: z.string().min(1).max(500),
  url: z.string().min(1).max(2000),
  /** the creator key: starts the session before expectedPeers have joined */
  admin: z.string().min(1).max(500),
});
export type CreatedSession = z.infer<typeof createdSchema>;

/** The server reports problems as `{ error }`; anything else is shown as the HTTP status. */
const errorSchema = z.object({ error: z.string() });

/** `listed`: the server's home page shows the session (with its token) to anyone who opens it */
export async function createSession(config: SessionConfig, base = window.location.origin, listed = false): Promise<CreatedSession> {
  let response: Response;
  try {
    response = await fetch(new URL(`api/sessions?listed=${listed}`, withSlash(base)), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(config),
    });
  } catch (err) {
    throw new Error(`cannot reach the signaling server (${(err as Error).message})`);
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const reason = errorSchema.safeParse(body);
    throw new Error(reason.success ? reason.data.error : `the server answered ${response.status} ${response.statusText}`);
  }
  const created = createdSchema.safeParse(body);
  if (!created.success) throw new Error('the server sent an unexpected answer (no session id/token)');
  return created.data;
}

/** what the server says about a session (signaling/src/directory.ts, SessionSummary) */
const summarySchema = z.object({
  id: z.string().min(1).max(64),
  state: z.string().max(32),
  peers: z.number().int().min(0),
  expectedPeers: z.number().int().min(1),
  round: z.number().int().min(0).nullable(),
  rounds: z.number().int().min(1),
  model: z.string().max(64),
  dataset: z.string().max(64),
  algorithm: z.string().max(64),
  createdAt: z.number(),
});
export type SessionSummary = z.infer<typeof summarySchema>;
const listedSchema = z.object({ sessions: z.array(summarySchema.extend({ token: z.string().min(1).max(500) })).max(1000) });
export type ListedSession = z.infer<typeof listedSchema>['sessions'][number];
const statusSchema = z.object({ sessions: z.array(summarySchema), missing: z.array(z.string()) });
const serverInfoSchema = z.object({ shareUrl: z.string().max(2000), https: z.boolean(), selfSigned: z.boolean() });
export type ServerInfo = z.infer<typeof serverInfoSchema>;

async function getJson<T>(url: URL, schema: z.ZodType<T>, init?: RequestInit): Promise<T> {
  const response = await reach(url, init);
  if (!response.ok) throw new Error(await refusal(response));
  const parsed = schema.safeParse(await response.json().catch(() => null));
  if (!parsed.success) throw new Error(`the server sent an unexpected answer to ${url.pathname}`);
  return parsed.data;
}

async function reach(url: URL, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw new Error(`cannot reach the signaling server (${(err as Error).message})`);
  }
}

/** the server's own sentence for a refusal (`{ error }`), else the HTTP status */
async function refusal(response: Response): Promise<string> {
  const reason = errorSchema.safeParse(await response.json().catch(() => null));
  return reason.success ? reason.data.error : `the server answered ${response.status} ${response.statusText}`;
}

/** The sessions anyone on this server may join. */
export async function fetchListedSessions(base: string): Promise<ListedSession[]> {
  return (await getJson(new URL('api/sessions', withSlash(base)), listedSchema)).sessions;
}

/** The sessions this browser holds tokens for; `missing` names those the server no longer has. */
export async function fetchSessionStatus(base: string, known: readonly { id: string; token: string }[]): Promise<z.infer<typeof statusSchema>> {
  if (known.length === 0) return { sessions: [], missing: [] };
  return getJson(new URL('api/sessions/status', withSlash(base)), statusSchema, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ sessions: known.map(({ id, token }) => ({ id, token })) }),
  });
}

/**
 * The session's evaluations so far, round ascending (the session record, GET
 * /api/sessions/<id>/history): a late joiner's charts start at round 0 with them.
 */
export async function fetchEvalHistory(base: string, session: string, token: string): Promise<EvalHistory['evals']> {
  const url = new URL(`api/sessions/${encodeURIComponent(session)}/history`, withSlash(base));
  return (await getJson(url, evalHistorySchema, { headers: { 'x-session-token': token } })).evals;
}

/**
 * Where one session stands (GET /api/sessions/<id>): its config, its record (waiting, running,
 * or finished with its final round, hash and evaluation) and the peers present. Throws with the
 * server's sentence (unknown session, wrong token).
 */
export async function fetchSessionRecord(base: string, session: string, token: string): Promise<SessionStatus> {
  const url = new URL(`api/sessions/${encodeURIComponent(session)}`, withSlash(base));
  return getJson(url, sessionStatusSchema, { headers: { authorization: `Bearer ${token}` } });
}

/**
 * The creator's "start now" (POST /api/sessions/<id>/start with the creator key): the session
 * starts with the peers present and the training set is split over them. Throws with the
 * server's sentence (wrong key, already running, finished, nobody here).
 */
export async function startSessionNow(base: string, session: string, admin: string): Promise<StartAnswer> {
  const url = new URL(`api/sessions/${encodeURIComponent(session)}/start`, withSlash(base));
  return getJson(url, startAnswerSchema, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
}

/**
 * The session's stored snapshot (GET /api/sessions/<id>/snapshot): an encoded checkpoint of its
 * parameters at the latest stored round (the final one once it finished). Throws with the
 * server's sentence when it holds none.
 */
export async function fetchSnapshot(base: string, session: string, token: string): Promise<Uint8Array> {
  const url = new URL(`api/sessions/${encodeURIComponent(session)}/snapshot`, withSlash(base));
  const response = await reach(url, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(await refusal(response));
  return new Uint8Array(await response.arrayBuffer());
}

export async function fetchServerInfo(base: string): Promise<ServerInfo> {
  return getJson(new URL('api/server', withSlash(base)), serverInfoSchema);
}

const loopback = (hostname: string) => hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127\./.test(hostname);

/**
 * The link to give other devices: the page's own address, unless that is a loopback address
 * only this machine can open, in which case the server's share URL (its LAN address or
 * --public-url) takes its place.
 */
export function shareLink(pageHref: string, info: ServerInfo | null, session: string, token: string, servers: readonly string[] = []): string {
  const page = new URL(pageHref);
  const base = info && loopback(page.hostname) && !loopback(new URL(info.shareUrl).hostname) ? `${info.shareUrl}/` : pageHref;
  return joinLink(base, session, token, servers);
}

/** true when a link can be opened from another device */
export function reachableFromOtherDevices(link: string): boolean {
  return !loopback(new URL(link).hostname);
}

function withSlash(base: string): string {
  return base.endsWith('/') ? base : `${base}/`;
}

/**
 * The join link for a session; the page opens the session directly when it carries both.
 * `servers`: the session's other server processes (JoinParams.servers), carried along.
 */
export function joinLink(base: string, session: string, token: string, servers: readonly string[] = []): string {
  const url = new URL(base);
  url.search = new URLSearchParams({ session, token, ...(servers.length ? { servers: servers.join(',') } : {}) }).toString();
  url.hash = '';
  return url.toString();
}

export interface JoinParams {
  readonly session: string;
  readonly token: string;
  /**
   * `&servers=URL2,URL3`: other server processes of the same sessions (on one Redis); the tab
   * moves to them when its server goes away (docs/signaling.md, "Several servers on one Redis")
   */
  readonly servers: readonly string[];
}

/** at most this many other servers in a link */
const MAX_SERVERS = 8;

/** the `servers` parameter: http(s) URLs only, anything else is dropped */
function serverList(param: string | null): string[] {
  if (!param) return [];
  const out: string[] = [];
  for (const part of param.split(',').slice(0, MAX_SERVERS)) {
    try {
      const u = new URL(part.trim());
      if (u.protocol === 'http:' || u.protocol === 'https:') out.push(u.origin);
    } catch {
      // not a URL: ignored, the tab still has its own server
    }
  }
  return out;
}

/** a session id as the server makes them (the signaling protocol's id: core signaling-protocol.ts) */
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** a token travels in an HTTP header: visible ASCII only (a control character makes fetch throw) */
const TOKEN = /^[\x21-\x7e]{1,500}$/;

/**
 * What `?session=&token=` says: a session to join, a link that names one but cannot be used
 * (`problem`: a sentence for the page: no token, an id the server never makes, a token no
 * header can carry), or null when it names none (the home page).
 */
export function readJoinLink(search: string): { readonly join: JoinParams } | { readonly problem: string } | null {
  const q = new URLSearchParams(search);
  if (!q.has('session') && !q.has('token')) return null;
  const session = q.get('session')?.trim() ?? '';
  const token = q.get('token')?.trim() ?? '';
  if (!session && !token) return { problem: 'This link is malformed: it names no session and carries no token.' };
  if (!session) return { problem: 'This link is malformed: it carries a token but names no session (?session=ID is missing).' };
  if (!SESSION_ID.test(session)) {
    const shown = session.length > 40 ? `${session.slice(0, 40)}…` : session;
    return { problem: `This link is malformed: ${JSON.stringify(shown)} is not a session id (ids are 1 to 64 letters, digits, _ and -). Copy the whole link again.` };
  }
  if (!token) return { problem: `This link lacks its token: session ${session} opens only with the &token= its creator's link carries. Ask for the whole link.` };
  if (!TOKEN.test(token)) return { problem: 'This link is malformed: its token has characters no join link carries (spaces, control or non-ASCII characters, or over 500 characters). Copy the whole link again.' };
  return { join: { session, token, servers: serverList(q.get('servers')) } };
}

/** The session a link joins, or null (none named, or the link is malformed: readJoinLink says why). */
export function readJoinParams(search: string): JoinParams | null {
  const link = readJoinLink(search);
  return link && 'join' in link ? link.join : null;
}

/**
 * The command that joins a headless Node peer, exactly as it can be typed in a checkout. Node
 * does not trust a self-signed certificate, so for one it first fetches it from the server.
 */
export function peerCommand(origin: string, session: string, token: string, info: ServerInfo | null): string {
  const peer = `npx signvote peer --server ${origin} --session ${session} --token ${token}`;
  if (!info?.selfSigned) return peer;
  return `curl -fsSk -o signvote-cert.pem ${origin}/cert.pem\nNODE_EXTRA_CA_CERTS=signvote-cert.pem ${peer}`;
}
