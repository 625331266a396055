import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileCheckpointStore } from '../node/checkpoint-file';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpoint';
import { hashPair, hashParams } from './hash';
import { createSim } from './testing';

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
