import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { withoutPassword } from './redis-url';

/**
 * Whether this process reaches its Redis, logged once per change (docs/signaling.md, "Several
 * servers on one Redis"). ioredis reconnects by itself and emits an `error` for every failed try
 * on every connection (a store has three or more); while Redis is down that is several stack
 * traces a second. Here they become one line when Redis goes away
 * (`redis at URL unreachable: ECONNREFUSED; retrying`), one when it is back, and nothing in
 * between. An error that is not about reaching Redis (a refused password, a protocol error) is
 * logged in full every time. With Sentinel (redis-url.ts) a failover is the same two lines, the
 * second naming where the primary moved (`redis at URL back; primary moved from A to B`), or
 * one line when no reconnection failed on the way (`redis at URL: primary moved from A to B`).
 */

/** socket errors of a Redis that is down, restarting or out of reach */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** an error of reaching Redis (on a connection), not of what was asked of it */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  // ioredis: a command that waited through maxRetriesPerRequest reconnections, or was sent on a
  // closed connection; no sentinel answered; a primary demoted under the connection (READONLY:
  // the connection is being dropped to ask the sentinels again, redis-url.ts)
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    err.message === 'Connection is closed.' ||
    /^connect ETIMEDOUT/.test(err.message) ||
    /^All sentinels are unreachable/.test(err.message) ||
    /^READONLY /.test(err.message)
  );
}

/**
 * An error's message, but ioredis's "All sentinels are unreachable. Retrying from scratch after
 * N ms. Last error: ..." as `no sentinel answers (...)`: the retrying is said elsewhere, or not at all
 */
export function failureMessage(err: Error): string {
  const sentinels = /^All sentinels are unreachable[^]*?(?:Last error: ([^]*))?$/.exec(err.message);
  if (!sentinels) return err.message;
  // a sentinel that cannot be reached closes its lookup connection: that says nothing more
  const last = sentinels[1] === 'Connection is closed.' ? undefined : sentinels[1];
  return `no sentinel answers${last ? ` (${last})` : ''}`;
}

/** `host:port` of the Redis a connection is on now, if it is on one */
function addressOf(conn: Redis): string | undefined {
  const stream = conn.stream as { remoteAddress?: string; remotePort?: number } | undefined;
  return stream?.remoteAddress ? `${stream.remoteAddress}:${stream.remotePort}` : undefined;
}

/** what a request that needed Redis while it was out of reach is answered (HTTP 503, a socket refusal) */
export const STORE_UNREACHABLE = 'the session store (Redis) is unreachable; try again shortly';

export class RedisHealth {
  /** connections that closed and are not ready again */
  private readonly down = new Set<Redis>();
  /** 'dropped': a connection closed without an error yet (a restart may bring it back at once) */
  private state: 'up' | 'dropped' | 'unreachable' = 'up';
  private stopped = false;

  /** the URL for the lines, without its password */
  private readonly url: string;
  /** where the connections were last seen ready: a failover moves it */
  private primary: string | undefined;

  constructor(url: string, private readonly log: Logger) {
    this.url = withoutPassword(url);
  }

  /** false from the first failed reconnection until every connection is ready again */
  get reachable(): boolean {
    return this.state !== 'unreachable';
  }

  /** follows a connection that is connected now (or connects later by itself) */
  watch(conn: Redis): void {
    this.primary ??= addressOf(conn);
    conn.on('close', () => {
      if (this.stopped) return;
      this.down.add(conn);
      if (this.state === 'up') this.state = 'dropped';
    });
    conn.on('ready', () => {
      if (!this.down.delete(conn) || this.down.size > 0 || this.stopped) return;
      const now = addressOf(conn);
      const moved = now !== undefined && this.primary !== undefined && now !== this.primary ? `primary moved from ${this.primary} to ${now}` : undefined;
      if (now !== undefined) this.primary = now;
      if (this.state === 'unreachable') this.log.info(`redis at ${this.url} back${moved ? `; ${moved}` : ''}`);
      else if (this.state === 'dropped') this.log.info(`redis at ${this.url}: ${moved ?? 'a dropped connection reconnected'}`);
      this.state = 'up';
    });
    conn.on('error', (err: Error) => {
      if (this.stopped) return;
      if (!isConnectionError(err)) {
        this.log.error({ err }, `redis at ${this.url}: ${err.message}`);
        return;
      }
      this.down.add(conn);
      if (this.state === 'unreachable') return;
      // a socket that breaks mid-write (EPIPE, ECONNRESET) says little; whether Redis is there is
      // what the next try to connect finds out
      if (conn.status !== 'connecting') {
        this.state = 'dropped';
        return;
      }
      this.state = 'unreachable';
      const code = (err as { code?: unknown }).code;
      this.log.warn(`redis at ${this.url} unreachable: ${typeof code === 'string' ? code : failureMessage(err)}; retrying`);
    });
  }

  /** the store is closing: its connections' ends are not news */
  stop(): void {
    this.stopped = true;
  }
}

type Command = (...args: unknown[]) => Promise<unknown>;

/**
 * Handles the promise of every call of `commands` on `conn`, for callers that drop them (the
 * socket.io adapter): an unhandled rejection ends a Node process. A connection error is left to
 * RedisHealth's one line; any other is logged. Returns `conn`.
 */
export function handleRejections(conn: Redis, commands: readonly string[], log: Logger | undefined): Redis {
  const methods = conn as unknown as Record<string, Command>;
  for (const name of commands) {
    const original = methods[name].bind(conn);
    methods[name] = (...args: unknown[]) => {
      const pending = original(...args);
      pending.catch((err: unknown) => {
        if (!isConnectionError(err)) log?.warn({ err }, `redis ${name} failed`);
      });
      return pending;
    };
  }
  return conn;
}
