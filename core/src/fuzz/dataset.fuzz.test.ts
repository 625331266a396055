import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32, decodeDataset, encodeDataset } from '../data/codec';
import { pixelsToInputs, type Dataset } from '../data/dataset';
import { budget, check, concat, decodeOrTypedError, mutated, reportCases, FUZZ_TIMEOUT_MS } from './harness';

/** The dataset codec (data/codec.ts): what a browser peer downloads from the signaling server. */

afterAll(() => reportCases('dataset'));

const validDataset: fc.Arbitrary<Dataset> = fc
  .record({
    name: fc.string({ maxLength: 20, unit: 'grapheme' }),
    numClasses: fc.integer({ min: 1, max: 256 }),
    count: fc.nat({ max: 6 }),
    inputShape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
    seed: fc.nat(),
  })
  .map(({ name, numClasses, count, inputShape, seed }) => {
    const features = inputShape.reduce((a, b) => a * b, 1);
    const pixels = Uint8Array.from({ length: count * features }, (_, i) => (seed + i * 131) & 0xff);
    const labels = Uint8Array.from({ length: count }, (_, i) => (seed + i) % numClasses);
    return { name, inputs: pixelsToInputs(pixels), labels, count, inputShape, numClasses };
  });

/** the CRC recomputed after a mutation, so the checks behind it see the edit */
function withCrc(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 4) return bytes;
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

/** decodeDataset's contract: a DecodeError, or a dataset that encodes to exactly these bytes */
function datasetProperty(bytes: Uint8Array): void {
  const out = decodeOrTypedError(() => decodeDataset(bytes));
  if ('error' in out) return;
  expect(encodeDataset(out.value)).toEqual(bytes);
}

describe('fuzz: dataset codec (decodeDataset)', () => {
  it('valid datasets round-trip', () => {
    check(fc.property(validDataset, (data) => datasetProperty(encodeDataset(data))), budget(300));
  }, FUZZ_TIMEOUT_MS);
  it('arbitrary bytes, and arbitrary bytes behind a valid magic and version: a DecodeError or a dataset', () => {
    check(fc.property(fc.uint8Array({ maxLength: 200 }), datasetProperty), budget(1000));
    const header = Uint8Array.of(0x53, 0x56, 0x44, 0x53, 1, 0);
    check(fc.property(fc.uint8Array({ maxLength: 200 }), (rest) => datasetProperty(withCrc(concat(header, rest)))), budget(1000));
  }, FUZZ_TIMEOUT_MS);
  it('mutated valid datasets, with and without the CRC fixed up: a DecodeError or a dataset', () => {
    const valid = validDataset.map(encodeDataset);
    check(fc.property(mutated(valid), datasetProperty), budget(1000));
    check(fc.property(mutated(valid).map(withCrc), datasetProperty), budget(2000));
  }, FUZZ_TIMEOUT_MS);
});
