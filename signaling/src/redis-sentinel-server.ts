import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, kill, REDIS_SERVER_BINARY, spawnRedis, startRedisServer, type RedisServer } from './redis-server';

/**
 * A throwaway Sentinel deployment for tests (docs/signaling.md, "Surviving the loss of the
 * primary"): a primary, one replica of it, and three sentinels that watch it with quorum 2, all
 * real redis-server processes on free ports, their configs in a temporary directory. A primary
 * that does not answer for `downAfterMs` is replaced by the replica within a few seconds.
 */
export interface RedisSentinels {
  /** redis+sentinel://[:PASSWORD@]127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/NAME */
  readonly url: string;
  readonly name: string;
  readonly primary: RedisServer;
  readonly replica: RedisServer;
  readonly sentinelPorts: number[];
  /** the primary's address as the sentinels report it now (`host:port`) */
  primaryAddress(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Resolves once the replica has synced and every sentinel knows the replica and the two other
 * sentinels (a failover needs both); throws after `readyMs` otherwise.
 */
export async function startRedisSentinels(options: { name?: string; password?: string; downAfterMs?: number; readyMs?: number } = {}): Promise<RedisSentinels> {
  const name = options.name ?? 'signvote';
  // the primary and the replica want it of clients and of each other; the sentinels of both
  const auth = options.password === undefined ? [] : ['--requirepass', options.password, '--masterauth', options.password];
  const dir = await mkdtemp(join(tmpdir(), 'signvote-sentinel-'));
  const started: { stop(): Promise<void> }[] = [];
  const stop = async () => {
    await Promise.all(started.map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // a replica keeps the primary's RDB on disk while it syncs: in the temporary directory, not here
    const primary = await startRedisServer(undefined, undefined, ['--dir', dir, ...auth]);
    started.push(primary);
    // diskless sync without its default 5 s wait for more replicas: the replica is ready at once
    const replica = await startRedisServer(undefined, undefined, ['--replicaof', '127.0.0.1', String(primary.port), '--repl-diskless-sync-delay', '0', '--dir', dir, ...auth], /MASTER <-> REPLICA sync: (Finished with success|Master accepted a Partial Resynchronization)/);
    started.push(replica);
    const sentinelPorts = await Promise.all([0, 1, 2].map(() => freePort()));
    await Promise.all(
      sentinelPorts.map(async (port, i) => {
        // a sentinel rewrites its config file (what it learned, its id): one file each
        const conf = join(dir, `sentinel-${i}.conf`);
        await writeFile(
          conf,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            `sentinel monitor ${name} 127.0.0.1 ${primary.port} 2`,
            `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
            `sentinel failover-timeout ${name} 5000`,
            ...(options.password === undefined ? [] : [`sentinel auth-pass ${name} ${options.password}`]),
            '',
          ].join('\n'),
        );
        const child = await spawnRedis(REDIS_SERVER_BINARY, [conf, '--sentinel'], /\+monitor master/);
        started.push({ stop: () => kill(child) });
      }),
    );
    const ask = async <T>(port: number, ask: (r: Redis) => Promise<T>): Promise<T> => {
      const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      r.on('error', () => undefined);
      try {
        await r.connect();
        return await ask(r);
      } finally {
        r.disconnect();
      }
    };
    const sentinelView = (port: number) =>
      ask(port, async (r) => {
        const flat = (await r.call('SENTINEL', 'MASTER', name)) as string[];
        const fields = new Map<string, string>();
        for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i], flat[i + 1]);
        return { others: Number(fields.get('num-other-sentinels')), replicas: Number(fields.get('num-slaves')) };
      });
    const end = Date.now() + (options.readyMs ?? 20_000);
    for (;;) {
      const views = await Promise.all(sentinelPorts.map(sentinelView));
      if (views.every((v) => v.others === 2 && v.replicas === 1)) break;
      if (Date.now() > end) throw new Error(`the sentinels did not find each other and the replica in time: ${JSON.stringify(views)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      url: `redis+sentinel://${options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`}${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${name}`,
      name,
      primary,
      replica,
      sentinelPorts,
      primaryAddress: async () => {
        for (const port of sentinelPorts) {
          const addr = await ask(port, (r) => r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name) as Promise<[string, string] | null>).catch(() => null);
          if (addr) return `${addr[0]}:${addr[1]}`;
        }
        throw new Error('no sentinel answers');
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
