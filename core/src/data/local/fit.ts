import type { LocalDataSpec } from './spec';

/**
 * Does a session's data spec fit its model, before any file is seen? The spec alone fixes the
 * class count, and for CSV the feature count when it lists `features` or `standardize`; for
 * images channels x height x width. The signaling server asks this at creation (so no session
 * is created that no peer can join) and peers ask it again before reading their files (sessions
 * created before the check), so both give the same sentence. It names the session, never the
 * peer's file: the spec is the creator's to fix.
 */

export interface ModelShape {
  /** per-sample input shape, e.g. [784] or [1, 28, 28] */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  /** the model takes token ids in [0, tokens), not features (an embedding's integer input) */
  readonly tokens?: number;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The sentence saying why `spec` cannot feed `model`, or null when it can (as far as the spec tells). */
export function dataSpecMismatch(spec: LocalDataSpec, model: ModelShape): string | null {
  if (spec.classes.length !== model.numClasses) {
    return `the session names ${spec.classes.length} classes, its model has ${model.numClasses} outputs`;
  }
  const inputs = model.inputShape.reduce((a, b) => a * b, 1);
  // token ids are taken as they are: pixels or standardized values are no ids
  if (model.tokens !== undefined && spec.format === 'images') {
    return `the session's samples are images, its model takes token ids (whole numbers in [0, ${model.tokens}))`;
  }
  if (model.tokens !== undefined && spec.standardize) {
    return `the session standardizes its features, its model takes token ids (whole numbers in [0, ${model.tokens})) as they are`;
  }
  if (spec.format === 'csv') {
    if (spec.features && spec.features.length !== inputs) {
      return `the session names ${plural(spec.features.length, 'feature')} (${spec.features.join(', ')}), its model takes ${inputs} inputs`;
    }
    if (spec.standardize && spec.standardize.mean.length !== inputs) {
      return `the session standardizes ${plural(spec.standardize.mean.length, 'feature')}, its model takes ${inputs} inputs`;
    }
    return null;
  }
  const features = spec.channels * spec.height * spec.width;
  if (features !== inputs) {
    return `the session makes ${spec.channels}x${spec.height}x${spec.width} = ${features} inputs per image, its model takes ${inputs}`;
  }
  if (spec.standardize && spec.standardize.mean.length !== spec.channels) {
    return `the session standardizes ${plural(spec.standardize.mean.length, 'channel')}, its images have ${spec.channels}`;
  }
  return null;
}
