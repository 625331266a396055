/**
 * Also: the worker's vote work per round at d > 1M (`mlp-wide`): momentum step, stochastic
 * sign and bit packing of its ballot, and applying the verdict, beside the gradient itself.
 *
 * Also: an imported LeNet-5 (core/fixtures/onnx/lenet5.onnx, torch.onnx.export) against the
 * same network as the built-in `lenet5` preset; the importer should cost nothing at run time.
 *
 * One gradient step of the paper's MLP (784-64-64-10, d = 55,050) on each engine a peer can
 * use, against TensorFlow.js on its wasm backend (the usual in-browser choice) in the same run:
 * samples/s at batch 8, 32, 128. Every engine runs single-threaded (Node peers share cores,
 * and browsers without cross-origin isolation get no wasm threads), and every step ends with
 * the flat gradient in JS memory, which is what a peer needs to build its ballot.
 */
import { build } from 'esbuild';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as TfWasm from '@tensorflow/tfjs-backend-wasm';
import { createSyntheticDatasets } from '../core/src/data/synthetic';
import type { Batch } from '../core/src/data/dataset';
import { createOrtOracle } from '../core/src/engine/ort-oracle';
import type { GradientOracle } from '../core/src/engine/oracle';
import { createModel, type Model } from '../core/src/models';
import { randomBatch } from '../core/src/models/gradcheck';
import { createRng } from '../core/src/random';
import { createNodeOracle, loadOrtNode } from '../core/src/node/ort-node';
import { createStrategy, trustBallot } from '../core/src/optim';
import { latency, throughput, timeMs, type Bench, type BenchResult } from './harness';

const BATCHES = [8, 32, 128];
/** each timed sample runs enough steps to last about this long, so timer and scheduler noise stay small */
const SAMPLE_MS = 40;
const REPEATS = 9;

type Tf = typeof TfCore & Pick<typeof TfWasm, 'setWasmPaths' | 'setThreadsCount'>;
type Step = (batch: Batch) => Promise<Float32Array>;

/**
 * tfjs-core ships its gradient registrations only as extensionless ES modules (meant for
 * bundlers), which Node cannot import, and its Node bundle has none. So bundle core +
 * gradients + wasm backend once with esbuild (already here as tsx's engine), as an app would.
 */
