import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSessionConfig, sessionModelSpec } from '../config';
import { createOrtOracle } from '../engine/ort-oracle';
import { decodeModel } from '../graph/onnx-proto';
import { createRng } from '../random';
import { legacyBatch } from '../../fixtures/presets/legacy-batch';
import { gradCheck, randomBatch } from './gradcheck';
import { checkNetwork, NetworkError } from './layers';
import { createModel } from './model';
import { networkSchema, type NetworkSpecInput } from './network';
import { referenceForward } from './reference';

/**
 * Presets are layer lists that go through the ONNX importer like any file. The two that
 * sessions and the committed experiment results were made with must not have moved: same
 * layout, same initial parameters for a seed, same gradient, bit for bit, as before the
 * importer existed (core/fixtures/presets/legacy.json, recorded at commit 665e64f).
 */

const legacy = JSON.parse(readFileSync(new URL('../../fixtures/presets/legacy.json', import.meta.url), 'utf8')) as Record<
  'mlp' | 'cnn',
  { d: number; layout: [string, number[]][]; initSha256: string; loss: number; correct: number; gradSha256: string; probe: [number, number][] }
>;
const sha = (a: Float32Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

describe.each(['mlp', 'cnn'] as const)('preset %s is what it was before the importer', (name) => {
  const model = createModel(name);
  const before = legacy[name];

  it('same layout and the same initial parameters for seed 1', () => {
    expect(model.d).toBe(before.d);
    expect(model.layout.map((e) => [e.name, e.shape])).toEqual(before.layout);
    expect(sha(model.init(1))).toBe(before.initSha256);
  });

  it('the same gradient on the same batch (wasm), bit for bit', async () => {
    const oracle = await createOrtOracle(model, { backend: 'wasm', numThreads: 1 });
    try {
      const r = await oracle.gradient(model.init(1), legacyBatch(model.numClasses));
      expect(r.loss).toBe(before.loss);
      expect(r.correct).toBe(before.correct);
      for (const [i, v] of before.probe) expect(r.grad[i]).toBe(v);
      expect(sha(r.grad)).toBe(before.gradSha256);
    } finally {
      await oracle.dispose();
    }
  });
});

describe('the other presets', () => {
  it('lenet5 is LeNet-5 on 28x28 (d = 61,706); mlp-wide has d > 1M, mlp-10m d > 10M', () => {
    const lenet = createModel('lenet5');
    expect(lenet.d).toBe(61_706);
    expect(lenet.layout.map((e) => e.name)).toEqual(['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'fc3.weight', 'fc3.bias']);
    expect(lenet.layout[4].shape).toEqual([400, 120]);
    const wide = createModel('mlp-wide');
    expect(wide.d).toBe(784 * 1024 + 1024 + 1024 * 512 + 512 + 512 * 10 + 10);
    expect(wide.d).toBeGreaterThanOrEqual(1_000_000);
    const big = createModel('mlp-10m');
    expect(big.d).toBe(784 * 2048 + 2048 + 2048 * 4096 + 4096 + 4096 * 10 + 10);
    expect(big.d).toBeGreaterThanOrEqual(10_000_000);
  });

  it('a preset is built once; its graphs are ONNX with the named inputs', () => {
    expect(createModel('lenet5')).toBe(createModel('lenet5'));
    const graph = decodeModel(createModel('lenet5').trainingGraph()) as { graph: { input: { name: string }[]; output: { name: string }[] } };
    expect(graph.graph.input.map((i) => i.name).slice(0, 3)).toEqual(['x', 'labels', 'conv1.weight']);
    expect(graph.graph.output.map((o) => o.name)).toEqual(['loss', 'correct', 'grad']);
  });

  it('lenet5 passes the gradient check', async () => {
    const model = createModel('lenet5');
    const oracle = await createOrtOracle(model, { backend: 'wasm', numThreads: 1 });
    try {
      const params = model.init(3);
      const batch = randomBatch(model, 4, createRng(4));
      const r = await oracle.gradient(params, batch);
      expect(gradCheck(model, params, batch, r.grad, createRng(5)).maxRelError).toBeLessThan(1e-3);
    } finally {
      await oracle.dispose();
    }
  });
});

describe('layer lists in the session config', () => {
  const network: NetworkSpecInput = {
    name: 'small-cnn',
    inputShape: [1, 12, 12],
    numClasses: 4,
    layers: [
      { type: 'conv2d', filters: 4, kernel: 3, stride: 2, pad: 1 },
      { type: 'leakyrelu', alpha: 0.1 },
      { type: 'conv2d', filters: 4, kernel: 3, pad: 1, groups: 2 },
      { type: 'gelu' },
      { type: 'avgpool', size: 2 },
      { type: 'maxpool', size: 2, stride: 1 },
      { type: 'flatten' },
      { type: 'dense', units: 16 },
      { type: 'layernorm' },
      { type: 'tanh' },
      { type: 'dense', units: 8, init: 'glorot' },
      { type: 'sigmoid' },
      { type: 'dense', units: 4 },
    ],
  };

  it('a session config carries one; the preset name stays the default', () => {
    const config = parseSessionConfig({ network });
    expect(config.model).toBe('mlp');
    expect(sessionModelSpec(config)).toEqual(expect.objectContaining({ name: 'small-cnn', numClasses: 4 }));
    expect(sessionModelSpec(parseSessionConfig({ model: 'cnn' }))).toBe('cnn');
    expect(sessionModelSpec(parseSessionConfig({ model: 'lenet5' }))).toBe('lenet5');
    expect(() => parseSessionConfig({ network: { ...network, layers: [{ type: 'dense', units: 0 }] } })).toThrow(/network\.layers\.0\.units/);
    expect(() => parseSessionConfig({ model: 'resnet' })).toThrow(/model/);
  });

  it('builds, names its parameters by layer, seeds its init, and passes the gradient check', async () => {
    const config = parseSessionConfig({ network });
    const model = createModel(sessionModelSpec(config));
    expect(model.name).toBe('small-cnn');
    expect(model.layout.map((e) => e.name)).toEqual(['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'fc1.weight', 'fc1.bias', 'ln1.weight', 'ln1.bias', 'fc2.weight', 'fc2.bias', 'fc3.weight', 'fc3.bias']);
    expect(model.layout[2].shape).toEqual([4, 2, 3, 3]);
    expect(model.init(7)).toEqual(model.init(7));
    expect(model.init(7)).not.toEqual(model.init(8));
    const ln = model.layout.find((e) => e.name === 'ln1.weight')!;
    expect(model.init(7).subarray(ln.offset, ln.offset + ln.size).every((v) => v === 1)).toBe(true);
    const oracle = await createOrtOracle(model, { backend: 'wasm', numThreads: 1 });
    try {
      const params = model.init(7);
      const batch = randomBatch(model, 4, createRng(8));
      const r = await oracle.gradient(params, batch);
      const ref = referenceForward(model, params, batch.inputs, batch.labels, 4);
      expect(Math.abs(r.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
      const c = gradCheck(model, params, batch, r.grad, createRng(9), { coords: 48 });
      expect(c.maxRelError).toBeLessThan(1e-3);
    } finally {
      await oracle.dispose();
    }
  });

  it('layers whose shapes do not chain are refused with the layer named', () => {
    const bad = (layers: NetworkSpecInput['layers'], inputShape = [784], numClasses = 10) => () => createModel({ inputShape, numClasses, layers } as never);
    expect(bad([{ type: 'conv2d', filters: 2, kernel: 3 }])).toThrow(NetworkError);
    expect(bad([{ type: 'conv2d', filters: 2, kernel: 3 }])).toThrow(/layer 1 \(conv2d\) needs a \[channels, height, width\] input, got \[784\]/);
    expect(bad([{ type: 'conv2d', filters: 2, kernel: 3 }, { type: 'dense', units: 10 }], [1, 8, 8])).toThrow(/layer 2 \(dense\) needs a flat input, got \[2,6,6\]; add a flatten layer/);
    expect(bad([{ type: 'dense', units: 5 }])).toThrow(/gives \[5\] per sample, but the network has 10 classes/);
    expect(bad([{ type: 'maxpool', size: 9 }, { type: 'flatten' }, { type: 'dense', units: 10 }], [1, 8, 8])).toThrow(/layer 1 \(maxpool\): window of extent 9 does not fit/);
  });

  it('checkNetwork (what the server runs at creation) refuses exactly what createModel refuses, and the parameter cap first', () => {
    const cases: [NetworkSpecInput['layers'], number[], number][] = [
      [[{ type: 'conv2d', filters: 2, kernel: 3 }, { type: 'dense', units: 10 }], [1, 8, 8], 10],
      [[{ type: 'dense', units: 5 }], [784], 10],
      [[{ type: 'dense', units: 65_536 }, { type: 'dense', units: 10 }], [4096], 10],
      [[{ type: 'flatten' }, { type: 'dense', units: 10 }], [1, 8, 8], 10],
    ];
    const message = (f: () => unknown): string | null => {
      try {
        f();
        return null;
      } catch (err) {
        expect(err).toBeInstanceOf(NetworkError);
        return (err as Error).message;
      }
    };
    const said = cases.map(([layers, inputShape, numClasses]) => {
      const spec = networkSchema.parse({ inputShape, numClasses, layers });
      const checked = message(() => checkNetwork(spec));
      expect(message(() => createModel(spec))).toBe(checked);
      return checked;
    });
    expect(said[2]).toBe('fc1.weight takes the network over the 16,777,216-parameter cap');
    expect(said[3]).toBeNull();
  });
});
