import type { RedisOptions } from 'ioredis';
import { z } from 'zod';
import { describeIssues } from '@signvote/core';

/**
 * Where the session store lives, as one string (`--redis`, `REDIS_URL`, `createSignalingServer({
 * redis })`; docs/signaling.md "Several servers on one Redis"):
 *
 * - `redis://[user:pass@]host[:port][/db]` or `rediss://...` (TLS): one Redis, given to ioredis as is;
 * - `redis+sentinel://[user:pass@]host1[:port1],host2[:port2],.../NAME[?db=N]`: the primary named
 *   NAME of a Redis Sentinel deployment, asked of the sentinels at host1, host2, ... (port 26379
 *   when left out). `user:pass` are the primary's (and its replicas'); sentinels that want a
 *   password of their own get `sentinelPassword=` (and `sentinelUsername=`) in the query.
 *   ioredis asks the sentinels for the primary on every (re)connection, so after a failover every
 *   connection, duplicates included, reaches the new one.
 *
 * Characters of a user name or password that mean something in a URL (`@ : / ? # , %`) are
 * percent-encoded, as in any URL.
 */

export type RedisTarget =
  | { kind: 'single'; url: string }
  | {
      kind: 'sentinel';
      sentinels: { host: string; port: number }[];
      /** the primary's name in the sentinels' `sentinel monitor NAME ...` */
      name: string;
      db: number;
      username?: string;
      password?: string;
      sentinelUsername?: string;
      sentinelPassword?: string;
    };

/** a URL that names no Redis, or names one wrongly; its message says what is wrong */
export class RedisUrlError extends Error {
  override name = 'RedisUrlError';
}

export const SENTINEL_SCHEME = 'redis+sentinel:';
const DEFAULT_SENTINEL_PORT = 26379;

const port = z
  .string()
  .regex(/^\d{1,5}$/, 'the port is not a number')
  .transform(Number)
  .pipe(z.number().int().min(1, 'a port is 1..65535').max(65535, 'a port is 1..65535'));

const sentinelUrlSchema = z.object({
  sentinels: z
    .array(
      z.object({
        host: z.string().min(1, 'a sentinel has no host (two commas, or a comma at an end?)'),
        port,
      }),
    )
    .min(1, 'no sentinel is named'),
  name: z
    .string()
    .min(1, 'no primary is named: the path is /NAME, the name of `sentinel monitor NAME ...`')
    .regex(/^[A-Za-z0-9._-]+$/, 'the primary name is letters, digits, ".", "_" and "-"'),
  db: z
    .string()
    .regex(/^\d{1,4}$/, 'db is a database number, 0 or more')
    .transform(Number)
    .default(0),
  username: z.string().optional(),
  password: z.string().optional(),
  sentinelUsername: z.string().optional(),
  sentinelPassword: z.string().optional(),
});

const QUERY_KEYS = new Set(['db', 'sentinelUsername', 'sentinelPassword']);

/**
 * `url` with every password in it (the user info's, a `...password=` query value) replaced by
 * `***`: log lines and error messages are no place for one. Works on URLs that do not parse too.
 */
export function withoutPassword(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme < 0) return url;
  const rest = url.slice(scheme + 3);
  const query = rest.search(/[?#]/);
  const head = query < 0 ? rest : rest.slice(0, query);
  let tail = query < 0 ? '' : rest.slice(query);
  tail = tail.replace(/([?&][^=&#]*password=)[^&#]*/gi, '$1***');
  const at = head.lastIndexOf('@');
  const colon = head.indexOf(':');
  if (at < 0 || colon < 0 || colon > at || colon === at - 1) return url.slice(0, scheme + 3) + head + tail;
  return `${url.slice(0, scheme + 3)}${head.slice(0, colon + 1)}***${head.slice(at)}${tail}`;
}

const decode = (part: string, what: string, shown: string): string => {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new RedisUrlError(`bad Redis URL ${shown}: the ${what} has a stray "%" (percent-encode it as %25)`);
  }
};

/** `[v6]:port`, `host:port` or `host` */
function splitHost(entry: string): { host: string; port: string } {
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(entry);
  if (v6) return { host: v6[1], port: v6[2] ?? String(DEFAULT_SENTINEL_PORT) };
  const colon = entry.lastIndexOf(':');
  return colon < 0 ? { host: entry, port: String(DEFAULT_SENTINEL_PORT) } : { host: entry.slice(0, colon), port: entry.slice(colon + 1) };
}

/** Reads a Redis URL (the forms above); throws RedisUrlError saying what is wrong, the URL shown without its password. */
export function parseRedisUrl(url: string): RedisTarget {
  const shown = JSON.stringify(withoutPassword(url));
  if (/^rediss?:\/\//i.test(url)) {
    try {
      new URL(url);
    } catch {
      throw new RedisUrlError(`bad Redis URL ${shown}: it does not parse as a URL`);
    }
    return { kind: 'single', url };
  }
  if (!url.toLowerCase().startsWith(`${SENTINEL_SCHEME}//`)) {
    throw new RedisUrlError(`bad Redis URL ${shown}: not a redis://, rediss:// or redis+sentinel:// URL`);
  }
  let rest = url.slice(SENTINEL_SCHEME.length + 2);
  if (rest.includes('#')) throw new RedisUrlError(`bad Redis URL ${shown}: a #fragment means nothing here`);
  const q = rest.indexOf('?');
  const query = new URLSearchParams(q < 0 ? '' : rest.slice(q + 1));
  rest = q < 0 ? rest : rest.slice(0, q);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : decode(rest.slice(slash + 1), 'primary name', shown);
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? undefined : authority.slice(0, at);
  const hosts = at < 0 ? authority : authority.slice(at + 1);
  const colon = userinfo?.indexOf(':') ?? -1;
  const username = userinfo === undefined ? undefined : decode(colon < 0 ? userinfo : userinfo.slice(0, colon), 'user name', shown);
  const password = userinfo === undefined || colon < 0 ? undefined : decode(userinfo.slice(colon + 1), 'password', shown);
  for (const key of query.keys()) {
    if (!QUERY_KEYS.has(key)) throw new RedisUrlError(`bad Redis URL ${shown}: unknown option ${JSON.stringify(key)} (known: ${[...QUERY_KEYS].join(', ')})`);
  }
  const parsed = sentinelUrlSchema.safeParse({
    sentinels: hosts === '' ? [] : hosts.split(',').map(splitHost),
    name: path,
    db: query.get('db') ?? undefined,
    username: username || undefined,
    password: password || undefined,
    sentinelUsername: query.get('sentinelUsername') ?? undefined,
    sentinelPassword: query.get('sentinelPassword') ?? undefined,
  });
  if (!parsed.success) throw new RedisUrlError(`bad Redis URL ${shown}: ${describeIssues(parsed.error)}`);
  return { kind: 'sentinel', ...parsed.data };
}

/**
 * The ioredis connection options of a parsed Sentinel URL: ioredis asks the sentinels where the
 * primary is on every (re)connection and checks that what it reached says `role:master`. A
 * command refused with READONLY reached a primary that was demoted under it (a planned failover,
 * a partition that healed): the connection is dropped so the next one asks the sentinels again.
 */
export function sentinelOptions(target: Extract<RedisTarget, { kind: 'sentinel' }>): RedisOptions {
  return {
    sentinels: target.sentinels,
    name: target.name,
    db: target.db,
    username: target.username,
    password: target.password,
    sentinelUsername: target.sentinelUsername,
    sentinelPassword: target.sentinelPassword,
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
}