export async function loadTfjsWasm(): Promise<{ tf: Tf; cleanup: () => void }> {
  const require = createRequire(import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), 'signvote-tfjs-'));
  const outfile = join(dir, 'tfjs.cjs');
  await build({
    stdin: {
      contents: [
        "export * from '@tensorflow/tfjs-core';",
        "import '@tensorflow/tfjs-core/dist/register_all_gradients';",
        "export { setWasmPaths, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';",
      ].join('\n'),
      resolveDir: dirname(require.resolve('@tensorflow/tfjs-core/package.json')),
      loader: 'js',
    },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    mainFields: ['module', 'main'],
    outfile,
    logLevel: 'error',
  });
  const tf = (await import(pathToFileURL(outfile).href)) as Tf;
  // local .wasm files, never a download
  tf.setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/');
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  tf.setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend failed to initialise');
  return { tf, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The same MLP in tfjs: x @ W + b, ReLU, mean softmax cross-entropy, grads read back flat. */
export function tfjsStep(tf: Tf, model: Model, params: Float32Array): { step: Step; dispose: () => void } {
  const vars = model.layout.map((e) => tf.variable(tf.tensor(params.subarray(e.offset, e.offset + e.size), [...e.shape]), true, `sv_${e.name}`));
  const byName = new Map(model.layout.map((e, i) => [e.name, vars[i]]));
  const step: Step = async (batch) => {
    const grad = new Float32Array(model.d);
    tf.tidy(() => {
      const x = tf.tensor2d(batch.inputs, [batch.size, 784]);
      const y = tf.oneHot(tf.tensor1d(Int32Array.from(batch.labels), 'int32'), model.numClasses);
      const { grads } = tf.variableGrads(() => {
        let h: TfCore.Tensor = x;
        for (const node of model.program.nodes) {
          if (node.op === 'Gemm' && node.c && !node.transA && !node.transB) h = tf.add(tf.matMul(h, byName.get(node.b)!), byName.get(node.c)!);
          else if (node.op === 'Relu') h = tf.relu(h);
          else throw new Error(`bench MLP has no ${node.op} op`);
        }
        return tf.losses.softmaxCrossEntropy(y, h) as TfCore.Scalar;
      }, vars);
      model.layout.forEach((e, i) => grad.set(grads[vars[i].name].dataSync() as Float32Array, e.offset));
    });
    return grad;
  };
  return { step, dispose: () => vars.forEach((v) => v.dispose()) };
}

function ortStep(oracle: GradientOracle, params: Float32Array): Step {
  return async (batch) => (await oracle.gradient(params, batch)).grad;
}

/** steps that take about SAMPLE_MS (after a warm-up step) */
async function stepsFor(step: Step, batch: Batch): Promise<number> {
  await step(batch);
  const ms = await timeMs(() => step(batch), 3, 1);
  return Math.max(1, Math.round(SAMPLE_MS / Math.max(ms, 1e-3)));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0, norm = 0;
  for (let i = 0; i < a.length; i++) { diff = Math.max(diff, Math.abs(a[i] - b[i])); norm = Math.max(norm, Math.abs(b[i])); }
  return diff / norm;
}

export const benches: Bench[] = [
  {
    name: 'engine: MLP gradient step',
    async run() {
      const model = createModel('mlp');
      const params = model.init(1);
      const { train } = createSyntheticDatasets({ seed: 1, trainCount: Math.max(...BATCHES), testCount: 1 });
      const batchOf = (size: number): Batch => ({ inputs: train.inputs.subarray(0, size * 784), labels: train.labels.subarray(0, size), size });

      const { tf, cleanup } = await loadTfjsWasm();
      const tfjs = tfjsStep(tf, model, params);
      const web = await createOrtOracle(model, { backend: 'wasm', numThreads: 1 });
      const ortNode = await loadOrtNode();
      const native = ortNode ? await createNodeOracle(model, 'node', { numThreads: 1 }) : null;
      const engines: { label: string; step: Step }[] = [{ label: 'ort-web wasm', step: ortStep(web, params) }];
      if (native) engines.push({ label: 'ort-node cpu', step: ortStep(native, params) });

      try {
        // Same numbers first: a fast wrong gradient is not a result.
        const check = batchOf(32);
        const reference = await tfjs.step(check);
        const errors = await Promise.all(engines.map(async (e) => relativeError(await e.step(check), reference)));
        errors.forEach((err, i) => {
          if (!(err < 1e-3)) throw new Error(`${engines[i].label} gradient differs from tfjs by ${err.toExponential(2)} (relative, max-norm)`);
        });

        const rows: BenchResult[] = [];
        for (const size of BATCHES) {
          const batch = batchOf(size);
          const all = [{ label: 'tfjs-wasm', step: tfjs.step }, ...engines];
          const steps = all.map(() => 1);
          for (const [k, e] of all.entries()) steps[k] = await stepsFor(e.step, batch);
          // Interleave engines sample by sample, so load from other processes hits all alike.
          // CPU time (all threads of this process) is reported too: on a shared machine wall
          // time depends on what else runs, CPU time much less.
          const times: number[][] = all.map(() => []);
          const cpu: number[][] = all.map(() => []);
          for (let r = 0; r < REPEATS + 1; r++) {
            for (const [k, e] of all.entries()) {
              const c0 = process.cpuUsage();
              const t0 = performance.now();
              for (let s = 0; s < steps[k]; s++) await e.step(batch);
              const wall = performance.now() - t0;
              const c = process.cpuUsage(c0);
              if (r > 0) { times[k].push(wall / steps[k]); cpu[k].push((c.user + c.system) / 1e3 / steps[k]); }
            }
          }
          const rate = times.map((ts) => size / (median(ts) / 1e3));
          const cpuMs = cpu.map(median);
          engines.forEach((e, i) => {
            rows.push(throughput(`MLP grad step, ${e.label}, batch ${size}`, 'samples/s', rate[i + 1], rate[0],
              `vs tfjs-wasm (1 thread, simd); CPU-time ratio ${(cpuMs[0] / cpuMs[i + 1]).toFixed(1)}x; grad rel. err ${errors[i].toExponential(1)}`));
          });
        }
        if (!native) rows.push({ bench: 'MLP grad step, ort-node cpu', value: NaN, unit: 'samples/s', baseline: NaN, ratio: NaN, note: 'skipped: onnxruntime-node not importable' });
        return rows;
      } finally {
        tfjs.dispose();
        await web.dispose();
        await native?.dispose();
        cleanup();
      }
    },
  },
  {
    name: 'engine: imported LeNet-5 vs the lenet5 preset',
    async run() {
      // Same layers, shapes and FLOPs; the file's dense weights are [out, in] (Gemm transB),
      // the preset's [in, out]. Both on the engine a Node peer prefers, one thread each.
      const imported = createModel({ onnx: new Uint8Array(readFileSync(new URL('../core/fixtures/onnx/lenet5.onnx', import.meta.url))), name: 'lenet5.onnx' });
      const preset = createModel('lenet5');
      if (imported.d !== preset.d) throw new Error(`imported LeNet-5 has d = ${imported.d}, the preset ${preset.d}`);
      const backends: ('node' | 'wasm')[] = (await loadOrtNode()) ? ['node', 'wasm'] : ['wasm'];
      const params = [imported.init(1), preset.init(1)];
      const batch = randomBatch(preset, 32, createRng(1));
      const rows: BenchResult[] = [];
      for (const backend of backends) {
        const oracles = await Promise.all([imported, preset].map((m) => createNodeOracle(m, backend, { numThreads: 1 })));
        const steps = oracles.map((o, k) => ortStep(o, params[k]));
        try {
          const n = Math.max(await stepsFor(steps[0], batch), await stepsFor(steps[1], batch));
          const times: number[][] = [[], []], cpu: number[][] = [[], []];
          // interleaved, so load from other processes hits both alike; CPU time is reported
          // too, since on a shared machine it depends much less on what else runs
          for (let r = 0; r < REPEATS + 1; r++) {
            for (const k of [0, 1]) {
              const c0 = process.cpuUsage();
              const t0 = performance.now();
              for (let s = 0; s < n; s++) await steps[k](batch);
              const c = process.cpuUsage(c0);
              if (r > 0) { times[k].push((performance.now() - t0) / n); cpu[k].push((c.user + c.system) / n); }
            }
          }
          const rate = times.map((ts) => 1e3 / median(ts));
          const cpuRatio = median(cpu[1]) / median(cpu[0]);
          rows.push(throughput(`LeNet-5 grad step, imported ONNX vs preset, ${backend}, batch 32`, 'steps/s', rate[0], rate[1],
            `ratio ${(rate[0] / rate[1]).toFixed(2)}, CPU-time ratio ${cpuRatio.toFixed(2)} (>= 0.95 expected: the importer costs nothing at run time)`));
        } finally {
          await Promise.all(oracles.map((o) => o.dispose()));
        }
      }
      return rows;
    },
  },
  {
    name: 'engine: mlp-wide worker round (sign + pack + apply vs gradient)',
    async run() {
      // What one round costs a worker besides its gradient at d = 1,333,770: the strategy's
      // worker step (momentum, stochastic sign S_R, packing: its ballot) and applying the
      // verdict to x, timed on the strategy API the session calls, against the gradient step.
      const model = createModel('mlp-wide');
      const oracle = await createNodeOracle(model, 'auto', { numThreads: 1 });
      const rng = createRng(1);
      const batch = randomBatch(model, 32, rng);
      const x = model.init(1), xPrev = x.slice();
      try {
        const gradientMs = await timeMs(() => oracle.gradient(x, batch), REPEATS);
        const { grad } = await oracle.gradient(x, batch);
        const g = grad.slice();
        const strategy = createStrategy({ name: 'mv-sto-signsgd-sim' });
        const state = strategy.createWorkerState(model.d);
        let round = 0;
        const signRng = rng.fork('signs');
        const step = () => strategy.workerStep({ x, xPrev, round: round++, gradient: async () => g, rng: signRng }, state);
        const signMs = await timeMs(step, REPEATS);
        const ballot = trustBallot(await step(), model.d);
        const verdict = strategy.aggregate({ ballots: [ballot, ballot, ballot], voters: ['a', 'b', 'c'], absent: [] }, model.d, 0);
        const y = x.slice();
        const applyMs = await timeMs(() => strategy.apply(y, verdict, 0), REPEATS);
        return [
          latency(`mlp-wide (d = ${model.d.toLocaleString('en-US')}) worker sign + pack + apply per round`, 'ms', signMs + applyMs, gradientMs,
            `sign + pack ${signMs.toFixed(2)} ms, apply ${applyMs.toFixed(2)} ms; baseline: its gradient step, batch 32, ${oracle.backend} (${gradientMs.toFixed(1)} ms)`),
        ];
      } finally {
        await oracle.dispose();
      }
    },
  },
];
