import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import { sha256Hex, SIGNALING_EVENTS } from '@signvote/core';
import { createSignalingServer, type SignalingServer } from './server';

/**
 * POST /api/sessions (and the socket's create) refuses a session no peer could ever train, in
 * the sentence each peer would give on joining; configs that fit are still created.
 */

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`../../core/fixtures/onnx/${name}`, import.meta.url)));
const open: SignalingServer[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const c of sockets.splice(0)) c.disconnect();
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function server(): Promise<SignalingServer> {
  const s = await createSignalingServer({ port: 0, logger: false });
  open.push(s);
  return s;
}

const create = async (s: SignalingServer, config: unknown) => {
  const res = await fetch(`${s.url}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
  return { status: res.status, body: (await res.json()) as { id?: string; error?: string } };
};

async function uploaded(s: SignalingServer, name: string) {
  const bytes = fixture(name);
  const res = await fetch(`${s.url}/api/models?name=${name}`, { method: 'POST', body: bytes as Uint8Array<ArrayBuffer> });
  expect(res.status).toBe(201);
  return { sha256: sha256Hex(bytes), bytes: bytes.length, name };
}

const csv = (classes: number, extra: Record<string, unknown> = {}) => ({ format: 'csv', classes: Array.from({ length: classes }, (_, i) => `c${i}`), ...extra });

describe('creating a session no peer can join', () => {
  it('refuses a layer list whose shapes do not chain, in the words peers use', async () => {
    const s = await server();
    const network = { inputShape: [1, 28, 28], numClasses: 10, layers: [{ type: 'conv2d', filters: 6, kernel: 5 }, { type: 'dense', units: 10 }] };
    const refused = await create(s, { network });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid session config: network: layer 2 (dense) needs a flat input, got [6,24,24]; add a flatten layer before it');
    const fixed = await create(s, { network: { ...network, layers: [network.layers[0], { type: 'flatten' }, network.layers[1]] } });
    expect(fixed.status).toBe(201);
  });

  it('refuses a layer list over the parameter cap without building it', async () => {
    const s = await server();
    const huge = await create(s, { network: { inputShape: [4096], numClasses: 10, layers: [{ type: 'dense', units: 65_536 }, { type: 'dense', units: 10 }] } });
    expect(huge.status).toBe(400);
    expect(huge.body.error).toMatch(/fc1\.weight takes the network over the 16,777,216-parameter cap/);
  });

  it('refuses own data whose classes, features or standardization do not fit the model', async () => {
    const s = await server();
    const tabular = await uploaded(s, 'tabular-layernorm.onnx'); // 12 inputs, 3 classes
    const tokens = await uploaded(s, 'embedding.onnx'); // 8 token ids in [0, 32), 4 classes
    const cases: [unknown, string][] = [
      [{ modelFile: tokens, data: csv(4, { standardize: { mean: Array(8).fill(15), std: Array(8).fill(9) } }) }, 'data: the session standardizes its features, its model takes token ids (whole numbers in [0, 32)) as they are'],
      [{ modelFile: tokens, data: { format: 'images', classes: csv(4).classes, height: 2, width: 4 } }, "data: the session's samples are images, its model takes token ids (whole numbers in [0, 32))"],
      [{ model: 'mlp', data: csv(3) }, 'data: the session names 3 classes, its model has 10 outputs'],
      [{ modelFile: tabular, data: csv(3, { features: ['a', 'b', 'c', 'd'] }) }, 'data: the session names 4 features (a, b, c, d), its model takes 12 inputs'],
      [{ modelFile: tabular, data: csv(3, { standardize: { mean: [0, 0], std: [1, 1] } }) }, 'data: the session standardizes 2 features, its model takes 12 inputs'],
      [{ modelFile: tabular, data: { format: 'images', classes: ['a', 'b', 'c'], height: 28, width: 28 } }, 'data: the session makes 1x28x28 = 784 inputs per image, its model takes 12'],
      [{ model: 'cnn', data: { format: 'images', classes: csv(10).classes, channels: 3, height: 28, width: 28 } }, 'data: the session makes 3x28x28 = 2352 inputs per image, its model takes 784'],
      [{ model: 'mlp', data: { format: 'images', classes: csv(10).classes, height: 28, width: 28, standardize: { mean: [0, 0, 0], std: [1, 1, 1] } } }, 'data: the session standardizes 3 channels, its images have 1'],
      [{ modelFile: tabular }, 'dataset mnist (1x28x28, 10 classes) does not fit model tabular-layernorm.onnx (12, 3 classes)'],
    ];
    for (const [config, sentence] of cases) {
      const refused = await create(s, config);
      expect(refused, JSON.stringify(config)).toEqual({ status: 400, body: expect.objectContaining({ error: `invalid session config: ${sentence}` }) });
    }
    // the socket's create checks alike
    const socket = io(s.url, { transports: ['websocket'], reconnection: false });
    sockets.push(socket);
    const viaSocket = await new Promise<Record<string, unknown>>((resolve) => socket.emit(SIGNALING_EVENTS.create, { model: 'mlp', data: csv(3) }, resolve));
    expect(viaSocket).toMatchObject({ ok: false, code: 'invalid', error: 'invalid session config: data: the session names 3 classes, its model has 10 outputs' });
    // what fits is created
    for (const config of [
      { modelFile: tabular, data: csv(3, { standardize: { mean: Array(12).fill(0), std: Array(12).fill(1) } }) },
      { modelFile: tabular, data: csv(3) },
      { modelFile: tokens, data: csv(4) },
      { model: 'cnn', data: { format: 'images', classes: csv(10).classes, height: 28, width: 28, standardize: { mean: [0.1], std: [0.3] } } },
      { model: 'lenet5' },
      {},
    ]) expect((await create(s, config)).status, JSON.stringify(config)).toBe(201);
  });

  it('refuses an ICE server URL that is not STUN or TURN, naming the entry', async () => {
    const s = await server();
    const refused = await create(s, { iceServers: [{ urls: ['stun:stun.example.org:3478', 'notaurl'] }] });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatch(/^invalid session config: iceServers\.0\.urls\.1: "notaurl" is not a STUN or TURN URL/);
    const ok = await create(s, { iceServers: [{ urls: 'turns:[2001:db8::1]:5349?transport=tcp', username: 'u', credential: 'c' }, { urls: 'stun:192.0.2.1' }] });
    expect(ok.status).toBe(201);
  });
});
