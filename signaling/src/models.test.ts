import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import { fetchModelFile, fetchSessionConfig, ModelFileMismatchError, sha256Hex, SIGNALING_EVENTS, startPeer, verifyModelFile } from '@signvote/core';
import { createSignalingServer, type SignalingServer, type SignalingServerOptions } from './server';

/** Model files travel with sessions: upload, refusal, caps, eviction, and the pre-join session description. */

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`../../core/fixtures/onnx/${name}`, import.meta.url)));
const mlp = fixture('mlp.onnx');
const tabular = fixture('tabular-layernorm.onnx');
// the tabular model (12 inputs, 3 classes) needs a data spec that fits it: the server refuses it on MNIST
const tabularData = { format: 'csv', classes: ['a', 'b', 'c'] };
const open: SignalingServer[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const c of sockets.splice(0)) c.disconnect();
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function server(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const s = await createSignalingServer({ port: 0, logger: false, ...options });
  open.push(s);
  return s;
}

const upload = async (s: SignalingServer, bytes: Uint8Array, name = 'model.onnx') => {
  const res = await fetch(`${s.url}/api/models?name=${encodeURIComponent(name)}`, { method: 'POST', body: bytes as Uint8Array<ArrayBuffer>, headers: { 'content-type': 'application/octet-stream' } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const create = async (s: SignalingServer, config: unknown) => {
  const res = await fetch(`${s.url}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
  return { status: res.status, body: (await res.json()) as { id: string; token: string; error?: string } };
};

describe('model files', () => {
  it('imports an upload, serves it under its hash, and creates a session that names it', async () => {
    const s = await server();
    const up = await upload(s, mlp, 'mlp.onnx');
    expect(up.status).toBe(201);
    expect(up.body).toEqual({ sha256: sha256Hex(mlp), bytes: mlp.length, name: 'mlp.onnx', d: 55_050, inputShape: [784], numClasses: 10 });
    const modelFile = { sha256: sha256Hex(mlp), bytes: mlp.length, name: 'mlp.onnx' };
    expect(await fetchModelFile(s.url, modelFile)).toEqual(mlp);
    const created = await create(s, { modelFile, expectedPeers: 2 });
    expect(created.status).toBe(201);
    const config = await fetchSessionConfig(s.url, created.body.id, created.body.token);
    expect(config.modelFile).toEqual(modelFile);
    expect(config.expectedPeers).toBe(2);
    // the socket path checks the same way
    const socket = io(s.url, { transports: ['websocket'], reconnection: false });
    sockets.push(socket);
    const createOverSocket = (config: unknown) => new Promise<Record<string, unknown>>((resolve) => socket.emit(SIGNALING_EVENTS.create, config, resolve));
    expect(await createOverSocket({ modelFile: { ...modelFile, sha256: 'a'.repeat(64) } })).toMatchObject({ ok: false, code: 'invalid', error: expect.stringMatching(/is not on this server: upload it first/) });
    expect(await createOverSocket({ modelFile })).toMatchObject({ ok: true, id: expect.any(String) });
  });

  it('refuses a file that does not import, an empty body, a file over the cap, and a session naming an unknown file', async () => {
    const s = await server({ models: { maxModelBytes: 60_000 } });
    const corrupt = await upload(s, new TextEncoder().encode('not an onnx model at all'), 'junk.onnx');
    expect(corrupt.status).toBe(400);
    expect(corrupt.body).toMatchObject({ code: 'corrupt', error: expect.stringMatching(/^junk\.onnx: /) });
    expect((await upload(s, new Uint8Array(0))).status).toBe(400);
    const big = await upload(s, mlp);
    expect(big.status).toBe(413);
    expect(big.body.error).toMatch(/over this server's cap of 60000 bytes/);
    const unknown = await create(s, { modelFile: { sha256: sha256Hex(tabular), bytes: tabular.length, name: 't.onnx' }, data: tabularData });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/t\.onnx \(SHA-256 [0-9a-f]{64}\) is not on this server/);
    expect((await upload(s, tabular)).status).toBe(201);
    const wrongSize = await create(s, { modelFile: { sha256: sha256Hex(tabular), bytes: 12, name: 't.onnx' }, data: tabularData });
    expect(wrongSize.body.error).toMatch(/the config says 12 bytes, the stored file has/);
    expect((await fetch(`${s.url}/models/${'0'.repeat(64)}.onnx`)).status).toBe(404);
  });

  it('forgets the least recently used file no live session names, and says so when all are named', async () => {
    const convmix = fixture('convmix.onnx');
    const status = async (bytes: Uint8Array) => (await fetch(`${s.url}/models/${sha256Hex(bytes)}.onnx`)).status;
    const s = await server({ models: { maxStoreBytes: mlp.length + tabular.length + 100 } });
    expect((await upload(s, convmix)).status).toBe(201);
    expect((await upload(s, tabular)).status).toBe(201);
    expect((await create(s, { modelFile: { sha256: sha256Hex(tabular), bytes: tabular.length, name: 't.onnx' }, data: tabularData })).status).toBe(201);
    // room for the MLP only without convmix, which no session names
    expect((await upload(s, mlp)).status).toBe(201);
    expect([await status(convmix), await status(tabular), await status(mlp)]).toEqual([404, 200, 200]);
    // convmix again: the MLP (unnamed) goes, the named tabular file stays
    expect((await upload(s, convmix)).status).toBe(201);
    expect([await status(convmix), await status(tabular), await status(mlp)]).toEqual([200, 200, 404]);

    const small = await server({ models: { maxStoreBytes: tabular.length + 10 } });
    expect((await upload(small, tabular)).status).toBe(201);
    expect((await create(small, { modelFile: { sha256: sha256Hex(tabular), bytes: tabular.length, name: 't.onnx' }, data: tabularData })).status).toBe(201);
    const full = await upload(small, convmix);
    expect(full.status).toBe(507);
    expect(full.body.error).toMatch(/the model store is full/);
  });

  it('describes a session before joining only to its token holders', async () => {
    const s = await server();
    const created = await create(s, { expectedPeers: 3 });
    await expect(fetchSessionConfig(s.url, created.body.id, 'wrong')).rejects.toMatchObject({ code: 'bad-token' });
    await expect(fetchSessionConfig(s.url, 'nope', created.body.token)).rejects.toMatchObject({ code: 'unknown-session' });
    expect((await fetch(`${s.url}/api/sessions/${created.body.id}/config`)).status).toBe(403);
    expect((await fetchSessionConfig(s.url, created.body.id, created.body.token)).expectedPeers).toBe(3);
  });

  it('a peer whose model bytes do not match the session refuses them, naming both hashes, and never joins', async () => {
    const s = await server();
    expect((await upload(s, tabular, 'tabular.onnx')).status).toBe(201);
    const modelFile = { sha256: sha256Hex(tabular), bytes: tabular.length, name: 'tabular.onnx' };
    const created = await create(s, { modelFile, expectedPeers: 2, data: { format: 'csv', classes: ['a', 'b', 'c'] } });
    const tampered = tabular.slice();
    tampered[tampered.length - 10] ^= 1;
    expect(() => verifyModelFile(tampered, modelFile)).toThrow(ModelFileMismatchError);
    expect(() => verifyModelFile(tampered, modelFile, 'http://x')).toThrow(
      new RegExp(`the model file from http://x has SHA-256 ${sha256Hex(tampered)}, the session's tabular\\.onnx has ${modelFile.sha256}: refusing to train on a different model`),
    );
    expect(() => verifyModelFile(tabular.subarray(1), modelFile)).toThrow(/has 8797 bytes, the session's tabular\.onnx has 8798/);
    let loaded = false;
    await expect(
      startPeer({
        serverUrl: s.url,
        sessionId: created.body.id,
        token: created.body.token,
        backend: 'wasm',
        // a server (or a proxy on the way) that hands out other bytes under the session's hash
        fetchModel: async (_url, file) => verifyModelFile(tampered, file, 'the server'),
        loadData: async () => {
          loaded = true;
          throw new Error('unreachable: the model check comes first');
        },
        createOracle: () => Promise.reject(new Error('unreachable')),
      }),
    ).rejects.toThrow(ModelFileMismatchError);
    expect(loaded).toBe(false);
    const health = (await (await fetch(`${s.url}/healthz`)).json()) as { peers: number };
    expect(health.peers).toBe(0);
  });
});
