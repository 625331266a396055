import type { Dataset } from '../dataset';
import { parseCsvDataset } from './csv';
import { DataError } from './errors';
import { dataSpecMismatch } from './fit';
import { imageFolderDataset, type ImageFile } from './images';
import type { LocalDataSpec } from './spec';
import { classCounts, splitTrainTest } from './split';

/**
 * A peer's own data (docs/data.md, "Your own data"): the session's spec (config.data) applied
 * to what the peer has, a CSV file or a folder of images, checked against the model, split
 * into the training shard and the held-out test set. Isomorphic: Node reads the files
 * (node/local-data.ts), the browser's worker gets them from a file picker.
 */

export { DataError } from './errors';
export { parseCsvDataset } from './csv';
export { dataSpecMismatch, type ModelShape } from './fit';
export { decodeImage, imageToSample, imageFolderDataset, resizeArea, type ImageFile, type Rgba } from './images';
export { splitTrainTest, classCounts } from './split';
export * from './spec';

export type LocalSource =
  | { readonly kind: 'csv'; readonly file: string; readonly bytes: Uint8Array }
  | { readonly kind: 'images'; readonly folder: string; readonly files: readonly ImageFile[] };

export interface LocalData {
  readonly train: Dataset;
  readonly test: Dataset;
  /** all samples per class (train + test), in class order */
  readonly counts: readonly { readonly name: string; readonly count: number }[];
}

/**
 * Throws DataError: the wrong kind of source for the spec, a file that does not parse or fit,
 * classes the model does not have, too few samples to split.
 */
export function prepareLocalData(
  spec: LocalDataSpec,
  source: LocalSource,
  model: { readonly inputShape: readonly number[]; readonly numClasses: number },
  seed: number,
): LocalData {
  const where = source.kind === 'csv' ? source.file : source.folder;
  // the spec against the model first: a session created before the server checked this
  // (signaling, POST /api/sessions) is the creator's to fix, whatever the peer's file holds
  const mismatch = dataSpecMismatch(spec, model);
  if (mismatch) throw new DataError(mismatch, where);
  if (spec.format !== source.kind) {
    throw new DataError(
      spec.format === 'csv' ? `${where}: the session expects a CSV file, got a folder` : `${where}: the session expects a folder of images (one sub-folder per class), got a file`,
      where,
    );
  }
  const features = model.inputShape.reduce((a, b) => a * b, 1);
  const all = spec.format === 'csv' && source.kind === 'csv'
    ? parseCsvDataset(source.file, source.bytes, spec, { features, inputShape: model.inputShape })
    : spec.format === 'images' && source.kind === 'images'
      ? imageFolderDataset(source.folder, source.files, spec, model.inputShape)
      : null;
  if (!all) throw new DataError(`${where}: unreachable source kind`, where);
  const { train, test } = splitTrainTest(all, spec.testFraction, seed);
  return { train, test, counts: classCounts(all, spec.classes) };
}
