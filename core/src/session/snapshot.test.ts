import { describe, expect, it } from 'vitest';
import { SNAPSHOT_CHUNK_FLOATS } from '../protocol/messages';
import { createRng } from '../random';
import { hashPair, hashParams, paramHashPattern } from './hash';
import { SnapshotAssembler, snapshotPieces } from './snapshot';

const randomVector = (d: number, seed: number): Float32Array => {
  const rng = createRng(seed);
  return Float32Array.from({ length: d }, () => rng.normal());
};

describe('parameter hash', () => {
  it('is 64 bits of hex and changes with any single bit, the length, or the sign of zero', () => {
    const x = randomVector(1000, 1);
    const h = hashParams(x);
    expect(h).toMatch(paramHashPattern);
    expect(hashParams(new Float32Array(x))).toBe(h);
    const words = new Uint32Array(x.buffer);
    const seen = new Set([h]);
    for (const i of [0, 1, 499, 999]) {
      for (const bit of [0, 13, 31]) {
        words[i] ^= 1 << bit;
        seen.add(hashParams(x));
        words[i] ^= 1 << bit;
      }
    }
    expect(seen.size).toBe(13);
    expect(hashParams(x.subarray(0, 999))).not.toBe(h);
    expect(hashParams(Float32Array.of(0))).not.toBe(hashParams(Float32Array.of(-0)));
    // both lanes move: no half of the hash is constant across inputs
    const a = hashParams(randomVector(64, 2)), b = hashParams(randomVector(64, 3));
    expect(a.slice(0, 8)).not.toBe(b.slice(0, 8));
    expect(a.slice(8)).not.toBe(b.slice(8));
    expect(hashPair(x, x)).not.toBe(hashPair(x, randomVector(1000, 9)));
  });
});

describe('snapshot pieces', () => {
  for (const d of [1, 100, SNAPSHOT_CHUNK_FLOATS, SNAPSHOT_CHUNK_FLOATS + 3, 50_890]) {
    it(`reassemble x and x_prev exactly (d = ${d}), in any order`, () => {
      const x = randomVector(d, d), xPrev = randomVector(d, d + 1);
      const pieces = [...snapshotPieces({ round: 7, x, xPrev })];
      expect(pieces.length).toBe(Math.ceil((2 * d) / SNAPSHOT_CHUNK_FLOATS));
      expect(pieces.every((p) => p.data.byteLength <= 64 * 1024)).toBe(true);
      const asm = new SnapshotAssembler(d);
      let out = null;
      for (const p of [...pieces].reverse()) out = asm.add('p1', p) ?? out;
      expect(out).not.toBeNull();
      expect(out!.round).toBe(7);
      expect(hashParams(out!.x)).toBe(hashParams(x));
      expect(hashParams(out!.xPrev)).toBe(hashParams(xPrev));
    });
  }

  it('reject a piece whose content does not match the announced hash, and foreign sizes', () => {
    const d = 300;
    const pieces = [...snapshotPieces({ round: 1, x: randomVector(d, 1), xPrev: randomVector(d, 2) })];
    const bad = { ...pieces[0], data: new Uint8Array(pieces[0].data) };
    bad.data[5] ^= 1;
    const asm = new SnapshotAssembler(d);
    expect(() => asm.add('p1', bad)).toThrow(/hashes to/);
    expect(() => new SnapshotAssembler(d + 1).add('p1', pieces[0])).toThrow(/d = /);
    expect(() => asm.add('p1', { ...pieces[0], data: pieces[0].data.subarray(0, 8) })).toThrow(/values, expected/);
  });
});
