import type { SessionConfig } from './config';
import { dataSpecMismatch, type ModelShape } from './data/local/fit';
import { checkNetwork, NetworkError } from './models/layers';
import { presets } from './models/network';

/**
 * Can any peer ever train this session? The checks peers make when they join (the layer list
 * compiles, the data fits the model), made on the config alone, so the signaling server refuses
 * at creation what every peer would refuse later, in the same sentence. Source of the
 * sentences: models/layers.ts (layer lists), data/local/fit.ts (own data), and datasetMismatch
 * below (the server's datasets), which peers use too.
 */

/** every dataset the server hosts (config `dataset`) is 28x28 grayscale in 10 classes */
export const HOSTED_DATASET_SHAPE: ModelShape = { inputShape: [1, 28, 28], numClasses: 10 };

/** The peers' sentence for a dataset that does not fit a model, or null when it fits (same input size, same classes). */
export function datasetMismatch(
  data: ModelShape & { readonly name: string },
  model: ModelShape & { readonly name: string },
): string | null {
  const features = data.inputShape.reduce((a, b) => a * b, 1);
  const expected = model.inputShape.reduce((a, b) => a * b, 1);
  if (features === expected && data.numClasses === model.numClasses) return null;
  return (
    `dataset ${data.name} (${data.inputShape.join('x')}, ${data.numClasses} classes) does not fit model ${model.name} ` +
    `(${model.inputShape.join('x')}, ${model.numClasses} classes)`
  );
}

/**
 * Why no peer could train `config`, or null. `file` is the uploaded model's shape (the server's
 * summary of `config.modelFile`); without it a config naming a file is not checked against its
 * data. A layer list is shape-checked as peers compile it (at most MODEL_CAPS.params parameters),
 * without allocating its weights.
 */
export function sessionConfigMismatch(config: SessionConfig, file?: ModelShape): string | null {
  let model: ModelShape & { name: string };
  if (config.modelFile) {
    if (!file) return null;
    model = { ...file, name: config.modelFile.name };
  } else if (config.network) {
    try {
      checkNetwork(config.network);
    } catch (err) {
      if (err instanceof NetworkError) return `network: ${err.message}`;
      throw err;
    }
    model = { inputShape: config.network.inputShape, numClasses: config.network.numClasses, name: config.network.name ?? 'network' };
  } else {
    model = { ...presets[config.model], name: config.model };
  }
  if (config.data) {
    const mismatch = dataSpecMismatch(config.data, model);
    return mismatch && `data: ${mismatch}`;
  }
  return datasetMismatch({ ...HOSTED_DATASET_SHAPE, name: config.dataset }, model);
}
