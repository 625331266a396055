import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GradientOracle } from '../engine/oracle';
import { createModel } from '../models';
import { runModelSimulation, type ModelSimulationOptions } from '../sim/model';
import { loadDataset, type TrainTest } from './datasets';
import { parseExperimentConfig } from './experiment/config';
import { expandGrid } from './experiment/grid';
import { runSpec } from './experiment/run';
import { createNodeOracle, loadOrtNode } from './ort-node';
import { main } from './simulate';

describe('the simulator on a real model (MLP on MNIST)', () => {
  const model = createModel('mlp');
  let data: TrainTest;
  let oracle: GradientOracle;
  beforeAll(async () => {
    data = await loadDataset('mnist');
    oracle = await createNodeOracle(model, (await loadOrtNode()) !== null ? 'node' : 'wasm');
  }, 60_000);
  afterAll(async () => {
    await oracle?.dispose();
  });

  const options = (over: Partial<ModelSimulationOptions> = {}): ModelSimulationOptions => ({
    algorithm: { name: 'mv-sto-signsgd-sim' },
    peers: 5,
    batch: 32,
    rounds: 30,
    seed: 1,
    oracle,
    x0: model.init(1),
    train: data.train,
    test: data.test,
    evalEvery: 10,
    ...over,
  });

  it('trains 5 peers for 30 rounds to well above chance, through the session', async () => {
    const seen: number[] = [];
    const r = await runModelSimulation({ ...options(), onProgress: (p) => seen.push(p.round) });
    expect(seen).toEqual([0, 10, 20, 30]);
    expect(r.curve.map((p) => p.round)).toEqual(seen);
    // the paper's setting (lr = R = 1e-3): chance is 10%
    expect(r.initialAccuracy).toBeLessThan(0.3);
    expect(r.testAccuracy).toBeGreaterThan(0.5);
    expect(r.finalLoss).toBeLessThan(0.6 * r.initialLoss);
    expect(r.curve[1].trainLoss).toBeGreaterThan(r.curve[3].trainLoss);
    expect(Number.isNaN(r.curve[0].trainLoss)).toBe(true);
    expect(r.gradientCalls).toBe(5 * 30);
    expect(r.nonFiniteGradients).toBe(0);
    expect(r.missedBallots).toBe(0);
    // a worker's ballot is one bit per parameter plus framing
    expect(r.bytesUpPerPeerPerRound).toBeGreaterThan(model.d / 8);
    expect(r.bytesUpPerPeerPerRound).toBeLessThan(model.d / 8 + 200);
    expect(r.problem).toBe('mlp on mnist-train (IID)');
  }, 30_000);

  it('is deterministic in the seed, and a Dirichlet split changes the run', async () => {
    const small = { rounds: 8, evalEvery: 8, peers: 4 };
    const a = await runModelSimulation(options(small));
    const b = await runModelSimulation(options(small));
    expect(b.finalParams).toEqual(a.finalParams);
    expect(b.testAccuracy).toBe(a.testAccuracy);
    const skewed = await runModelSimulation(options({ ...small, partition: { kind: 'dirichlet', alpha: 0.1 } }));
    expect(skewed.finalParams).not.toEqual(a.finalParams);
    expect(skewed.problem).toBe('mlp on mnist-train (Dirichlet alpha=0.1)');
  }, 30_000);

  it('draws the same run as the experiment runner for the same seed (one naming of the random streams)', async () => {
    const config = parseExperimentConfig({
      name: 'same-run', title: 'same run', paper: '-', model: 'mlp', datasets: ['mnist'], rounds: 6, evalEvery: 1,
      peers: [3], batchSizes: [16], partitions: [{ kind: 'dirichlet', alpha: 0.5 }], seeds: 1, firstSeed: 4,
      algorithms: [{ label: 'fed', name: 'fed-mv-sto-signsgd-sim', lr: 0.001, R: 0.001, K: 2, eta: 0.01 }],
      claims: [], smoke: { rounds: 6, seeds: 1, evalEvery: 1 },
    });
    const [spec] = expandGrid(config);
    const experiment = await runSpec(spec, { model, oracle, train: data.train, test: data.test });
    const simulated = await runModelSimulation(options({
      algorithm: { name: 'fed-mv-sto-signsgd-sim', lr: 0.001, R: 0.001, K: 2, eta: 0.01, ties: 'zero' },
      peers: 3, batch: 16, rounds: 6, seed: 4, x0: model.init(4), evalEvery: 1, partition: { kind: 'dirichlet', alpha: 0.5 },
    }));
    // evaluated every round, the experiment's train loss (mean since the last evaluation) is the round's
    expect(simulated.curve.map((p) => [p.round, p.trainLoss, p.testLoss, p.testAccuracy]))
      .toEqual(experiment.rows.map((r) => [r.round, r.trainLoss, r.testLoss, r.testAccuracy]));
    // the streams are the seed's: another seed draws other batches
    const other = await runModelSimulation(options({ algorithm: { name: 'fed-mv-sto-signsgd-sim', lr: 0.001, R: 0.001, K: 2, eta: 0.01, ties: 'zero' },
      peers: 3, batch: 16, rounds: 6, seed: 5, x0: model.init(4), evalEvery: 1, partition: { kind: 'dirichlet', alpha: 0.5 } }));
    expect(other.curve[1].trainLoss).not.toBe(simulated.curve[1].trainLoss);
  }, 30_000);

  it('rejects parameters that do not fit the model', async () => {
    await expect(runModelSimulation(options({ x0: new Float32Array(10) }))).rejects.toThrow(/d = 55050/);
    await expect(runModelSimulation(options({ peers: 0 }))).rejects.toThrow(/peers/);
  });
});

