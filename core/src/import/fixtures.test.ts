import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { createOrtOracle } from '../engine/ort-oracle';
import { gradCheck, randomBatch } from '../models/gradcheck';
import { createModel, type Model } from '../models/model';
import { referenceForward } from '../models/reference';
import { createRng } from '../random';
import { ModelImportError } from './errors';

/**
 * The committed torch.onnx.export fixtures (core/fixtures/onnx, made by make_fixtures.py):
 * each imports, computes what onnxruntime computes from the original file, and passes the
 * finite-difference gradient check; the broken ones are refused with errors that say why.
 */

const dir = new URL('../../fixtures/onnx/', import.meta.url);
const file = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, dir)));

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
});

/** log-probabilities of the original file's output, however it ends (logits, LogSoftmax or Softmax) */
async function originalLogProbs(bytes: Uint8Array, model: Model, inputs: Float32Array, n: number, ends: 'logits' | 'logsoftmax' | 'softmax'): Promise<Float64Array> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    const shape = [n, ...model.inputShape];
    const x = model.program.input.kind === 'index' ? new ort.Tensor('int64', BigInt64Array.from(inputs, (v) => BigInt(v)), shape) : new ort.Tensor('float32', inputs, shape);
    const out = await session.run({ [model.program.input.name]: x });
    const y = Float64Array.from(out[session.outputNames[0]].data as Float32Array);
    return ends === 'logits' ? logSoftmax(y, model.numClasses) : ends === 'softmax' ? y.map(Math.log) : y;
  } finally {
    await session.release();
  }
}

function logSoftmax(z: Float64Array, k: number): Float64Array {
  const out = new Float64Array(z.length);
  for (let i = 0; i < z.length; i += k) {
    const row = z.subarray(i, i + k);
    const max = Math.max(...row);
    const lse = Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0)) + max;
    row.forEach((v, j) => (out[i + j] = v - lse));
  }
  return out;
}

const fixtures = [
  { name: 'mlp.onnx', d: 55_050, inputShape: [784], classes: 10, ends: 'logits' },
  { name: 'lenet5.onnx', d: 61_706, inputShape: [1, 28, 28], classes: 10, ends: 'logits' },
  { name: 'tabular-layernorm.onnx', d: 1_635, inputShape: [12], classes: 3, ends: 'logsoftmax' },
  { name: 'embedding.onnx', d: 852, inputShape: [8], classes: 4, ends: 'logits' },
  { name: 'attention.onnx', d: 1_539, inputShape: [6], classes: 3, ends: 'logits' },
  { name: 'convmix.onnx', d: 526, inputShape: [1, 28, 28], classes: 10, ends: 'softmax' },
] as const;

