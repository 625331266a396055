import type { Dataset, Backend, ModelSpec } from '@signvote/core';

/**
 * Messages between the page and the gradient worker (worker.ts). The page runs the session
 * protocol, because browsers expose RTCPeerConnection only on the main thread; the worker runs
 * onnxruntime, the part that takes the time, so the page stays responsive while it computes.
 */

export type BackendChoice = 'auto' | 'webgpu' | 'wasm';

/** a Dataset crosses to the worker as is (its typed arrays are structured-cloned) */
export type DatasetPayload = Dataset;

export type ToOracle =
  /** pick the backend (answered with `backend`): peers announce it when they join */
  | { readonly type: 'init'; readonly backend: BackendChoice }
  /** build the oracle for the session's model (answered with `ready`) */
  | { readonly type: 'model'; readonly model: ModelSpec }
  | {
      readonly type: 'gradient';
      readonly id: number;
      readonly params: Float32Array;
      readonly inputs: Float32Array;
      readonly labels: Uint8Array;
      readonly size: number;
    }
  /** evaluation data, sent ahead of the first evaluation (it is large: 31 MB for Fashion-MNIST's test set) */
  | { readonly type: 'dataset'; readonly key: number; readonly dataset: DatasetPayload }
  /** `dataset` is sent once per `key`; later evaluations of the same data name only the key */
  | { readonly type: 'evaluate'; readonly id: number; readonly params: Float32Array; readonly key: number; readonly dataset?: DatasetPayload }
  | { readonly type: 'dispose' };

export type FromOracle =
  /** `reason`: a sentence saying why this backend (shown in the session view) */
  | { readonly type: 'backend'; readonly backend: 'webgpu' | 'wasm'; readonly reason: string }
  | { readonly type: 'ready'; readonly backend: Backend; readonly d: number }
  | { readonly type: 'gradient'; readonly id: number; readonly loss: number; readonly correct: number; readonly grad: Float32Array }
  | { readonly type: 'evaluation'; readonly id: number; readonly loss: number; readonly accuracy: number; readonly count: number }
  /** `id` null: the worker itself failed (init, an uncaught error) */
  | { readonly type: 'failed'; readonly id: number | null; readonly message: string };
