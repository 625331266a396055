import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileCheckpointStore } from '../node/checkpoint-file';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpoint';
import { hashPair, hashParams } from './hash';
import { Packr } from 'msgpackr';
import { createStrategy } from '../optim';
import { createRng } from '../random';
import type { Transport } from '../transport/transport';
import { parseSessionConfig } from '../config';
import { createSessionPeer } from './peer';
import { createSim } from '../sim/testing';

const dirs: string[] = [];
const tmp = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'signvote-cp-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const sample = (round: number): Checkpoint => {
  const x = Float32Array.from({ length: 37 }, (_, i) => Math.sin(i + round));
  const xPrev = Float32Array.from({ length: 37 }, (_, i) => Math.cos(i));
  return { session: 's', round, x, xPrev, hash: hashPair(x, xPrev), savedAt: 1 };
};

describe('checkpoints', () => {
  it('a large checkpoint (over 1 MiB) is not pinned by msgpackr afterwards, and keeps its bytes', () => {
    const big = (round: number, d: number): Checkpoint => {
      const x = Float32Array.from({ length: d }, (_, i) => Math.sin(i * 0.001 + round));
      const xPrev = Float32Array.from({ length: d }, (_, i) => Math.cos(i * 0.001 + round));
      return { session: 's', round, x, xPrev, hash: hashPair(x, xPrev), savedAt: 1 };
    };
    const first = encodeCheckpoint(big(1, 200_000));
    const copy = first.slice();
    // msgpackr packs every Packr's output into one buffer of its module and keeps the largest
    // it grew: after a large checkpoint, what is packed next must land in a small one
    const next = new Packr({ useRecords: false }).pack({ a: 1 });
    expect(next.buffer.byteLength).toBeLessThan(1 << 20);
    encodeCheckpoint(big(2, 200_000));
    encodeCheckpoint(sample(3));
    expect(Buffer.from(first).equals(Buffer.from(copy))).toBe(true);
    expect(decodeCheckpoint(first).round).toBe(1);
  });

  it('round-trip through the file store, atomically replacing the previous one', async () => {
    const path = join(await tmp(), 'nested', 'cp.bin');
    const store = createFileCheckpointStore(path);
    expect(await store.load()).toBeNull();
    await store.save(sample(3));
    await store.save(sample(7));
    const cp = await store.load();
    expect(cp?.round).toBe(7);
    expect(Array.from(cp!.x)).toEqual(Array.from(sample(7).x));
    expect(cp!.hash).toBe(sample(7).hash);
  });

  it('reject a torn, tampered or foreign file', async () => {
    const path = join(await tmp(), 'cp.bin');
    const store = createFileCheckpointStore(path);
    await store.save(sample(1));
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 10));
    await expect(store.load()).rejects.toThrow(/checkpoint/);
    const flipped = new Uint8Array(bytes);
    flipped[flipped.length - 3] ^= 0x40;
    await writeFile(path, flipped);
    await expect(store.load()).rejects.toThrow(/hash mismatch/);
    await writeFile(path, new TextEncoder().encode('{"round": 3}'));
    await expect(store.load()).rejects.toThrow(/checkpoint/);
    expect(() => encodeCheckpoint({ ...sample(2), hash: '0000000000000000' })).toThrow(/hash mismatch/);
    expect(decodeCheckpoint(encodeCheckpoint(sample(4))).round).toBe(4);
  });

  it("carry the peer's worker memory, verified like the parameters", () => {
    const momentum = Float32Array.from({ length: 37 }, (_, i) => i / 7 - 2);
    const cp = { ...sample(5), memory: { momentum, error: null } };
    const back = decodeCheckpoint(encodeCheckpoint(cp));
    expect(Array.from(back.memory!.momentum!)).toEqual(Array.from(momentum));
    expect(back.memory!.error).toBeNull();
    expect(decodeCheckpoint(encodeCheckpoint(sample(5))).memory).toBeUndefined();
    // flip one bit inside the momentum bytes (they follow their msgpack key)
    const bytes = encodeCheckpoint(cp);
    const at = Buffer.from(bytes).indexOf(Buffer.from('momentum')) + 'momentum'.length + 10;
    const tampered = Uint8Array.from(bytes);
    tampered[at] ^= 0x01;
    expect(() => decodeCheckpoint(tampered)).toThrow(/memory hash mismatch/);
    expect(() => encodeCheckpoint({ ...cp, memory: { momentum: new Float32Array(3), error: null } })).toThrow(/momentum must hold 37/);
  });

  it("carry the peer's sign stream and data position; a malformed one is refused", () => {
    const coins = createRng('signs').state();
    const data = Uint8Array.from([1, 2, 3, 4, 5]);
    const cp = { ...sample(5), memory: { momentum: null, error: null, coins, data } };
    const back = decodeCheckpoint(encodeCheckpoint(cp));
    expect(back.memory!.coins).toEqual(coins);
    expect(Array.from(back.memory!.data!)).toEqual([1, 2, 3, 4, 5]);
    expect(back.memory!.data!.byteOffset).toBe(0);
    expect(() => decodeCheckpoint(encodeCheckpoint({ ...cp, memory: { ...cp.memory, coins: { ...coins, words: [0, 0, 0, 0] } } }))).toThrow(/coins: .*not all zero/);
    const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });
    const raw = packr.unpack(encodeCheckpoint(cp)) as Record<string, unknown>;
    expect(() => decodeCheckpoint(packr.pack({ ...raw, data: [1, 2] }))).toThrow(/data must be binary/);
    const { memoryHash: _, momentum: __, ...bare } = raw;
    expect(() => decodeCheckpoint(packr.pack(bare))).toThrow(/without its hash/);
  });

  it('a resumed peer starts from its saved momentum', async () => {
    const d = 37;
    const momentum = Float32Array.from({ length: d }, (_, i) => Math.sin(i) / 10);
    const saved = { ...sample(12), memory: { momentum, error: null } };
    // no membership ever arrives, so the peer only resumes and waits
    const idle: Transport = { self: 'p0', send: async () => {}, subscribe: () => () => {}, close: async () => {} };
    const start = (name: 'mv-sto-signsgd-sim' | 'mv-signsgd') => {
      const config = parseSessionConfig({ rounds: 40, algorithm: { name } });
      return createSessionPeer({
        transport: idle, config, session: 's', strategy: createStrategy(config.algorithm), params: new Float32Array(d),
        gradient: async () => new Float32Array(d),
        checkpoints: { load: async () => saved, save: async () => {} },
      });
    };
    const peer = start('mv-sto-signsgd-sim');
    for (let k = 0; k < 100 && peer.state().round !== 12; k++) await new Promise((r) => setTimeout(r, 5));
    expect(peer.state().round).toBe(12);
    expect(Array.from(peer.state().momentum!)).toEqual(Array.from(momentum));
    await peer.stop();
    // an algorithm without momentum ignores it
    const plain = start('mv-signsgd');
    for (let k = 0; k < 100 && plain.state().round !== 12; k++) await new Promise((r) => setTimeout(r, 5));
    expect(plain.state().round).toBe(12);
    expect(plain.state().momentum).toBeNull();
    await plain.stop();
  });

  it('a session resumes from saved checkpoints with identical parameters and continues the rounds', async () => {
    const dir = await tmp();
    const store = (i: number) => createFileCheckpointStore(join(dir, `peer-${i}.bin`));
    const first = createSim({ n: 4, config: { rounds: 30, checkpointEvery: 10 }, checkpoints: store });
    const done = await Promise.all(first.peers.map((p) => p.peer.finished));
    await first.stop();
    // saves are asynchronous: give the last one a moment to land
    for (let i = 0; i < 4; i++) {
      let saved = await store(i).load();
      for (let k = 0; k < 100 && saved?.round !== 30; k++) {
        await new Promise((r) => setTimeout(r, 10));
        saved = await store(i).load();
      }
      expect(saved?.round).toBe(30);
      expect(hashParams(saved!.x)).toBe(done[0].hash);
      // each peer saved its own momentum as it stood after the last round
      expect(Array.from(saved!.memory!.momentum!)).toEqual(Array.from(first.peers[i].peer.state().momentum!));
    }

    // a fresh hub and fresh processes (new peer objects), same stores, more rounds to go
    const second = createSim({ n: 4, config: { rounds: 45, checkpointEvery: 10 }, checkpoints: store });
    const res = await Promise.all(second.peers.map((p) => p.peer.finished));
    expect(new Set(res.map((r) => r.hash)).size).toBe(1);
    for (const p of second.peers) {
      expect(p.applied).toEqual(Array.from({ length: 15 }, (_, i) => 30 + i));
      expect(p.peer.stats().snapshotsInstalled).toBe(0);
    }
    await second.stop();
  });
});

describe('saveCheckpoint', () => {
  it('saves the state a peer holds now, whatever checkpointEvery says; false without a store', async () => {
    const saved: Checkpoint[] = [];
    const store = { load: async () => null, save: async (cp: Checkpoint) => void saved.push(cp) };
    let stopAt: () => void = () => {};
    const atRound7 = new Promise<void>((r) => (stopAt = r));
    const sim = createSim({
      n: 2,
      config: { rounds: 40, checkpointEvery: 0 },
      checkpoints: (i) => (i === 0 ? store : undefined),
      onEvent: (i, e) => {
        if (i === 0 && e.type === 'round' && e.round === 7) stopAt();
      },
    });
    await atRound7;
    const [withStore, without] = sim.peers.map((p) => p.peer);
    expect(saved).toEqual([]);
    expect(await withStore.saveCheckpoint()).toBe(true);
    expect(await without.saveCheckpoint()).toBe(false);
    const state = withStore.state();
    expect(saved).toHaveLength(1);
    expect(saved[0].round).toBe(state.round);
    expect(saved[0].hash).toBe(hashPair(saved[0].x, saved[0].xPrev));
    expect(hashParams(saved[0].x)).toBe(state.hash);
    await sim.stop();
  });
});