describe.each(fixtures)('$name', ({ name, d, inputShape, classes, ends }) => {
  const bytes = file(name);
  const model = createModel({ onnx: bytes, name });

  it('imports with the layout of its initializers', () => {
    expect(model.d).toBe(d);
    expect(model.inputShape).toEqual(inputShape);
    expect(model.numClasses).toBe(classes);
    let offset = 0;
    for (const e of model.layout) {
      expect(e.offset).toBe(offset);
      offset += e.size;
    }
    // the file's weights are the starting point, whatever the seed
    expect(model.init(1)).toEqual(model.init(2));
    expect(model.init(1).some((v) => v !== 0)).toBe(true);
  });

  it("computes the original file's outputs (onnxruntime on the file vs the float64 reference of the import)", async () => {
    const batch = randomBatch(model, 5, createRng(21));
    const expected = await originalLogProbs(bytes, model, batch.inputs, batch.size, ends);
    const ours = logSoftmax(referenceForward(model, model.init(0), batch.inputs, batch.labels, batch.size).logits, classes);
    ours.forEach((v, i) => expect(Math.abs(v - expected[i])).toBeLessThan(1e-4));
  });

  it('gradient passes the finite-difference check (max relative error <= 1e-3)', async () => {
    const oracle = await createOrtOracle(model, { backend: 'wasm', numThreads: 1 });
    try {
      const params = model.init(0);
      const batch = randomBatch(model, 4, createRng(22));
      const result = await oracle.gradient(params, batch);
      const ref = referenceForward(model, params, batch.inputs, batch.labels, batch.size);
      expect(Math.abs(result.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
      expect(result.correct).toBe(ref.correct);
      const check = gradCheck(model, params, batch, result.grad, createRng(23));
      expect(check.maxRelError).toBeLessThan(1e-3);
      expect(check.numeric.filter((v) => Math.abs(v) > 1e-4).length).toBeGreaterThan(15);
    } finally {
      await oracle.dispose();
    }
  });
});

describe('data that does not fit an imported model', () => {
  it('wrong input shape, and token ids that are not ids of its table: clear errors before anything runs', async () => {
    const tabular = createModel({ onnx: file('tabular-layernorm.onnx') });
    const embedding = createModel({ onnx: file('embedding.onnx') });
    const oracles = await Promise.all([tabular, embedding].map((m) => createOrtOracle(m, { backend: 'wasm', numThreads: 1 })));
    try {
      const digits = { inputs: new Float32Array(2 * 784), labels: Uint8Array.of(0, 1), size: 2 };
      await expect(oracles[0].gradient(tabular.init(0), digits)).rejects.toThrow(/1568 input floats for 2 samples of 12 features/);
      const ids = randomBatch(embedding, 2, createRng(3));
      await expect(oracles[1].gradient(embedding.init(0), ids)).resolves.toBeDefined();
      const outside = { ...ids, inputs: ids.inputs.map((v, i) => (i === 9 ? 32 : v)) };
      await expect(oracles[1].gradient(embedding.init(0), outside)).rejects.toThrow(/input 9 \(sample 1\) is 32, not a token id in \[0, 32\)/);
      const fractional = { ...ids, inputs: ids.inputs.map((v, i) => (i === 0 ? 0.5 : v)) };
      await expect(oracles[1].gradient(embedding.init(0), fractional)).rejects.toThrow(/input 0 \(sample 0\) is 0.5/);
    } finally {
      await Promise.all(oracles.map((o) => o.dispose()));
    }
  });
});

describe('files the importer refuses', () => {
  const refuse = (bytes: Uint8Array, code: string, message: RegExp, caps?: object) => {
    let error: unknown;
    try {
      createModel({ onnx: bytes }, { caps });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ModelImportError);
    expect((error as ModelImportError).code).toBe(code);
    expect((error as Error).message).toMatch(message);
  };

  it('an unsupported op: named with its node and the supported list', () => {
    refuse(file('unsupported-hardswish.onnx'), 'unsupported-op', /unsupported op HardSwish \(node \/HardSwish\); supported: Add, AveragePool, .*Unsqueeze/);
  });

  it('training-mode BatchNormalization', () => {
    refuse(file('batchnorm-training.onnx'), 'bad-weights', /BatchNormalization in training mode .* model\.eval\(\)/);
  });

  it('integer (quantized) weights', () => {
    refuse(file('int8-weights.onnx'), 'bad-weights', /fc\.weight \(INT8\) is a weight of node \/fc\/Gemm .* must be FLOAT/);
  });

  it('an input with a fixed batch dimension: says how to export it', () => {
    refuse(file('fixed-batch.onnx'), 'bad-input', /input x has a fixed batch dimension \(1\); export with dynamic_axes=\{'x': \{0: 'batch'\}\}/);
  });

  it('corrupt files: truncated, random, empty, another protobuf', () => {
    const good = file('lenet5.onnx');
    refuse(good.subarray(0, good.length - 1000), 'corrupt', /not an ONNX model \(protobuf|values for dims/);
    const rng = createRng(5);
    refuse(new Uint8Array(4096).map(() => rng.int(256)), 'corrupt', /not an ONNX model/);
    refuse(new Uint8Array(0), 'corrupt', /empty/);
    refuse(new TextEncoder().encode('{"model": "mlp"}'), 'corrupt', /not an ONNX model/);
  });

  it('over the caps: file size (default 64 MiB), parameters, nodes', () => {
    refuse(new Uint8Array(65 * 2 ** 20), 'too-large', /65\.0 MiB, over the 64\.0 MiB cap/);
    refuse(file('lenet5.onnx'), 'too-large', /61,706 parameters, over the 50,000 cap/, { params: 50_000 });
    refuse(file('lenet5.onnx'), 'too-large', /19 nodes, over the 10 cap/, { nodes: 10 });
  });
});
