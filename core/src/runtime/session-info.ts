import { z } from 'zod';
import { sessionConfigSchema, type SessionConfig } from '../config';
import { SignalingError } from '../transport/signaling-client';

/**
 * A session's config read before joining it (GET /api/sessions/<id>/config, the token in the
 * `x-session-token` header): a peer fetches and checks the model file and prepares its own
 * data first, so a peer whose model or data does not fit never becomes a member.
 */

const answerSchema = z.object({ id: z.string(), config: sessionConfigSchema });
const errorSchema = z.object({ error: z.string(), code: z.string().optional() });

export async function fetchSessionConfig(serverUrl: string, sessionId: string, token: string): Promise<SessionConfig> {
  const base = serverUrl.endsWith('/') ? serverUrl : `${serverUrl}/`;
  const url = new URL(`api/sessions/${encodeURIComponent(sessionId)}/config`, base);
  let response: Response;
  try {
    response = await fetch(url, { headers: { 'x-session-token': token } });
  } catch (err) {
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, a certificate code) is its cause
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    const why = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : (err as Error).message;
    throw new SignalingError('connect', `cannot reach signaling server ${url.origin}: ${why}`);
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const e = errorSchema.safeParse(body);
    // 503: the server's session store (Redis) is out of reach for now, worth trying again
    const code = e.success && e.data.code ? e.data.code : response.status === 404 ? 'unknown-session' : response.status === 403 ? 'bad-token' : response.status === 503 ? 'unavailable' : 'internal';
    throw new SignalingError(code, e.success ? e.data.error : `the signaling server answered ${response.status}`);
  }
  const parsed = answerSchema.safeParse(body);
  if (!parsed.success) throw new SignalingError('invalid', `the signaling server sent a session description that is not one (${parsed.error.issues[0]?.message})`);
  return parsed.data.config;
}
