import { Redis } from 'ioredis';
import { failureMessage } from './redis-health';
import { parseRedisUrl, sentinelOptions, withoutPassword } from './redis-url';

/**
 * The store's first connection to what a Redis URL names (redis-url.ts): one Redis, or the primary
 * of a Sentinel deployment. Every other connection of the store is its duplicate() (the same
 * options), so with Sentinel each one asks the sentinels where the primary is whenever it
 * (re)connects, and a failover moves them all.
 */

/**
 * A connection, not yet connected (connectRedis); commands wait through 3 reconnections at most
 * before they fail (the 503 of redis-health.ts). Throws RedisUrlError for a bad URL.
 */
export function openRedis(url: string): Redis {
  const target = parseRedisUrl(url);
  const common = { lazyConnect: true, maxRetriesPerRequest: 3 };
  return target.kind === 'single' ? new Redis(target.url, common) : new Redis({ ...sentinelOptions(target), ...common });
}

/**
 * Connects `conns`, failing at the first error of any: ioredis retries Sentinel lookups forever
 * inside connect(), and a server that cannot reach its store at start says so and exits. Throws
 * `cannot reach Redis at URL (no password): why`.
 */
export async function connectRedis(conns: Redis[], url: string): Promise<void> {
  const failed: ((err: Error) => void)[] = [];
  try {
    await Promise.all(
      conns.map(
        (conn, i) =>
          new Promise<void>((connected, fail) => {
            failed[i] = fail;
            conn.once('error', fail);
            conn.connect().then(connected, fail);
          }),
      ),
    );
  } catch (err) {
    let why = failureMessage(err as Error);
    const target = parseRedisUrl(url);
    // a sentinel asked for a primary it does not monitor
    if (target.kind === 'sentinel' && /No such master with that name/.test(why)) why = `the sentinels know no primary named ${JSON.stringify(target.name)}`;
    throw new Error(`cannot reach Redis at ${withoutPassword(url)}: ${why}`);
  } finally {
    conns.forEach((conn, i) => conn.off('error', failed[i]));
  }
}
