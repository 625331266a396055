import { describe, expect, it } from 'vitest';
import { createRng } from '../random';
import { createModel } from '../models/model';
import { createNodeOracle, loadOrtNode } from './ort-node';

const ortNode = await loadOrtNode();

describe('Node oracles', () => {
  it.skipIf(!ortNode)('onnxruntime-node and onnxruntime-web (wasm) compute the same gradient', async () => {
    const model = createModel('cnn');
    const rng = createRng(21);
    const batch = { inputs: new Float32Array(8 * 784).map(() => rng.float()), labels: new Uint8Array(8).map(() => rng.int(10)), size: 8 };
    const params = model.init(22);
    const native = await createNodeOracle(model, 'node');
    const wasm = await createNodeOracle(model, 'wasm');
    try {
      expect(native.backend).toBe('node');
      expect(wasm.backend).toBe('wasm');
      const [a, b] = [await native.gradient(params, batch), await wasm.gradient(params, batch)];
      // a later run must not overwrite an earlier result's buffer
      const first = a.grad.slice();
      const other = await native.gradient(params, { ...batch, labels: batch.labels.map((l) => (l + 1) % 10) });
      expect(other.grad).not.toEqual(first);
      expect(a.grad).toEqual(first);
      expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-5);
      const scale = Math.max(...b.grad.map(Math.abs));
      for (let i = 0; i < a.grad.length; i++) expect(Math.abs(a.grad[i] - b.grad[i])).toBeLessThan(1e-4 * scale);
    } finally {
      await native.dispose();
      await wasm.dispose();
    }
  });
});
