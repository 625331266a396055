import { createRng } from '../../random';
import { labelHistogram, subsetDataset, type Dataset } from '../dataset';
import { shuffleInPlace } from '../partition';
import { DataError } from './errors';

/**
 * A peer's held-out test split: `fraction` of each class's samples (rounded, seeded by the
 * session seed), the accuracy this peer reports is measured on it. The rest is its training
 * shard; it never leaves the peer.
 */
export function splitTrainTest(data: Dataset, fraction: number, seed: number): { train: Dataset; test: Dataset } {
  const rng = createRng(seed).fork('local-test-split');
  const byClass: number[][] = Array.from({ length: data.numClasses }, () => []);
  for (let i = 0; i < data.count; i++) byClass[data.labels[i]].push(i);
  const train: number[] = [], test: number[] = [];
  for (const members of byClass) {
    shuffleInPlace(members, rng);
    const cut = Math.round(members.length * fraction);
    members.forEach((i, k) => (k < cut ? test : train).push(i));
  }
  if (test.length === 0 || train.length === 0) {
    throw new DataError(
      `${data.name}: ${data.count} sample${data.count === 1 ? ' is' : 's are'} too few to hold out ${Math.round(100 * fraction)}% for testing and train on the rest`,
      data.name,
    );
  }
  train.sort((a, b) => a - b);
  test.sort((a, b) => a - b);
  return { train: subsetDataset(data, train, `${data.name} (train)`), test: subsetDataset(data, test, `${data.name} (test)`) };
}

/** samples per class name, for "what will this peer train on" before it joins */
export function classCounts(data: Pick<Dataset, 'labels' | 'numClasses'>, classes: readonly string[]): { readonly name: string; readonly count: number }[] {
  const h = labelHistogram(data.labels, data.numClasses);
  return classes.map((name, i) => ({ name, count: h[i] }));
}
