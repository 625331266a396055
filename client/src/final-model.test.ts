import { describe, expect, it } from 'vitest';
import { createModel, encodeCheckpoint, hashPair, hashParams, localDataSchema, predictProbabilities } from '@signvote/core';
import { loadOrtNode } from '@signvote/core/node';
import { finalOnnx, verifyFinalSnapshot } from './final-model';

/** a stored snapshot as the aggregator PUTs it (core/src/transport/signaling-record.ts) */
function stored(session: string, round: number, x: Float32Array): Uint8Array {
  const xPrev = x.map((v) => v * 0.5);
  return encodeCheckpoint({ session, round, x, xPrev, hash: hashPair(x, xPrev), savedAt: 1 });
}

describe("a finished session's stored parameters", () => {
  const model = createModel('mlp');
  const x = model.init(5);
  const end = { round: 40, hash: hashParams(x) };

  it('are taken when session, round and parameter hash are the record\'s end', () => {
    const cp = verifyFinalSnapshot(stored('S', 40, x), 'S', end);
    expect(hashParams(cp.x)).toBe(end.hash);
    const onnx = finalOnnx({ round: 40, hash: end.hash, model, x: cp.x, data: undefined, checkpoint: new Uint8Array() });
    expect(onnx.name).toBe('mlp-round40.onnx');
    expect(onnx.bytes.byteLength).toBeGreaterThan(4 * model.d);
  });

  it('are refused, with a sentence, when they are of another round, session or state', () => {
    expect(() => verifyFinalSnapshot(stored('S', 39, x), 'S', end)).toThrow('the server holds the parameters of round 39, not of the final round 40');
    expect(() => verifyFinalSnapshot(stored('T', 40, x), 'S', end)).toThrow('the stored parameters are of session T, not S');
    const other = model.init(6);
    expect(() => verifyFinalSnapshot(stored('S', 40, other), 'S', end)).toThrow(`the stored parameters hash to ${hashParams(other)}, but the session finished with ${end.hash}`);
    expect(() => verifyFinalSnapshot(new Uint8Array([1, 2, 3]), 'S', end)).toThrow();
  });

  it("export with the session's own-data spec: the file takes raw rows and standardizes them itself", async () => {
    const tabular = createModel({ inputShape: [3], numClasses: 2, layers: [{ type: 'dense', units: 2 }] });
    const params = tabular.init(2).map((v) => 3 * v);
    const data = localDataSchema.parse({ format: 'csv', classes: ['no', 'yes'], standardize: { mean: [10, -2, 0.5], std: [4, 0.5, 2] } });
    const onnx = finalOnnx({ round: 3, hash: hashParams(params), model: tabular, x: params, data, checkpoint: new Uint8Array() });
    const ort = await loadOrtNode();
    if (!ort) throw new Error('onnxruntime-node does not load here');
    const session = await ort.InferenceSession.create(onnx.bytes);
    const row = [12.5, -1.25, 3];
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from(row), [1, 3]) });
    await session.release();
    const std = data.standardize!;
    const app = predictProbabilities(tabular, params, Float32Array.from(row, (v, i) => (v - std.mean[i]) / std.std[i]));
    const file = out.probabilities.data as Float32Array;
    for (let c = 0; c < 2; c++) expect(Math.abs(file[c] - app[c])).toBeLessThan(1e-5);
  });
});
