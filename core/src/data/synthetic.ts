import { createRng, type Rng } from '../random';
import { checkDataset, pixelsToInputs, type Dataset } from './dataset';

/**
 * Seeded Gaussian-cluster images: each of 10 classes has a prototype made of a few Gaussian
 * blobs on a 28x28 canvas; a sample is its class prototype plus i.i.d. pixel noise, clipped and
 * quantised to 8 bits (so it round-trips the dataset codec exactly). Learnable by the MLP in a
 * few hundred steps yet not linearly trivial because prototypes overlap and noise is strong.
 */
export interface SyntheticOptions {
  seed?: number;
  trainCount?: number;
  testCount?: number;
  /** pixel noise standard deviation, in [0, 1] intensity units */
  noise?: number;
  numClasses?: number;
  side?: number;
}

export function createSyntheticDatasets(options: SyntheticOptions = {}): { train: Dataset; test: Dataset } {
  const { seed = 1, trainCount = 6000, testCount = 1000, noise = 0.35, numClasses = 10, side = 28 } = options;
  if (!(numClasses >= 1 && numClasses <= 256)) throw new RangeError(`numClasses ${numClasses} outside 1..256`);
  const rng = createRng(seed).fork('synthetic');
  const prototypes = Array.from({ length: numClasses }, (_, c) => prototype(rng.fork(`class-${c}`), side));
  const make = (name: string, count: number, stream: Rng): Dataset => {
    const f = side * side;
    const pixels = new Uint8Array(count * f);
    const labels = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      // balanced classes in a shuffled order: label i mod C would leak position into the label
      const c = stream.int(numClasses);
      labels[i] = c;
      const proto = prototypes[c];
      for (let k = 0; k < f; k++) {
        const v = proto[k] + noise * stream.normal();
        pixels[i * f + k] = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
      }
    }
    return checkDataset({ name, inputs: pixelsToInputs(pixels), labels, count, inputShape: [1, side, side], numClasses });
  };
  return {
    train: make('synthetic-train', trainCount, rng.fork('train')),
    test: make('synthetic-test', testCount, rng.fork('test')),
  };
}

function prototype(rng: Rng, side: number): Float32Array {
  const img = new Float32Array(side * side);
  const blobs = 3;
  for (let b = 0; b < blobs; b++) {
    const cx = 4 + rng.float() * (side - 8), cy = 4 + rng.float() * (side - 8);
    const s = 2 + rng.float() * 3;
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const d2 = (x - cx) ** 2 + (y - cy) ** 2;
        img[y * side + x] += Math.exp(-d2 / (2 * s * s));
      }
    }
  }
  for (let k = 0; k < img.length; k++) img[k] = Math.min(1, img[k]);
  return img;
}
