import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../random';
import { createModel } from '../models/model';
import { broadcastShape, CONCAT_FAN_IN, GraphBuilder, type Value } from './builder';
import { decodeModel } from './onnx-proto';
import * as ops from './ops';

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
});

const N = 5, IN = 3, K = 4;
const rng = createRng(99);
const x = new Float32Array(N * IN).map(() => rng.normal());
const w = new Float32Array(IN * K).map(() => rng.normal());
const bias = new Float32Array(K).map(() => rng.normal());
const labels = [0, 3, 1, 1, 2];
const oneHot = new Float32Array(N * K);
labels.forEach((l, i) => (oneHot[i * K + l] = 1));

/** d(mean CE)/d(logits) for logits = scale * (x @ w) + bias, in float64 */
function expectedGrads(scale: number): { dw: Float64Array; db: Float64Array } {
  const dw = new Float64Array(IN * K), db = new Float64Array(K);
  for (let n = 0; n < N; n++) {
    const z = Array.from({ length: K }, (_, k) => bias[k] + scale * Array.from({ length: IN }, (_, i) => x[n * IN + i] * w[i * K + k]).reduce((a, b) => a + b));
    const max = Math.max(...z);
    const e = z.map((v) => Math.exp(v - max));
    const s = e.reduce((a, b) => a + b);
    for (let k = 0; k < K; k++) {
      const dz = (e[k] / s - oneHot[n * K + k]) / N;
      db[k] += dz;
      for (let i = 0; i < IN; i++) dw[i * K + k] += scale * x[n * IN + i] * dz;
    }
  }
  return { dw, db };
}

async function run(bytes: Uint8Array, biasShape: number[]): Promise<{ dw: Float32Array; db: Float32Array }> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  const out = await session.run({
    x: new ort.Tensor('float32', x, [N, IN]),
    labels: new ort.Tensor('float32', oneHot, [N, K]),
    w: new ort.Tensor('float32', w, [IN, K]),
    b: new ort.Tensor('float32', bias, biasShape),
  });
  await session.release();
  const grad = out.grad.data as Float32Array;
  return { dw: grad.subarray(0, IN * K), db: grad.subarray(IN * K) };
}

function linearGraph(build: (b: GraphBuilder, xv: Value, wv: Value, bv: Value) => Value, biasShape: number[]): Uint8Array {
  const b = new GraphBuilder({ name: 'linear' });
  const xv = b.input('x', ['N', IN]);
  const lv = b.input('labels', ['N', K]);
  const wv = b.param('w', [IN, K]);
  const bv = b.param('b', biasShape);
  const loss = b.softmaxCrossEntropy(build(b, xv, wv, bv), lv, 'mean');
  b.output(loss, 'loss');
  b.output(b.concatFlat(b.gradients(loss, [wv, bv])), 'grad');
  return b.build();
}

function expectClose(actual: Float32Array, expected: Float64Array): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => expect(Math.abs(v - expected[i])).toBeLessThan(1e-6 + 1e-5 * Math.abs(expected[i])));
}

describe('GraphBuilder autodiff', () => {
  it.each([
    ['Gemm', [K]],
    ['MatMul + Add, bias [K]', [K]],
    ['MatMul + Add, bias [1, K]', [1, K]],
  ] as const)('%s gives the analytic gradient', async (kind, biasShape) => {
    const bytes = linearGraph((b, xv, wv, bv) => (kind === 'Gemm' ? ops.gemm(b, xv, wv, bv) : b.add(ops.matmul(b, xv, wv), bv)), [...biasShape]);
    const { dw, db } = await run(bytes, [...biasShape]);
    const expected = expectedGrads(1);
    expectClose(dw, expected.dw);
    expectClose(db, expected.db);
  });

  it('accumulates the gradient of a value used twice', async () => {
    const bytes = linearGraph((b, xv, wv, bv) => {
      const h = ops.matmul(b, xv, wv);
      return b.add(b.add(h, h), bv);
    }, [K]);
    const { dw, db } = await run(bytes, [K]);
    const expected = expectedGrads(2);
    expectClose(dw, expected.dw);
    expectClose(db, expected.db);
  });

  it('writes a model with a symbolic batch dimension and the requested opset', () => {
    const bytes = linearGraph((b, xv, wv, bv) => ops.gemm(b, xv, wv, bv), [K]);
    const model = decodeModel(bytes) as {
      irVersion: number;
      opsetImport: { version: number }[];
      graph: { input: { name: string; type: { tensorType: { shape: { dim: { dimParam?: string; dimValue?: number }[] } } } }[]; output: { name: string }[] };
    };
    expect(model.irVersion).toBe(8);
    expect(model.opsetImport[0].version).toBe(17);
    expect(model.graph.input.map((i) => i.name)).toEqual(['x', 'labels', 'w', 'b']);
    expect(model.graph.input[0].type.tensorType.shape.dim).toEqual([{ dimParam: 'N' }, { dimValue: IN }]);
    expect(model.graph.output.map((o) => o.name)).toEqual(['loss', 'grad']);
  });

  it('rejects malformed graphs with clear errors', () => {
    const b = new GraphBuilder({ name: 'bad' });
    const a = b.param('a', [2, 3]);
    expect(() => b.gradients(a, [a])).toThrow(/scalar/);
    expect(() => ops.matmul(b, a, a)).toThrow(/inner dims/);
    const img = b.input('img', ['N', 1, 5, 5]);
    const win = { kernel: [3, 3], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1] } as const;
    expect(() => ops.conv(b, img, b.param('k', [4, 2, 3, 3]), null, win)).toThrow(/input channels per group/);
    expect(() => ops.maxPool(b, img, { ...win, kernel: [7, 7] })).toThrow(/does not fit/);
    expect(() => b.param('a', [1])).toThrow(/duplicate/);
    expect(() => new GraphBuilder({ name: 'old', opset: 11 })).toThrow(/opset/);
    expect(() => broadcastShape([2, 3], [4])).toThrow(/broadcast/);
    expect(broadcastShape(['N', 1, 3], [4, 1])).toEqual(['N', 4, 3]);
  });

  // ORT's WebGPU EP (checked in Chromium on SwiftShader) rejects a Conv without explicit
  // dilations and silently corrupts a Concat that binds more than 8 buffers.
  it('CNN training graph stays inside what the WebGPU EP accepts', () => {
    const model = decodeModel(createModel('cnn').trainingGraph()) as {
      graph: { node: { opType: string; input: string[]; attribute?: { name: string }[] }[] };
    };
    const nodes = model.graph.node;
    const concats = nodes.filter((n) => n.opType === 'Concat');
    expect(concats.length).toBeGreaterThan(1);
    for (const n of concats) expect(n.input.length).toBeLessThanOrEqual(CONCAT_FAN_IN);
    const spatial = nodes.filter((n) => ['Conv', 'ConvTranspose', 'MaxPool'].includes(n.opType));
    expect(spatial.map((n) => n.opType).sort()).toEqual(['Conv', 'Conv', 'Conv', 'Conv', 'ConvTranspose', 'MaxPool', 'MaxPool']);
    for (const n of spatial) {
      const names = (n.attribute ?? []).map((a) => a.name);
      for (const required of ['kernel_shape', 'strides', 'pads', 'dilations']) expect(names).toContain(required);
    }
  });
});
