import type * as OrtCommon from 'onnxruntime-web';
import { featureSize } from '../data/dataset';
import type { Model, TrainingGraphOptions } from '../models/model';
import type { Backend, Evaluation, GradientOracle, GradientResult } from './oracle';

/**
 * The gradient oracle on ONNX Runtime. onnxruntime-web has no training API, so the model's
 * training graph (forward + autodiff backward, core/src/graph) runs as a plain inference
 * session whose `grad` output is the flat gradient. The same code drives onnxruntime-node,
 * whose API is the shared onnxruntime-common one.
 */

/** the part of an onnxruntime module (web or node) the oracle uses */
export type OrtModule = Pick<typeof OrtCommon, 'InferenceSession' | 'Tensor' | 'env'>;

export interface OrtOracleOptions {
  /** 'auto': WebGPU when `navigator.gpu` yields an adapter, wasm otherwise (always wasm in Node) */
  readonly backend?: 'auto' | 'wasm' | 'webgpu';
  /** an already imported onnxruntime-web module (default: dynamic import) */
  readonly ort?: OrtModule;
  /**
   * samples per evaluation run (default 100: ~2 ms for the MLP, ~10-25 ms for the CNN in wasm
   * here, the longest a gradient waits behind an evaluation)
   */
  readonly evalBatchSize?: number;
  /**
   * the share of time an evaluation may compute, in (0, 1] (default 0.25): after each run it
   * waits so long that its runs take at most this share, leaving the rest to gradients and the
   * protocol (in Node's wasm backend the runs hold the event loop). Measured at 0.5, two Node
   * peers on this 2-core machine ran the CNN's rounds beside an evaluation 1.85x slower than
   * the others; at 0.25, 0.9x-1.4x (bench/evaluation.bench.ts)
   */
  readonly evalDuty?: number;
  /**
   * wasm threads; default 1 outside cross-origin-isolated browsers (Node peers share their
   * cores with other peers, and ORT cannot use threads without isolation anyway)
   */
  readonly numThreads?: number;
  /** passed to the model's training graph (tests use it to break a backward rule) */
  readonly graph?: TrainingGraphOptions;
}

export async function createOrtOracle(model: Model, options: OrtOracleOptions = {}): Promise<GradientOracle> {
  const ort = options.ort ?? ((await import('onnxruntime-web')) as OrtModule);
  const backend = await pickBackend(options.backend ?? 'auto');
  const threads = options.numThreads ?? (isolatedBrowser() ? undefined : 1);
  if (threads !== undefined) ort.env.wasm.numThreads = threads;
  return createSessionOracle(model, ort, backend, { executionProviders: [backend] }, options);
}

/**
 * Builds an oracle on any onnxruntime-common module. `backend` is the label reported;
 * `sessionOptions` chooses the execution providers.
 */
