import { z } from 'zod';

/**
 * The sessions this browser created or joined, kept in localStorage so the home page can list
 * private sessions to whoever has their link, and nobody else: the server shows a session's
 * progress only to a request that carries its token. A session created here also keeps its
 * creator key, so this browser (and no other) can start it early ("Start now"), also after a
 * reload.
 */

export interface KnownSession {
  readonly id: string;
  readonly token: string;
  /** ms since the epoch: last created or opened here */
  readonly seenAt: number;
  /** the creator key `POST /api/sessions` answered; only in the browser that created it */
  readonly admin?: string;
}

const key = 'signvote.sessions';
/** the newest ones are kept; the server forgets idle sessions after an hour anyway */
export const maxKnown = 20;

const storedSchema = z
  .array(z.object({ id: z.string().min(1).max(64), token: z.string().min(1).max(500), seenAt: z.number(), admin: z.string().min(1).max(500).optional() }))
  .max(1000);

/** localStorage, or nothing where storage is blocked (private windows, sandboxed frames) */
function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

export function knownSessions(store: Storage | null = storage()): KnownSession[] {
  const raw = store?.getItem(key);
  if (!raw) return [];
  try {
    const parsed = storedSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
}

function save(list: readonly KnownSession[], store: Storage | null): void {
  try {
    store?.setItem(key, JSON.stringify(list));
  } catch {
    // a full or blocked storage only costs the home page its list
  }
}

export interface RememberOptions {
  /** the creator key, when this browser created the session; a key remembered before is kept */
  readonly admin?: string;
  readonly now?: number;
  readonly store?: Storage | null;
}

/** Remembers a session (newest first, at most `maxKnown`: the oldest goes, with its key). */
export function rememberSession(id: string, token: string, options: RememberOptions = {}): void {
  const store = options.store === undefined ? storage() : options.store;
  const known = knownSessions(store);
  const admin = options.admin ?? known.find((s) => s.id === id)?.admin;
  const rest = known.filter((s) => s.id !== id);
  save([{ id, token, seenAt: options.now ?? Date.now(), ...(admin ? { admin } : {}) }, ...rest].slice(0, maxKnown), store);
}

/** The creator key this browser holds for a session, or null (it did not create it here). */
export function creatorKey(id: string, store: Storage | null = storage()): string | null {
  return knownSessions(store).find((s) => s.id === id)?.admin ?? null;
}

/** Forgets sessions the server no longer has. */
export function forgetSessions(ids: readonly string[], store: Storage | null = storage()): void {
  if (ids.length === 0) return;
  const gone = new Set(ids);
  save(
    knownSessions(store).filter((s) => !gone.has(s.id)),
    store,
  );
}
