import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSessionConfig } from '../config';
import { headDataset, type Dataset } from '../data/dataset';
import { tabular, tokens } from '../import/tasks';
import { exportOnnx } from '../models/export';
import { createModel, type Model } from '../models/model';
import { loadDataset } from '../node/datasets';
import { createNodeOracle, loadOrtNode } from '../node/ort-node';
import { createRng } from '../random';
import { runModel } from './model';

/**
 * Every required ONNX fixture trains in a two-peer session (MV-STO-SIGNSGD-SIM through the real
 * session peers on the in-memory hub) from the file's own weights, ends above chance by a clear
 * margin on held-out data, and its export (models/export.ts) run by onnxruntime-node gives that
 * very accuracy, sample for sample.
 */

const dir = new URL('../../fixtures/onnx/', import.meta.url);
const load = (name: string): Model => createModel({ onnx: new Uint8Array(readFileSync(new URL(name, dir))), name });

interface Case {
  readonly file: string;
  readonly data: () => Promise<{ train: Dataset; test: Dataset }>;
  readonly rounds: number;
  readonly lr: number;
  readonly chance: number;
  readonly atLeast: number;
}

const digits = async () => {
  const { train, test } = await loadDataset('mnist');
  return { train, test: headDataset(test, 1000) };
};
const blobs = async () => {
  const rng = createRng(11);
  const centres = [0, 1, 2].map(() => Float64Array.from({ length: 12 }, () => rng.normal()));
  return { train: tabular(3000, rng.fork('train'), centres), test: tabular(600, rng.fork('test'), centres) };
};
const keywords = async () => {
  const rng = createRng(12);
  const task = { length: 8, vocab: 32, classes: 4, per: 2, marks: 2 };
  return { train: tokens(3000, rng.fork('train'), task), test: tokens(600, rng.fork('test'), task) };
};

const cases: Case[] = [
  { file: 'mlp.onnx', data: digits, rounds: 300, lr: 2e-3, chance: 0.1, atLeast: 0.85 },
  { file: 'lenet5.onnx', data: digits, rounds: 200, lr: 2e-3, chance: 0.1, atLeast: 0.85 },
  { file: 'tabular-layernorm.onnx', data: blobs, rounds: 250, lr: 3e-3, chance: 1 / 3, atLeast: 0.8 },
  { file: 'embedding.onnx', data: keywords, rounds: 250, lr: 5e-3, chance: 0.25, atLeast: 0.85 },
];

/** onnxruntime-node on the exported file: the fraction of `data` whose argmax probability is the label */
async function exportedAccuracy(bytes: Uint8Array, model: Model, data: Dataset): Promise<number> {
  const ort = await loadOrtNode();
  if (!ort) throw new Error('onnxruntime-node does not load here');
  const session = await ort.InferenceSession.create(bytes);
  try {
    expect(session.inputNames).toEqual([model.program.input.name]);
    expect(session.outputNames).toEqual(['logits', 'probabilities']);
    const shape = [data.count, ...model.inputShape];
    const x = model.program.input.kind === 'index'
      ? new ort.Tensor('int64', BigInt64Array.from(data.inputs, (v) => BigInt(v)), shape)
      : new ort.Tensor('float32', data.inputs, shape);
    const out = await session.run({ [model.program.input.name]: x });
    const p = out.probabilities.data as Float32Array;
    const k = model.numClasses;
    let correct = 0;
    for (let i = 0; i < data.count; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (p[i * k + c] > p[i * k + best]) best = c;
      if (best === data.labels[i]) correct++;
    }
    return correct / data.count;
  } finally {
    await session.release();
  }
}

describe('every ONNX fixture trains in a two-peer session; its export reproduces the accuracy', () => {
  it.each(cases)('$file: above chance by a clear margin', async (c) => {
    const model = load(c.file);
    const { train, test } = await c.data();
    const oracle = await createNodeOracle(model, 'auto');
    try {
      const config = parseSessionConfig({
        expectedPeers: 2,
        rounds: c.rounds,
        batchSize: 32,
        evalEvery: 0,
        seed: 3,
        algorithm: { name: 'mv-sto-signsgd-sim', lr: c.lr, R: 1e-3, theta: 0.9, schedule: { kind: 'step', milestones: [Math.round(c.rounds * 0.7)], factor: 0.3 } },
      });
      const run = await runModel({ config, peers: 2, oracle, x0: model.init(config.seed), train, test });
      const first = run.curve[0], last = run.curve[run.curve.length - 1];
      expect(first.testAccuracy).toBeLessThan(c.chance + 0.2);
      expect(last.testAccuracy).toBeGreaterThanOrEqual(c.atLeast);
      // both peers hold the same parameters (one hash), the ones exported
      expect(new Set(run.session.peers.map((p) => p.hash)).size).toBe(1);
      const bytes = exportOnnx(model, run.session.params, { data: undefined });
      expect(await exportedAccuracy(bytes, model, test)).toBe(last.testAccuracy);
    } finally {
      await oracle.dispose();
    }
  }, 180_000);
});
