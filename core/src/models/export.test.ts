import { describe, expect, it } from 'vitest';
import { imageToSample, parseCsvDataset, type Rgba } from '../data/local';
import { localDataSchema, type LocalDataSpec } from '../data/local/spec';
import { loadOrtNode } from '../node/ort-node';
import { createRng } from '../random';
import { exportOnnx } from './export';
import { createModel, type Model } from './model';
import { predictProbabilities } from './predict';

/**
 * The exported file takes what a peer reads before the session's preprocessing: raw CSV values,
 * [0, 1] pixels before invert and standardize. onnxruntime-node on those raw samples gives the
 * probabilities the app computes (predictProbabilities) on the samples the peer prepared.
 */

/** onnxruntime-node's probabilities for `count` raw samples */
async function exportedProbabilities(bytes: Uint8Array, model: Model, inputs: Float32Array, count: number): Promise<Float32Array> {
  const ort = await loadOrtNode();
  if (!ort) throw new Error('onnxruntime-node does not load here');
  const session = await ort.InferenceSession.create(bytes);
  try {
    expect(session.inputNames).toEqual([model.program.input.name]);
    expect(session.outputNames).toEqual(['logits', 'probabilities']);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', inputs, [count, ...model.inputShape]) });
    return out.probabilities.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** the largest |exported - in-app| over every sample and class */
async function largestGap(model: Model, params: Float32Array, data: LocalDataSpec | undefined, raw: Float32Array, prepared: Float32Array, count: number): Promise<number> {
  const exported = await exportedProbabilities(exportOnnx(model, params, { data }), model, raw, count);
  const f = raw.length / count;
  let gap = 0;
  for (let i = 0; i < count; i++) {
    const app = predictProbabilities(model, params, prepared.subarray(i * f, (i + 1) * f));
    for (let c = 0; c < model.numClasses; c++) gap = Math.max(gap, Math.abs(exported[i * model.numClasses + c] - app[c]));
  }
  return gap;
}

describe('exportOnnx with the session\'s preprocessing', () => {
  it('a CSV session\'s standardize is in the graph: raw rows give the in-app probabilities', async () => {
    const spec = localDataSchema.parse({
      format: 'csv', labelColumn: 'species', classes: ['setosa', 'versicolor', 'virginica'],
      standardize: { mean: [5.8, 3.1, 3.8, 1.2], std: [0.8, 0.4, 1.8, 0.8] },
    });
    if (spec.format !== 'csv') throw new Error('csv spec');
    const rng = createRng(7);
    const lines = ['sepal_length,sepal_width,petal_length,petal_width,species'];
    for (let i = 0; i < 40; i++) {
      lines.push([4.5 + 3 * rng.float(), 2 + 2 * rng.float(), 1 + 6 * rng.float(), 0.1 + 2.4 * rng.float()].map((v) => v.toFixed(2)).join(',') + `,${spec.classes[i % 3]}`);
    }
    const raw = Float32Array.from(lines.slice(1).flatMap((l) => l.split(',').slice(0, 4).map(Number)));
    const prepared = parseCsvDataset('iris.csv', lines.join('\n'), spec, { features: 4, inputShape: [4] });
    expect(prepared.count).toBe(40);
    const model = createModel({ inputShape: [4], numClasses: 3, layers: [{ type: 'dense', units: 16 }, { type: 'relu' }, { type: 'dense', units: 3 }] });
    // weights large enough that the classes' probabilities differ clearly between inputs
    const params = model.init(3).map((v) => 4 * v);
    expect(await largestGap(model, params, spec, raw, prepared.inputs, 40)).toBeLessThan(1e-5);
    // the file without the preprocessing (as it was exported before) is far off on raw rows
    expect(await largestGap(model, params, undefined, raw, prepared.inputs, 40)).toBeGreaterThan(0.05);
  });

  it('an image session\'s invert and per-channel standardize are in the graph, for a conv input and a flat one', async () => {
    const spec = localDataSchema.parse({
      format: 'images', classes: ['dark', 'bright'], channels: 3, height: 6, width: 6, invert: true,
      standardize: { mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3] },
    });
    if (spec.format !== 'images') throw new Error('images spec');
    const rng = createRng(11);
    const count = 12;
    const pictures: Rgba[] = Array.from({ length: count }, () => ({ width: 12, height: 9, data: Uint8Array.from({ length: 12 * 9 * 4 }, (_, i) => (i % 4 === 3 ? 255 : rng.int(256))) }));
    const f = 3 * 6 * 6;
    const raw = new Float32Array(count * f);
    const prepared = new Float32Array(count * f);
    for (const [i, p] of pictures.entries()) {
      // what the exported model takes: the picture resized, in [0, 1], not inverted or standardized
      raw.set(imageToSample(p, { ...spec, invert: false, standardize: undefined }), i * f);
      prepared.set(imageToSample(p, spec), i * f);
    }
    const conv = createModel({ inputShape: [3, 6, 6], numClasses: 2, layers: [{ type: 'conv2d', filters: 4, kernel: 3, stride: 1, pad: 0, groups: 1 }, { type: 'relu' }, { type: 'flatten' }, { type: 'dense', units: 2 }] });
    const flat = createModel({ inputShape: [f], numClasses: 2, layers: [{ type: 'dense', units: 2 }] });
    for (const model of [conv, flat]) {
      const params = model.init(5).map((v) => 3 * v);
      expect(await largestGap(model, params, spec, raw, prepared, count), model.name).toBeLessThan(1e-5);
      expect(await largestGap(model, params, undefined, raw, prepared, count), model.name).toBeGreaterThan(0.01);
    }
  });

  it('hosted data and a spec with nothing to apply export the model alone; a spec that does not fit is refused', () => {
    const model = createModel({ inputShape: [3, 2, 2], numClasses: 2, layers: [{ type: 'flatten' }, { type: 'dense', units: 2 }] });
    const params = model.init(1);
    const plain = exportOnnx(model, params, { data: undefined });
    const nothing = localDataSchema.parse({ format: 'images', classes: ['a', 'b'], channels: 3, height: 2, width: 2 });
    expect(exportOnnx(model, params, { data: nothing })).toEqual(plain);
    const oneChannel = localDataSchema.parse({ format: 'images', classes: ['a', 'b'], channels: 3, height: 2, width: 2, standardize: { mean: [0.5], std: [0.25] } });
    expect(() => exportOnnx(model, params, { data: oneChannel })).toThrow('export: the session standardizes 1 channels, its images have 3');
    const csv = localDataSchema.parse({ format: 'csv', classes: ['a', 'b'], standardize: { mean: [0, 0], std: [1, 1] } });
    expect(() => exportOnnx(model, params, { data: csv })).toThrow('export: the session standardizes 2 features, model');
  });
});
