import type { Dataset, Backend, Evaluation, GradientOracle, GradientResult, ModelSpec } from '@signvote/core';
import type { BackendChoice, DatasetPayload, FromOracle, ToOracle } from './oracle-protocol';

/**
 * The page's handle on the gradient worker (worker.ts). Opening it picks the backend; the
 * oracle for the session's model is built once the join has said which model that is.
 */
export interface GradientWorker {
  readonly backend: 'webgpu' | 'wasm';
  /** why this backend, in a sentence */
  readonly reason: string;
  createOracle(model: ModelSpec): Promise<GradientOracle>;
  /** hands the worker evaluation data now, so the first evaluation does not copy it mid-session */
  preload(data: Dataset): void;
  /** ends the worker; pending calls reject with `reason` */
  terminate(reason: string): void;
}

export async function openGradientWorker(choice: BackendChoice): Promise<GradientWorker> {
  const w = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'signvote-gradients' });
  const waiting = new Map<string | number, { resolve: (msg: FromOracle) => void; reject: (err: Error) => void }>();
  const keys = new WeakMap<Dataset, number>();
  let nextId = 1;
  let dead: Error | null = null;

  const fail = (err: Error) => {
    dead ??= err;
    for (const p of waiting.values()) p.reject(err);
    waiting.clear();
  };

  // answers are matched by request id; the two set-up answers by their type
  w.onmessage = (e: MessageEvent<FromOracle>) => {
    const msg = e.data;
    const key = msg.type === 'backend' || msg.type === 'ready' ? msg.type : msg.id;
    if (key === null) return fail(new Error(`gradient worker: ${msg.type === 'failed' ? msg.message : 'failed'}`));
    const p = waiting.get(key);
    if (!p) return;
    waiting.delete(key);
    if (msg.type === 'failed') p.reject(new Error(msg.message));
    else p.resolve(msg);
  };
  w.onerror = (e) => {
    e.preventDefault();
    fail(new Error(`gradient worker crashed: ${e.message || 'unknown error'}`));
  };

  const request = (key: string | number, msg: ToOracle, transfer: Transferable[] = []): Promise<FromOracle> => {
    if (dead) return Promise.reject(dead);
    return new Promise((resolve, reject) => {
      waiting.set(key, { resolve, reject });
      w.postMessage(msg, transfer);
    });
  };

  const terminate = (reason: string) => {
    fail(new Error(reason));
    w.terminate();
  };

  const chosen = await request('backend', { type: 'init', backend: choice }).catch((err: Error) => {
    terminate(err.message);
    throw err;
  });
  if (chosen.type !== 'backend') throw new Error(`gradient worker answered ${chosen.type} to init`);

  const payload = (data: Dataset): DatasetPayload => ({ name: data.name, inputs: data.inputs, labels: data.labels, count: data.count, inputShape: [...data.inputShape], numClasses: data.numClasses });
  const preload = (data: Dataset): void => {
    if (dead || keys.has(data)) return;
    const key = nextId++;
    keys.set(data, key);
    w.postMessage({ type: 'dataset', key, dataset: payload(data) } satisfies ToOracle);
  };

  const createOracle = async (model: ModelSpec): Promise<GradientOracle> => {
    const ready = await request('ready', { type: 'model', model });
    if (ready.type !== 'ready') throw new Error(`gradient worker answered ${ready.type} to model`);
    const backend: Backend = ready.backend;
    return {
      backend,
      d: ready.d,
      async gradient(params: Float32Array, batch): Promise<GradientResult> {
        // copies: the session keeps using its vectors (and the sampler its buffers) meanwhile
        const p = params.slice();
        const inputs = batch.inputs.slice();
        const labels = batch.labels.slice();
        const id = nextId++;
        const msg = await request(id, { type: 'gradient', id, params: p, inputs, labels, size: batch.size }, [p.buffer, inputs.buffer, labels.buffer]);
        if (msg.type !== 'gradient') throw new Error(`gradient worker answered ${msg.type} to a gradient request`);
        return { loss: msg.loss, correct: msg.correct, grad: msg.grad };
      },
      async evaluate(params: Float32Array, data: Dataset): Promise<Evaluation> {
        const p = params.slice();
        let key = keys.get(data);
        let dataset: DatasetPayload | undefined;
        if (key === undefined) {
          key = nextId++;
          keys.set(data, key);
          dataset = payload(data);
        }
        const id = nextId++;
        const msg = await request(id, { type: 'evaluate', id, params: p, key, dataset }, [p.buffer]);
        if (msg.type !== 'evaluation') throw new Error(`gradient worker answered ${msg.type} to an evaluation request`);
        return { loss: msg.loss, accuracy: msg.accuracy, count: msg.count };
      },
      async dispose() {
        if (dead) return;
        w.postMessage({ type: 'dispose' } satisfies ToOracle);
        // let the worker release its sessions (WebGPU buffers) before it goes
        setTimeout(() => terminate('oracle is disposed'), 200);
      },
    };
  };

  return { backend: chosen.backend, reason: chosen.reason, createOracle, preload, terminate };
}
