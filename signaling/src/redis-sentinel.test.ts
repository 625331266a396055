import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLog, until, type LogLine } from './log-capture';
import { createSignalingClient, sha256Hex, type MembershipEpoch, type SignalData, type SignalingClient } from '@signvote/core';
import { freePort } from './redis-server';
import { startRedisSentinels, type RedisSentinels } from './redis-sentinel-server';
import { createSignalingServer, type SignalingServer } from './server';

/**
 * Two servers on a Redis Sentinel deployment (docs/signaling.md, "Surviving the loss of the
 * primary"): a real primary, replica and three sentinels (redis-sentinel-server.ts). The primary is
 * killed with SIGKILL; once the sentinels have promoted the replica, every connection of both
 * servers (store, transactions, the adapter's pub and sub, model files) is on it: the session,
 * its seats and join sequence, and an uploaded model file are there, a new peer joins and its
 * signals cross between the servers. Meanwhile requests are answered 503, and each server logs
 * one line down and one line back naming the new primary, without the password.
 */

const redisLines = (lines: LogLine[]) => lines.filter((l) => /redis/i.test(l.msg) || l.err !== undefined).map((l) => [l.level, l.msg]);
const mlp = new Uint8Array(readFileSync(new URL('../../core/fixtures/onnx/mlp.onnx', import.meta.url)));
const node = { backend: 'node' } as const;
const offer: SignalData = { type: 'offer', sdp: 'v=0' };
const PASSWORD = 'sesame-42';

let deployment: RedisSentinels | undefined;
const servers: SignalingServer[] = [];
const clients: SignalingClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await deployment?.stop();
  deployment = undefined;
});

function client(url: string): SignalingClient {
  const c = createSignalingClient(url, { transports: ['websocket'] });
  clients.push(c);
  return c;
}

describe('servers on a Redis Sentinel deployment', () => {
  it('keep their sessions, seats and model files when the primary is killed and a replica promoted', async () => {
    deployment = await startRedisSentinels({ name: 'votes', password: PASSWORD });
    const { primary, replica } = deployment;
    // a name the sentinels do not monitor is refused at start, in words
    const wrongName = deployment.url.replace('/votes', '/ballots');
    await expect(createSignalingServer({ port: 0, logger: false, redis: wrongName })).rejects.toThrow(
      `cannot reach Redis at ${wrongName.replace(PASSWORD, '***')}: the sentinels know no primary named "ballots"`,
    );
    const logs = [captureLog(), captureLog()];
    const [a, b] = await Promise.all(logs.map(({ logger }) => createSignalingServer({ port: 0, logger, redis: deployment!.url, redisPrefix: 'failover:' })));
    servers.push(a, b);

    const model = await a.storeModel(mlp, 'mlp.onnx');
    const { id, token } = await client(a.url).createSession({ expectedPeers: 3, modelFile: { sha256: model.sha256, bytes: model.bytes, name: 'mlp.onnx' } });
    const onA = client(a.url);
    const onB = client(b.url);
    const first = await onA.join({ sessionId: id, token, info: node });
    const second = await onB.join({ sessionId: id, token, info: node });
    await until(() => onA.membership?.epoch === second.membership.epoch, 'the second join heard on a');
    const record = await onA.readRecord();

    // replication is asynchronous: what this test checks afterwards must be on the replica before
    // the primary dies (docs/signaling.md says what a real failover may lose)
    const direct = new Redis(primary.url, { password: PASSWORD });
    try {
      await direct.set('fence', '1');
      expect(await direct.call('WAIT', '1', '10000')).toBe(1);
    } finally {
      direct.disconnect();
    }

    await primary.stop();
    // until both servers answer again: 503 while the primary is gone, never a 500
    const statuses = new Set<number>();
    await until(
      async () => {
        const got = await Promise.all([a, b].map(async (s) => (await fetch(`${s.url}/healthz`)).status));
        for (const s of got) statuses.add(s);
        return got.every((s) => s === 200);
      },
      'both servers healthy on the new primary',
      45_000,
    );
    expect([...statuses].sort()).toEqual([200, 503]);
    expect(await deployment.primaryAddress()).toBe(`127.0.0.1:${replica.port}`);

    // the session, its seats and record, read through either server
    expect(await b.members(id)).toBe(2);
    expect(await a.members(id)).toBe(2);
    expect(await onB.readRecord()).toEqual(record);
    // a new peer joins through b: the join sequence goes on, a's peer hears the epoch (the adapter's
    // pub and sub on the new primary), and its signal crosses to a
    const epochs: MembershipEpoch[] = [];
    onA.subscribe({ membership: (m) => epochs.push(m) });
    const got: [string, SignalData][] = [];
    onA.subscribe({ signal: (from, data) => got.push([from, data]) });
    const onB2 = client(b.url);
    const third = await onB2.join({ sessionId: id, token, info: node });
    expect(third.membership.peers.map((p) => [p.id, p.seq])).toEqual([
      [first.peerId, 0],
      [second.peerId, 1],
      [third.peerId, 2],
    ]);
    await until(() => epochs.length === 1, 'the third join heard on a');
    expect(epochs[0]).toEqual(third.membership);
    onB2.sendSignal(first.peerId, offer);
    await until(() => got.length === 1, 'a signal from b to a');
    expect(got[0]).toEqual([third.peerId, offer]);
    // the model file uploaded to a before, served by b from the new primary
    const file = await fetch(`${b.url}/models/${model.sha256}.onnx`);
    expect(file.status).toBe(200);
    expect(sha256Hex(new Uint8Array(await file.arrayBuffer()))).toBe(model.sha256);

    // one line down, one line back naming the new primary; no stacks; no password
    const shown = deployment.url.replace(`:${PASSWORD}@`, ':***@');
    for (const { lines } of logs) {
      await until(() => lines.some((l) => / back;/.test(l.msg)), 'the back line');
      expect(redisLines(lines)).toEqual([
        [40, `redis at ${shown} unreachable: ECONNREFUSED; retrying`],
        [30, `redis at ${shown} back; primary moved from 127.0.0.1:${primary.port} to 127.0.0.1:${replica.port}`],
      ]);
      expect(JSON.stringify(lines)).not.toContain(PASSWORD);
    }
  }, 90_000);

  it('does not start when no sentinel answers, and says so in one error, not in log lines', async () => {
    const ports = [await freePort(), await freePort()];
    const url = `redis+sentinel://:${PASSWORD}@127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}/votes`;
    const { lines, logger } = captureLog();
    await expect(createSignalingServer({ port: 0, logger, redis: url })).rejects.toThrow(
      `cannot reach Redis at redis+sentinel://:***@127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}/votes: no sentinel answers`,
    );
    expect(lines).toEqual([]);
  });

  it('refuses a bad URL before connecting anywhere', async () => {
    await expect(createSignalingServer({ port: 0, logger: false, redis: 'redis+sentinel://:sesame@127.0.0.1:1/' })).rejects.toThrow(
      'bad Redis URL "redis+sentinel://:***@127.0.0.1:1/": name: no primary is named',
    );
  });
});
