import { describe, expect, it } from 'vitest';
import { createOrtOracle } from '../engine/ort-oracle';
import { createModel } from './model';
import { predictProbabilities } from './predict';
import { createRng } from '../random';

describe('predictProbabilities', () => {
  it('is the softmax of the logits the engine scores: its argmax is what evaluate counts as correct', async () => {
    const model = createModel('lenet5');
    const params = model.init(3);
    const rng = createRng(5);
    const oracle = await createOrtOracle(model, { backend: 'wasm' });
    try {
      for (let s = 0; s < 4; s++) {
        const input = Float32Array.from({ length: 784 }, () => rng.float());
        const p = predictProbabilities(model, params, input);
        expect(p.length).toBe(10);
        expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
        const best = p.indexOf(Math.max(...p));
        const labels = Uint8Array.of(best);
        const r = await oracle.evaluate(params, { name: 'one', inputs: input, labels, count: 1, inputShape: [1, 28, 28], numClasses: 10 });
        expect(r.accuracy).toBe(1);
      }
    } finally {
      await oracle.dispose();
    }
    expect(() => predictProbabilities(model, params, new Float32Array(10))).toThrow(/a sample of 10 values, the model takes 784/);
  });
});
