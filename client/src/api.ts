import { z } from 'zod';
import type { SessionConfig } from '@signvote/core';

/** What the signaling server answers to POST /api/sessions. */
const createdSchema = z.object({
  id: z.string().min(1).max(200),
  token: z.string().min(1).max(500),
  url: z.string().min(1).max(2000),
});
export type CreatedSession = z.infer<typeof createdSchema>;

/** The server reports problems as `{ error }`; anything else is shown as the HTTP status. */
const errorSchema = z.object({ error: z.string() });

export async function createSession(config: SessionConfig, base = window.location.origin): Promise<CreatedSession> {
  let response: Response;
  try {
    response = await fetch(new URL('api/sessions', withSlash(base)), {
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

function withSlash(base: string): string {
  return base.endsWith('/') ? base : `${base}/`;
}

/** The join link for a session; the page opens the session directly when it carries both. */
export function joinLink(base: string, session: string, token: string): string {
  const url = new URL(base);
  url.search = new URLSearchParams({ session, token }).toString();
  url.hash = '';
  return url.toString();
}

export interface JoinParams {
  readonly session: string;
  readonly token: string;
}

/** Reads `?session=&token=`; ids and tokens are opaque but bounded, so junk never reaches the server. */
export function readJoinParams(search: string): JoinParams | null {
  const q = new URLSearchParams(search);
  const session = q.get('session')?.trim() ?? '';
  const token = q.get('token')?.trim() ?? '';
  if (!session || !token || session.length > 200 || token.length > 500) return null;
  return { session, token };
}
