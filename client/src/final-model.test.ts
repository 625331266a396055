import { describe, expect, it } from 'vitest';
import { createModel, encodeCheckpoint, hashPair, hashParams } from '@signvote/core';
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
});