describe('simulate CLI', () => {
  it('runs --model with a JSON report', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    try {
      await main(['--model', 'mlp', '--peers', '3', '--rounds', '4', '--limit', '600', '--json', '--quiet', '--dirichlet', '1']);
    } finally {
      spy.mockRestore();
    }
    const r = JSON.parse(out.join('')) as Record<string, unknown>;
    expect(r).toMatchObject({ model: 'mlp', dataset: 'mnist', peers: 3, rounds: 4, batch: 32, partition: { kind: 'dirichlet', alpha: 1 } });
    expect(r.testAccuracy).toEqual(expect.any(Number));
    expect(r).not.toHaveProperty('finalParams');
  }, 30_000);

  it.each([
    ['an ONNX file', fileURLToPath(new URL('../../fixtures/onnx/mlp.onnx', import.meta.url)), 'mlp.onnx', 55_050],
    ['a layer list', 'layers', 'tiny', 7_850],
  ])('runs --model with %s', async (_, arg, name, d) => {
    let path = arg;
    if (arg === 'layers') {
      path = join(mkdtempSync(join(tmpdir(), 'simulate-')), 'tiny.json');
      writeFileSync(path, JSON.stringify({ name: 'tiny', inputShape: [784], numClasses: 10, layers: [{ type: 'dense', units: 10 }] }));
    }
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    try {
      await main(['--model', path, '--peers', '2', '--rounds', '30', '--limit', '1000', '--json', '--quiet', '--lr', '0.003']);
    } finally {
      spy.mockRestore();
    }
    const r = JSON.parse(out.join('')) as { modelName: string; d: number; initialAccuracy: number; testAccuracy: number; problem: string };
    expect(r).toMatchObject({ modelName: name, d });
    expect(r.problem).toMatch(new RegExp(`^${name.replace('.', '\\.')} on mnist-train`));
    expect(r.testAccuracy).toBeGreaterThan(r.initialAccuracy + 0.3);
  }, 60_000);

  it('refuses model-only flags without --model', async () => {
    await expect(main(['--dirichlet', '1', '--quiet'])).rejects.toThrow(/--dirichlet needs --model/);
  });
});
