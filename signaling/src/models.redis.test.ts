import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchModelFile, fetchSessionConfig, sha256Hex } from '@signvote/core';
import { startRedisServer, type RedisServer } from './redis-server';
import { createSignalingServer, type SignalingServer } from './server';

/**
 * Uploaded model files on one Redis (docs/models.md, docs/signaling.md "Several servers on one
 * Redis"): any server process serves a file another one received, sessions on any process may
 * name it, and the store's cap and eviction hold across processes.
 */

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`../../core/fixtures/onnx/${name}`, import.meta.url)));
const mlp = fixture('mlp.onnx');
const tabular = fixture('tabular-layernorm.onnx');
// the tabular model (12 inputs, 3 classes) needs a data spec that fits it: the server refuses it on MNIST
const tabularData = { format: 'csv', classes: ['a', 'b', 'c'] };
const convmix = fixture('convmix.onnx');

let redis: RedisServer;
let run = 0;
const servers: SignalingServer[] = [];
const children: ChildProcess[] = [];
beforeAll(async () => {
  redis = await startRedisServer();
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(
    children.splice(0).map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGTERM');
        }),
    ),
  );
});
afterAll(async () => {
  await redis?.stop();
});

/** `signvote-signaling --redis` (main.ts) as a process of its own; resolves to its URL */
async function serverProcess(prefix: string): Promise<string> {
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, '--port', '0', '--redis', redis.url, '--redis-prefix', prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  return new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server process printed no URL in 60 s: ${stderr}`)), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const url = /^signaling server on (https?:\/\/[^\s,]+)/.exec(line)?.[1];
      if (!url) return;
      clearTimeout(timer);
      resolveUrl(url);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server process exited (${code}): ${stderr}`));
    });
  });
}

async function pair(models?: { maxStoreBytes: number }): Promise<[SignalingServer, SignalingServer]> {
  const redisPrefix = `models${run++}:`;
  const made = await Promise.all([0, 1].map(() => createSignalingServer({ port: 0, logger: false, redis: redis.url, redisPrefix, models })));
  servers.push(...made);
  return [made[0], made[1]];
}

const upload = async (url: string, bytes: Uint8Array, name = 'model.onnx') => {
  const res = await fetch(`${url}/api/models?name=${encodeURIComponent(name)}`, { method: 'POST', body: bytes as Uint8Array<ArrayBuffer> });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const create = async (url: string, config: unknown) => {
  const res = await fetch(`${url}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
  return { status: res.status, body: (await res.json()) as { id: string; token: string; error?: string } };
};
const fileOf = (bytes: Uint8Array, name: string) => ({ sha256: sha256Hex(bytes), bytes: bytes.length, name });

describe('model files on one Redis', () => {
  it('a file uploaded to one server process is served, byte for byte, by another', async () => {
    const prefix = `models${run++}:`;
    const [a, b] = await Promise.all([serverProcess(prefix), serverProcess(prefix)]);
    const up = await upload(a, mlp, 'mlp.onnx');
    expect(up).toEqual({ status: 201, body: { sha256: sha256Hex(mlp), bytes: mlp.length, name: 'mlp.onnx', d: 55_050, inputShape: [784], numClasses: 10 } });

    const got = await fetch(`${b}/models/${sha256Hex(mlp)}.onnx`);
    expect(got.status).toBe(200);
    expect(got.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.from(mlp))).toBe(true);
    // what a peer does: fetch, then check the hash against the session's
    const modelFile = fileOf(mlp, 'mlp.onnx');
    expect(await fetchModelFile(b, modelFile)).toEqual(mlp);

    // an unknown hash, and a name that is no hash
    const unknown = await fetch(`${b}/models/${'0'.repeat(64)}.onnx`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toBe(`no model file ${'0'.repeat(64)} on this server: upload it first (POST /api/models)`);
    const malformed = await fetch(`${b}/models/mlp.onnx`);
    expect(malformed.status).toBe(404);
    expect(((await malformed.json()) as { error: string }).error).toMatch(/^no model file mlp\.onnx: model files are named \/models\/<SHA-256, 64 lowercase hex digits>\.onnx$/);

    // a session on the other process may name the file; its peers read it from either
    const created = await create(b, { modelFile, expectedPeers: 2 });
    expect(created.status).toBe(201);
    expect((await fetchSessionConfig(a, created.body.id, created.body.token)).modelFile).toEqual(modelFile);
    // the same bytes through the other process: the same file, under the new uploader's name
    expect(await upload(b, mlp, 'again.onnx')).toMatchObject({ status: 201, body: { sha256: sha256Hex(mlp), name: 'again.onnx', d: 55_050 } });
    // a file neither holds is refused on both
    const missing = await create(a, { modelFile: fileOf(tabular, 't.onnx'), expectedPeers: 2 });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatch(/t\.onnx \(SHA-256 [0-9a-f]{64}\) is not on this server: upload it first/);
  }, 120_000);

  it('the cap holds over all processes: the least recently used file no live session names goes first, named files stay', async () => {
    const [a, b] = await pair({ maxStoreBytes: mlp.length + tabular.length + 100 });
    const status = async (s: SignalingServer, bytes: Uint8Array) => (await fetch(`${s.url}/models/${sha256Hex(bytes)}.onnx`)).status;
    expect((await upload(a.url, convmix)).status).toBe(201);
    expect((await upload(b.url, tabular)).status).toBe(201);
    // named by a session created on a: b's uploads must not forget it
    expect((await create(a.url, { modelFile: fileOf(tabular, 't.onnx'), data: tabularData })).status).toBe(201);
    expect((await upload(b.url, mlp)).status).toBe(201);
    expect([await status(a, convmix), await status(a, tabular), await status(a, mlp)]).toEqual([404, 200, 200]);
    expect((await upload(a.url, convmix)).status).toBe(201);
    expect([await status(b, convmix), await status(b, tabular), await status(b, mlp)]).toEqual([200, 200, 404]);
    // nothing left to forget: refused, and nothing is lost
    const [c, d] = await pair({ maxStoreBytes: tabular.length + 10 });
    expect((await upload(c.url, tabular)).status).toBe(201);
    expect((await create(d.url, { modelFile: fileOf(tabular, 't.onnx'), data: tabularData })).status).toBe(201);
    const full = await upload(d.url, convmix);
    expect(full.status).toBe(507);
    expect(full.body.error).toMatch(/the model store is full/);
    expect(await status(c, tabular)).toBe(200);
  }, 60_000);
});