export async function createSessionOracle(
  model: Model,
  ort: OrtModule,
  backend: Backend,
  sessionOptions: OrtCommon.InferenceSession.SessionOptions,
  options: Pick<OrtOracleOptions, 'evalBatchSize' | 'evalDuty' | 'graph'> = {},
): Promise<GradientOracle> {
  const evalBatchSize = options.evalBatchSize ?? 100;
  if (!(Number.isInteger(evalBatchSize) && evalBatchSize > 0)) throw new RangeError(`evalBatchSize must be a positive integer, got ${evalBatchSize}`);
  const evalDuty = options.evalDuty ?? 0.25;
  if (!(evalDuty > 0 && evalDuty <= 1)) throw new RangeError(`evalDuty must be in (0, 1], got ${evalDuty}`);
  const features = featureSize(model);
  const k = model.numClasses;
  // an integer-input model (token ids for an embedding) takes whole numbers below its table size
  const tokens = model.program.input.kind === 'index' ? model.program.input.indexBound : null;
  const settings = { logSeverityLevel: 3 as const, ...sessionOptions };
  const open = async (graph: Uint8Array, kind: string): Promise<OrtCommon.InferenceSession> => {
    try {
      return await ort.InferenceSession.create(graph, settings);
    } catch (err) {
      throw new Error(`cannot open the ${model.name} ${kind} graph on the ${backend} backend: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };
  // both sessions up front: opening the evaluation graph takes ~1 s of the one thread, which in
  // the middle of a session would hold up the round after the first evaluation
  const train = await open(model.trainingGraph(options.graph), 'training');
  const evaluator = await open(model.evalGraph(), 'evaluation');
  let disposed = false;

  // ORT sessions do not allow overlapping runs; queue them so callers need not care.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(() => {
      if (disposed) throw new Error('oracle is disposed');
      return fn();
    });
    queue = next.catch(() => undefined);
    return next;
  };

  const feeds = (params: Float32Array, inputs: Float32Array, labels: Uint8Array, n: number): Record<string, OrtCommon.Tensor> => {
    const out: Record<string, OrtCommon.Tensor> = {
      x: new ort.Tensor('float32', inputs, [n, ...model.inputShape]),
      labels: new ort.Tensor('float32', oneHot(labels, n, k), [n, k]),
    };
    // Views, not copies: the flat vector is the one source of truth.
    for (const e of model.layout) out[e.name] = new ort.Tensor('float32', params.subarray(e.offset, e.offset + e.size), [...e.shape]);
    return out;
  };

  const checkParams = (params: Float32Array): void => {
    if (!(params instanceof Float32Array)) throw new TypeError('params must be a Float32Array');
    if (params.length !== model.d) throw new RangeError(`params has length ${params.length}, model ${model.name} has d = ${model.d}`);
  };

  return {
    backend,
    d: model.d,

    gradient: async (params, batch) => {
      checkParams(params);
      checkSamples(batch.inputs, batch.labels, batch.size, features, k, 'batch', tokens);
      return serial(async (): Promise<GradientResult> => {
        const out = await train.run(feeds(params, batch.inputs, batch.labels, batch.size));
        return { loss: scalar(out.loss), correct: scalar(out.correct), grad: out.grad.data as Float32Array };
      });
    },

    // Each run of evalBatchSize samples queues on its own, so a gradient asked for during an
    // evaluation waits for one run, not for the whole test set; between runs the evaluation
    // rests (evalDuty). Fixed batches keep the sums, and so the result, the same on every peer.
    evaluate: async (params, data) => {
      checkParams(params);
      if (featureSize(data) !== features) throw new RangeError(`dataset ${data.name} has ${featureSize(data)} features per sample, model ${model.name} needs ${features}`);
      checkSamples(data.inputs, data.labels, data.count, features, k, `dataset ${data.name}`, tokens);
      let lossSum = 0, correct = 0;
      for (let start = 0; start < data.count; start += evalBatchSize) {
        const n = Math.min(evalBatchSize, data.count - start);
        const inputs = data.inputs.subarray(start * features, (start + n) * features);
        const ran = await serial(async () => {
          const t0 = performance.now();
          const out = await evaluator.run(feeds(params, inputs, data.labels.subarray(start, start + n), n));
          return { loss: scalar(out.loss), correct: scalar(out.correct), ms: performance.now() - t0 };
        });
        lossSum += ran.loss; // the evaluation graph sums its losses
        correct += ran.correct;
        if (evalDuty < 1 && start + n < data.count) await rest((ran.ms * (1 - evalDuty)) / evalDuty);
      }
      return { loss: lossSum / data.count, accuracy: correct / data.count, count: data.count };
    },

    dispose: async () => {
      if (disposed) return;
      await queue;
      disposed = true;
      await train.release();
      await evaluator.release();
    },
  };
}

/** a timer, not a microtask: gradients, socket and channel events get their turn */
function rest(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.round(ms))));
}

function checkSamples(inputs: Float32Array, labels: Uint8Array, n: number, features: number, k: number, what: string, tokens: number | null): void {
  if (!(Number.isInteger(n) && n > 0)) throw new RangeError(`${what}: size must be a positive integer, got ${n}`);
  if (!(inputs instanceof Float32Array)) throw new TypeError(`${what}: inputs must be a Float32Array`);
  if (!(labels instanceof Uint8Array)) throw new TypeError(`${what}: labels must be a Uint8Array`);
  if (inputs.length !== n * features) throw new RangeError(`${what}: ${inputs.length} input floats for ${n} samples of ${features} features (expected ${n * features})`);
  if (labels.length !== n) throw new RangeError(`${what}: ${labels.length} labels for ${n} samples`);
  for (let i = 0; i < n; i++) if (labels[i] >= k) throw new RangeError(`${what}: label ${labels[i]} at ${i} is not a class in [0, ${k})`);
  if (tokens !== null) {
    for (let i = 0; i < inputs.length; i++) {
      const v = inputs[i];
      if (!(Number.isInteger(v) && v >= 0 && v < tokens)) throw new RangeError(`${what}: input ${i} (sample ${Math.floor(i / features)}) is ${v}, not a token id in [0, ${tokens})`);
    }
  }
}

function oneHot(labels: Uint8Array, n: number, k: number): Float32Array {
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) out[i * k + labels[i]] = 1;
  return out;
}

function scalar(t: OrtCommon.Tensor): number {
  return Number((t.data as Float32Array)[0]);
}

interface GpuNavigator {
  gpu?: { requestAdapter(): Promise<unknown> };
}

async function pickBackend(choice: 'auto' | 'wasm' | 'webgpu'): Promise<'wasm' | 'webgpu'> {
  if (choice !== 'auto') return choice;
  const nav = (globalThis as { navigator?: GpuNavigator }).navigator;
  try {
    if (nav?.gpu && (await nav.gpu.requestAdapter())) return 'webgpu';
  } catch {
    // An adapter request can reject (blocklisted GPU, lost device): wasm still works.
  }
  return 'wasm';
}

function isolatedBrowser(): boolean {
  const g = globalThis as { window?: unknown; crossOriginIsolated?: boolean };
  return g.window !== undefined && g.crossOriginIsolated === true;
}
