import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLog, until, type LogLine } from './log-capture';
import { handleRejections, STORE_UNREACHABLE } from './redis-health';
import { freePort, startRedisServer, type RedisServer } from './redis-server';
import { createSignalingServer, type SignalingServer } from './server';

/**
 * What a server on Redis logs when Redis goes away and comes back (redis-health.ts): one line
 * each way, no stack traces, whatever the number of reconnection tries in between; and what it
 * answers meanwhile. Against a real redis-server, killed and restarted on its port.
 */

const redisLines = (lines: LogLine[]) => lines.filter((l) => /redis/i.test(l.msg) || l.err !== undefined);

let server: SignalingServer | undefined;
let redis: RedisServer | undefined;
afterEach(async () => {
  await server?.close();
  await redis?.stop();
  server = redis = undefined;
});

describe('a server on Redis that loses it', () => {
  it('logs one line when Redis goes away and one when it is back, no stacks, and answers 503 meanwhile', async () => {
    const port = await freePort();
    redis = await startRedisServer(undefined, port);
    const { lines, logger } = captureLog();
    server = await createSignalingServer({ port: 0, logger, redis: redis.url, redisPrefix: 'health:' });
    const url = `redis://127.0.0.1:${port}`;
    expect(redisLines(lines)).toEqual([]);

    await redis.stop();
    await until(() => lines.some((l) => /unreachable/.test(l.msg)), 'the unreachable line');
    // each request that needs Redis now waits through three failed reconnections, then is refused:
    // many tries, one line
    for (let i = 0; i < 3; i++) {
      const health = await fetch(`${server.url}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.json()).toEqual({ ok: false, error: STORE_UNREACHABLE });
    }
    expect(redisLines(lines).map((l) => [l.level, l.msg])).toEqual([[40, `redis at ${url} unreachable: ECONNREFUSED; retrying`]]);

    redis = await startRedisServer(undefined, port);
    await until(() => lines.some((l) => / back$/.test(l.msg)), 'the back line');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(redisLines(lines).map((l) => [l.level, l.msg])).toEqual([
      [40, `redis at ${url} unreachable: ECONNREFUSED; retrying`],
      [30, `redis at ${url} back`],
    ]);
    expect(lines.filter((l) => l.err !== undefined)).toEqual([]);
  }, 60_000);

  it('closes while Redis is down: no hang, no error, nothing left unhandled', async () => {
    redis = await startRedisServer();
    const { lines, logger } = captureLog();
    const closing = await createSignalingServer({ port: 0, logger, redis: redis.url, redisPrefix: 'health:' });
    await redis.stop();
    await until(() => lines.some((l) => /unreachable/.test(l.msg)), 'the unreachable line');
    // what SIGTERM does; the adapter unsubscribes on a connection that cannot reach Redis
    await closing.close();
    expect(lines.filter((l) => l.err !== undefined)).toEqual([]);
  }, 60_000);

  it("handles the promises the socket.io adapter drops: a publish that cannot reach Redis is no unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const conn = handleRejections(new Redis(`redis://127.0.0.1:${await freePort()}`, { lazyConnect: true, maxRetriesPerRequest: 1 }), ['publish'], undefined);
    conn.on('error', () => undefined);
    try {
      // as the adapter does: the promise is dropped
      void conn.publish('signvote:socket.io#/#', 'x');
      // queued behind it, and refused with it
      await expect(conn.publish('signvote:socket.io#/#', 'y')).rejects.toThrow(/max retries per request/);
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
    } finally {
      conn.disconnect();
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('still logs, in full, an error that is not about reaching Redis', async () => {
    redis = await startRedisServer();
    const { lines, logger } = captureLog();
    server = await createSignalingServer({ port: 0, logger, redis: redis.url, redisPrefix: 'health:' });
    // Redis now wants a password the server was not given; its connections are cut and reconnect
    const admin = new Redis(redis.url);
    try {
      await admin.config('SET', 'requirepass', 'sesame');
      await admin.auth('sesame');
      await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await until(() => lines.some((l) => /NOAUTH/.test(l.msg)), 'the NOAUTH error');
    } finally {
      admin.disconnect();
    }
    const refused = lines.find((l) => /NOAUTH/.test(l.msg))!;
    expect(refused.level).toBe(50);
    expect(refused.err?.stack).toMatch(/NOAUTH/);
  }, 60_000);

  it('does not start on a port where no Redis listens, and says why in one error, not in log lines', async () => {
    const port = await freePort();
    const { lines, logger } = captureLog();
    await expect(createSignalingServer({ port: 0, logger, redis: `redis://127.0.0.1:${port}` })).rejects.toThrow(`cannot reach Redis at redis://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(lines).toEqual([]);
  });
});
