/**
 * The browser half of e2e/webgpu/webgpu.test.ts: the real model and oracle from core, on
 * onnxruntime-web, computing one MLP gradient with the WebGPU and the wasm execution providers.
 */
import { createSyntheticDatasets, createOrtOracle, createSessionOracle, createModel } from '@signvote/core';
import type { GradientCheckReport } from './report';

/** Just the WebGPU surface this page touches (TypeScript's DOM lib has no WebGPU types yet). */
interface AdapterInfoLike {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
}
interface GpuAdapterLike {
  readonly info?: AdapterInfoLike;
  readonly features: { has(name: string): boolean };
}
interface GpuLike {
  requestAdapter(): Promise<GpuAdapterLike | null>;
}
interface GpuDeviceLike {
  readonly adapterInfo?: AdapterInfoLike;
}

/** GPUAdapterInfo fields are prototype getters: copy them by name so they survive JSON. */
function infoOf(info: AdapterInfoLike | undefined) {
  return { vendor: info?.vendor ?? '', architecture: info?.architecture ?? '', device: info?.device ?? '', description: info?.description ?? '' };
}

async function gradientCheck(seed: number, batchSize: number, logVerbosityLevel: number): Promise<GradientCheckReport> {
  // Imported here, not statically, so the oracle's own dynamic import shares this chunk.
  const ort = await import('onnxruntime-web');
  // the runtime files come from this origin, never a CDN
  ort.env.wasm.wasmPaths = new URL('ort/', document.baseURI).href;
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'verbose';

  const gpu = (navigator as unknown as { gpu?: GpuLike }).gpu;
  const adapter = gpu ? await gpu.requestAdapter() : null;
  if (!adapter) throw new Error(gpu ? 'navigator.gpu.requestAdapter() returned null' : 'navigator.gpu is missing');
  const kernels: { kernelType: string; kernelName: string }[] = [];
  ort.env.webgpu.profiling = { mode: 'default', ondata: (d) => kernels.push({ kernelType: d.kernelType, kernelName: d.kernelName }) };

  const model = createModel('mlp');
  const params = model.init(seed);
  const { train } = createSyntheticDatasets({ seed, trainCount: batchSize, testCount: 1 });
  const batch = { inputs: train.inputs, labels: train.labels, size: train.count };

  const wasm = await createOrtOracle(model, { backend: 'wasm', ort });
  const cpu = await wasm.gradient(params, batch);
  // Verbose session logs name the execution provider of every node (CPU fallbacks included).
  const webgpu = await createSessionOracle(model, ort, 'webgpu', { executionProviders: ['webgpu'], logSeverityLevel: 0, logVerbosityLevel });
  const t0 = performance.now();
  const g = await webgpu.gradient(params, batch);
  const firstMs = performance.now() - t0;
  const t1 = performance.now();
  const again = await webgpu.gradient(params, batch);
  const secondMs = performance.now() - t1;
  // the production entry point picks the same provider when asked for it
  const viaFactory = await createOrtOracle(model, { backend: 'webgpu', ort });
  const factory = await viaFactory.gradient(params, batch);

  let diff2 = 0, norm2 = 0, maxDiff = 0, maxAbs = 0, repeatDiff = 0, factoryDiff = 0;
  for (let i = 0; i < model.d; i++) {
    const d = g.grad[i] - cpu.grad[i];
    diff2 += d * d; norm2 += cpu.grad[i] * cpu.grad[i];
    maxDiff = Math.max(maxDiff, Math.abs(d)); maxAbs = Math.max(maxAbs, Math.abs(cpu.grad[i]));
    repeatDiff = Math.max(repeatDiff, Math.abs(again.grad[i] - g.grad[i]));
    factoryDiff = Math.max(factoryDiff, Math.abs(factory.grad[i] - cpu.grad[i]));
  }
  // the device ORT actually computed on, and the adapter it came from
  const device = (await ort.env.webgpu.device) as GpuDeviceLike | undefined;
  await Promise.all([wasm.dispose(), webgpu.dispose(), viaFactory.dispose()]);
  return {
    d: model.d,
    adapter: infoOf(adapter.info),
    deviceAdapter: device ? infoOf(device.adapterInfo) : null,
    timestampQuery: adapter.features.has('timestamp-query'),
    webgpuRuns: 3,
    backends: [wasm.backend, webgpu.backend, viaFactory.backend],
    loss: { wasm: cpu.loss, webgpu: g.loss },
    correct: { wasm: cpu.correct, webgpu: g.correct },
    relL2: Math.sqrt(diff2 / norm2),
    relMax: maxDiff / maxAbs,
    factoryRelMax: factoryDiff / maxAbs,
    repeatMaxDiff: repeatDiff,
    gradNorm: Math.sqrt(norm2),
    webgpuKernels: kernels,
    ms: { first: firstMs, second: secondMs },
  };
}

(window as Window & { gradientCheck?: typeof gradientCheck }).gradientCheck = gradientCheck;
document.getElementById('status')!.textContent = 'ready';
