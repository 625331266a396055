import { checkDataset, type Dataset } from '../data/dataset';
import type { Rng } from '../random';

/**
 * Seeded synthetic tasks for the fixtures that are not image models (tests only): Gaussian
 * clusters for the tabular net, keyword sequences for the token models.
 */

/** Gaussian class clusters in 12 dimensions: linearly separable only in part */
export function tabular(count: number, rng: Rng, centres: Float64Array[]): Dataset {
  const inputs = new Float32Array(count * 12), labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const c = rng.int(3);
    labels[i] = c;
    for (let f = 0; f < 12; f++) inputs[i * 12 + f] = centres[c][f] + 1.2 * rng.normal();
  }
  return checkDataset({ name: 'blobs', inputs, labels, count, inputShape: [12], numClasses: 3 });
}

/** token sequences: filler words, plus `marks` copies of one of the class's keywords (keyword ids 0..k*per-1) */
export function tokens(count: number, rng: Rng, o: { length: number; vocab: number; classes: number; per: number; marks: number }): Dataset {
  const inputs = new Float32Array(count * o.length), labels = new Uint8Array(count);
  const keywords = o.classes * o.per;
  for (let i = 0; i < count; i++) {
    const c = rng.int(o.classes);
    labels[i] = c;
    for (let t = 0; t < o.length; t++) inputs[i * o.length + t] = keywords + rng.int(o.vocab - keywords);
    for (let m = 0; m < o.marks; m++) inputs[i * o.length + rng.int(o.length)] = c * o.per + rng.int(o.per);
  }
  return checkDataset({ name: 'tokens', inputs, labels, count, inputShape: [o.length], numClasses: o.classes });
}
