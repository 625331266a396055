/** What the page hands back to the test (crosses the Playwright boundary as JSON). */
export interface GradientCheckReport {
  d: number;
  /** navigator.gpu.requestAdapter() */
  adapter: AdapterInfo;
  /** adapterInfo of the GPUDevice ORT ran on (ort.env.webgpu.device); null if ORT made none */
  deviceAdapter: AdapterInfo | null;
  /** ORT's WebGPU profiler needs timestamp queries; without them webgpuKernels stays empty */
  timestampQuery: boolean;
  /** WebGPU gradient runs profiled into webgpuKernels */
  webgpuRuns: number;
  /** reported backend of: the wasm oracle, the diagnostic WebGPU oracle, createOrtOracle({ backend: 'webgpu' }) */
  backends: string[];
  loss: { wasm: number; webgpu: number };
  correct: { wasm: number; webgpu: number };
  /** ||g_webgpu - g_wasm||_2 / ||g_wasm||_2 */
  relL2: number;
  /** max |g_webgpu - g_wasm| / max |g_wasm| */
  relMax: number;
  /** the same for the createOrtOracle WebGPU oracle */
  factoryRelMax: number;
  /** max difference between two WebGPU runs on the same input */
  repeatMaxDiff: number;
  gradNorm: number;
  /** kernels the WebGPU profiler saw run on the GPU, in order */
  webgpuKernels: { kernelType: string; kernelName: string }[];
  ms: { first: number; second: number };
}

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}
