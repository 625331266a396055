import type { Dataset } from '@signvote/core';
import { datasetNames, loadDataset, type DatasetName } from '@signvote/core/node';

/**
 * Maps the URL names the server publishes (`/datasets/<dataset>-<split>.bin`, e.g.
 * `mnist-train`, `fashion-mnist-test`) onto the Node dataset loaders. Anything else is unknown
 * (undefined -> 404), so a request can never name a file path.
 */
export async function loadDatasetSplit(name: string): Promise<Dataset | undefined> {
  const match = /^(.+)-(train|test)$/.exec(name);
  if (!match) return undefined;
  const dataset = match[1] as DatasetName;
  if (!datasetNames.includes(dataset)) return undefined;
  const splits = await loadDataset(dataset);
  return match[2] === 'train' ? splits.train : splits.test;
}

/** The names loadDatasetSplit answers, for docs and logs. */
export const datasetSplitNames: readonly string[] = datasetNames.flatMap((d) => [`${d}-train`, `${d}-test`]);
