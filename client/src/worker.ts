/// <reference lib="webworker" />
import { createOrtOracle, type GradientOracle, type Dataset, createModel } from '@signvote/core';
import type { BackendChoice, FromOracle, ToOracle } from './oracle-protocol';

/**
 * The gradient worker: one onnxruntime-web oracle (WebGPU when the browser gives workers an
 * adapter, wasm otherwise) serving the page's gradient and evaluation requests in order.
 */

const scope = self as unknown as DedicatedWorkerGlobalScope;
const post = (msg: FromOracle, transfer: Transferable[] = []) => scope.postMessage(msg, transfer);

let backend: 'webgpu' | 'wasm' | null = null;
let oracle: Promise<GradientOracle> | null = null;
const datasets = new Map<number, Dataset>();

async function handle(msg: ToOracle): Promise<void> {
  switch (msg.type) {
    case 'init': {
      const chosen = await chooseBackend(msg.backend);
      backend = chosen.backend;
      post({ type: 'backend', ...chosen });
      return;
    }
    case 'model': {
      if (!backend) throw new Error('the gradient worker was asked for a model before its backend');
      oracle = createOrtOracle(createModel(msg.model), { backend });
      const o = await oracle;
      post({ type: 'ready', backend: o.backend, d: o.d });
      return;
    }
    case 'gradient': {
      const o = await ready();
      const r = await o.gradient(msg.params, { inputs: msg.inputs, labels: msg.labels, size: msg.size });
      // ORT may hand back a view into its own memory; copy once so the transfer cannot detach it
      const grad = r.grad.byteOffset === 0 && r.grad.byteLength === r.grad.buffer.byteLength ? r.grad : r.grad.slice();
      post({ type: 'gradient', id: msg.id, loss: r.loss, correct: r.correct, grad }, [grad.buffer]);
      return;
    }
    case 'dataset':
      datasets.set(msg.key, { ...msg.dataset });
      return;
    case 'evaluate': {
      const o = await ready();
      if (msg.dataset) datasets.set(msg.key, { ...msg.dataset });
      const data = datasets.get(msg.key);
      if (!data) throw new Error(`evaluation data ${msg.key} was never sent`);
      const r = await o.evaluate(msg.params, data);
      post({ type: 'evaluation', id: msg.id, loss: r.loss, accuracy: r.accuracy, count: r.count });
      return;
    }
    case 'dispose':
      await (await oracle)?.dispose();
      oracle = null;
      datasets.clear();
      return;
  }
}

interface GpuAdapterLike {
  readonly info?: { readonly isFallbackAdapter?: boolean; readonly vendor?: string; readonly architecture?: string };
  readonly isFallbackAdapter?: boolean;
}

/**
 * 'auto' takes WebGPU only on real hardware. A fallback adapter is a software rasteriser
 * (SwiftShader in headless Chromium): measured ~500 ms per MLP step against ~17 ms on wasm.
 * The reason is a sentence for the session view: a phone on plain HTTP should say why it
 * trains on wasm.
 */
async function chooseBackend(choice: BackendChoice): Promise<{ backend: 'webgpu' | 'wasm'; reason: string }> {
  if (choice !== 'auto') return { backend: choice, reason: `chosen by ?backend=${choice} in the link` };
  if (!scope.isSecureContext) {
    return { backend: 'wasm', reason: `WebGPU needs a secure context (HTTPS or localhost); this page came over plain HTTP from ${scope.location.host}` };
  }
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } }).gpu;
  if (!gpu) return { backend: 'wasm', reason: 'this browser offers no WebGPU to workers' };
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { backend: 'wasm', reason: 'no WebGPU adapter (the GPU is blocklisted or WebGPU is disabled)' };
    if (adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter) {
      return { backend: 'wasm', reason: 'the only WebGPU adapter is a software renderer, slower than wasm' };
    }
    const name = [adapter.info?.vendor, adapter.info?.architecture].filter(Boolean).join(' ');
    return { backend: 'webgpu', reason: `WebGPU adapter${name ? ` ${name}` : ''}` };
  } catch (err) {
    // a blocklisted GPU or a lost device rejects; wasm always works
    return { backend: 'wasm', reason: `the WebGPU adapter failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function ready(): Promise<GradientOracle> {
  if (!oracle) throw new Error('the gradient worker was not initialised');
  return oracle;
}

// Set-up and tear-down run one after another. Gradients and evaluations go straight to the
// oracle, which runs them in arrival order but an evaluation one slice at a time, so a round's
// gradient never waits for a whole test set (ort-oracle.ts, evalBatchSize).
let queue: Promise<void> = Promise.resolve();
scope.onmessage = (e: MessageEvent<ToOracle>) => {
  const msg = e.data;
  const run = () =>
    handle(msg).catch((err: unknown) => {
      const id = 'id' in msg ? msg.id : null;
      post({ type: 'failed', id, message: err instanceof Error ? err.message : String(err) });
    });
  if (msg.type === 'gradient' || msg.type === 'evaluate' || msg.type === 'dataset') void run();
  else queue = queue.then(run);
};
