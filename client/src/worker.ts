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
    case 'init':
      backend = await chooseBackend(msg.backend);
      post({ type: 'backend', backend });
      return;
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
  readonly info?: { readonly isFallbackAdapter?: boolean };
  readonly isFallbackAdapter?: boolean;
}

/**
 * 'auto' takes WebGPU only on real hardware. A fallback adapter is a software rasteriser
 * (SwiftShader in headless Chromium): measured ~500 ms per MLP step against ~17 ms on wasm.
 */
async function chooseBackend(choice: BackendChoice): Promise<'webgpu' | 'wasm'> {
  if (choice !== 'auto') return choice;
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } }).gpu;
  try {
    const adapter = await gpu?.requestAdapter();
    if (adapter && !(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter)) return 'webgpu';
  } catch {
    // a blocklisted GPU or a lost device rejects; wasm always works
  }
  return 'wasm';
}

function ready(): Promise<GradientOracle> {
  if (!oracle) throw new Error('the gradient worker was not initialised');
  return oracle;
}

// requests run one after another, in arrival order, as the oracle requires
let queue: Promise<void> = Promise.resolve();
scope.onmessage = (e: MessageEvent<ToOracle>) => {
  const msg = e.data;
  queue = queue.then(() =>
    handle(msg).catch((err: unknown) => {
      const id = 'id' in msg ? msg.id : null;
      post({ type: 'failed', id, message: err instanceof Error ? err.message : String(err) });
    }),
  );
};
