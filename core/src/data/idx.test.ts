import { describe, expect, it } from 'vitest';
import { createRng } from '../random';
import { encodeIdx, gunzipWeb, idxToDataset, parseIdx, parseIdxMaybeGzip } from './idx';

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function tinyImages(n: number, h: number, w: number) {
  const rng = createRng(11);
  const pixels = new Uint8Array(n * h * w).map(() => rng.int(256));
  const labels = new Uint8Array(n).map(() => rng.int(10));
  return { pixels, labels, images: encodeIdx([n, h, w], pixels), labelFile: encodeIdx([n], labels) };
}

describe('IDX reader', () => {
  it('reads a hand-built file byte for byte, header included', () => {
    const bytes = new Uint8Array([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 255]);
    const idx = parseIdx(bytes);
    expect(idx.dims).toEqual([2, 3]);
    expect(Array.from(idx.data)).toEqual([1, 2, 3, 4, 5, 255]);
    expect(encodeIdx([2, 3], idx.data)).toEqual(bytes);
  });

  it('decodes gzip IDX images + labels into a dataset', async () => {
    const { pixels, labels, images, labelFile } = tinyImages(7, 5, 4);
    const gzImages = await gzip(images);
    expect(gzImages[0]).toBe(0x1f);
    expect(() => parseIdx(gzImages)).toThrow(/gzip/);
    expect(await gunzipWeb(gzImages)).toEqual(images);
    const ds = idxToDataset('tiny', await parseIdxMaybeGzip(gzImages), await parseIdxMaybeGzip(await gzip(labelFile)));
    expect(ds.count).toBe(7);
    expect(ds.inputShape).toEqual([1, 5, 4]);
    expect(ds.labels).toEqual(labels);
    for (let i = 0; i < pixels.length; i++) expect(ds.inputs[i]).toBeCloseTo(pixels[i] / 255, 7);
  });

  it('rejects bad magic, wrong types, size mismatches and mismatched pairs', () => {
    const { images, labelFile } = tinyImages(3, 2, 2);
    const magic = images.slice(); magic[1] = 8;
    expect(() => parseIdx(magic)).toThrow(/bad magic/);
    const type = images.slice(); type[2] = 0x0d;
    expect(() => parseIdx(type)).toThrow(/f32.*unsupported/);
    expect(() => parseIdx(images.subarray(0, images.length - 1))).toThrow(/need 28 bytes, got 27/);
    expect(() => parseIdx(images.subarray(0, 9))).toThrow(/truncated header/);
    const fewer = encodeIdx([2], new Uint8Array([1, 2]));
    expect(() => idxToDataset('x', parseIdx(images), parseIdx(fewer))).toThrow(/3 images but 2 labels/);
    expect(() => idxToDataset('x', parseIdx(labelFile), parseIdx(labelFile))).toThrow(/rank 1, expected 3/);
    const badLabels = encodeIdx([3], new Uint8Array([1, 12, 0]));
    expect(() => idxToDataset('x', parseIdx(images), parseIdx(badLabels))).toThrow(/label 12/);
  });
});
