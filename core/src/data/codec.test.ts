import { describe, expect, it } from 'vitest';
import { createRng } from '../random';
import { crc32, decodeDataset, encodeDataset, encodedDatasetBytes } from './codec';
import { createSyntheticDatasets } from './synthetic';
import type { Dataset } from './dataset';

function small(): Dataset {
  return createSyntheticDatasets({ seed: 5, trainCount: 50, testCount: 1 }).train;
}

describe('dataset codec', () => {
  it('uses the standard CRC-32 (zlib / gzip check values)', () => {
    const text = (s: string) => new TextEncoder().encode(s);
    expect(crc32(text('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(text('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
    // every tail length of the 4-byte loop agrees with a byte-at-a-time CRC
    const rng = createRng(3);
    const bytes = new Uint8Array(23).map(() => rng.int(256));
    for (let n = 0; n <= bytes.length; n++) expect(crc32(bytes.subarray(0, n))).toBe(bytewiseCrc(bytes.subarray(0, n)));
  });

  it('round-trips exactly and is compact', () => {
    const ds = small();
    const bytes = encodeDataset(ds);
    expect(bytes.length).toBe(encodedDatasetBytes(ds));
    expect(bytes.length).toBeLessThan(ds.inputs.byteLength / 3);
    const back = decodeDataset(bytes);
    expect(back.name).toBe(ds.name);
    expect(back.count).toBe(ds.count);
    expect(back.inputShape).toEqual(ds.inputShape);
    expect(back.numClasses).toBe(ds.numClasses);
    expect(back.labels).toEqual(ds.labels);
    expect(back.inputs).toEqual(ds.inputs);
  });

  it('keeps non-ASCII names and works on a view at an offset', () => {
    const ds = { ...small(), name: 'données-✓' };
    const bytes = encodeDataset(ds);
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    expect(decodeDataset(padded.subarray(3)).name).toBe('données-✓');
  });

  it('rejects truncation, bad magic, bad version, corruption and bad labels', () => {
    const bytes = encodeDataset(small());
    expect(() => decodeDataset(bytes.subarray(0, 10))).toThrow(/shorter than the header/);
    expect(() => decodeDataset(bytes.subarray(0, bytes.length - 1))).toThrow(/need \d+ bytes/);
    const extended = new Uint8Array(bytes.length + 1);
    extended.set(bytes);
    expect(() => decodeDataset(extended)).toThrow(/need \d+ bytes/);
    const magic = bytes.slice(); magic[0] = 0x58;
    expect(() => decodeDataset(magic)).toThrow(/magic/);
    const version = bytes.slice(); version[4] = 9;
    expect(() => decodeDataset(version)).toThrow(/version 9/);
    // flip one byte in the middle of the pixels: sizes still agree, only the checksum notices
    const rng = createRng(1);
    for (let k = 0; k < 20; k++) {
      const corrupt = bytes.slice();
      const at = 40 + rng.int(bytes.length - 44);
      corrupt[at] ^= 1 << rng.int(8);
      expect(() => decodeDataset(corrupt)).toThrow(/checksum/);
    }
  });

  it('refuses to encode what it cannot carry', () => {
    const ds = small();
    const inputs = ds.inputs.slice(); inputs[3] = 1.5;
    expect(() => encodeDataset({ ...ds, inputs })).toThrow(/outside \[0, 1\]/);
    const labels = ds.labels.slice(); labels[0] = 10;
    expect(() => encodeDataset({ ...ds, labels })).toThrow(/label 10/);
    expect(() => encodeDataset({ ...ds, count: ds.count + 1 })).toThrow(/inputs for/);
  });
});

function bytewiseCrc(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
