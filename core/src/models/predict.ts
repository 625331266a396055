import type { Model } from './model';
import { referenceForward } from './reference';

/**
 * Class probabilities of one sample under given parameters, computed by the float64 reference
 * forward pass (reference.ts): no engine and no worker round trip, so the page's "try it" panel
 * answers at once from whatever parameters the peer holds. Fine for one sample at a time.
 *
 * @param input one sample, `model.inputShape` flattened (token ids as whole numbers)
 * @returns softmax of the logits, length model.numClasses
 */
export function predictProbabilities(model: Pick<Model, 'program' | 'd' | 'inputShape' | 'numClasses'>, params: Float32Array, input: Float32Array): Float64Array {
  const features = model.inputShape.reduce((a, b) => a * b, 1);
  if (input.length !== features) throw new RangeError(`a sample of ${input.length} values, the model takes ${features}`);
  const { logits } = referenceForward(model, params, input, [0], 1);
  let max = -Infinity;
  for (const z of logits) max = Math.max(max, z);
  const p = logits.map((z) => Math.exp(z - max));
  const sum = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / sum);
}
