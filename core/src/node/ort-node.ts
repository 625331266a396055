import { createOrtOracle, createSessionOracle, type OrtModule, type OrtOracleOptions } from '../engine/ort-oracle';
import type { GradientOracle } from '../engine/oracle';
import type { Model } from '../models/model';

/**
 * Node peers can run the gradient oracle on onnxruntime-node (native CPU kernels) when that
 * optional dependency is installed, or on onnxruntime-web's wasm build, which always works.
 */

/** onnxruntime-node, or null when it is not installed or its native binary does not load */
export async function loadOrtNode(): Promise<OrtModule | null> {
  try {
    const name = 'onnxruntime-node';
    // A variable specifier keeps bundlers from trying to resolve this optional package.
    const mod = (await import(/* @vite-ignore */ name)) as OrtModule & { default?: OrtModule };
    return mod.InferenceSession ? mod : (mod.default ?? null);
  } catch {
    return null;
  }
}

export interface NodeOracleOptions extends Pick<OrtOracleOptions, 'evalBatchSize' | 'graph' | 'numThreads'> {}

/** 'auto': onnxruntime-node when its native binary loads (about 20x faster here for the MLP), else wasm */
export type NodeBackend = 'auto' | 'node' | 'wasm';

export async function createNodeOracle(model: Model, backend: NodeBackend, options: NodeOracleOptions = {}): Promise<GradientOracle> {
  if (backend === 'auto') return createNodeOracle(model, (await loadOrtNode()) !== null ? 'node' : 'wasm', options);
  if (backend === 'wasm') return createOrtOracle(model, { ...options, backend: 'wasm' });
  const ort = await loadOrtNode();
  if (!ort) throw new Error('onnxruntime-node is not available; install it (ONNXRUNTIME_NODE_INSTALL=skip npm install -w core onnxruntime-node) or use the wasm backend');
  const threads = options.numThreads ?? 1;
  return createSessionOracle(model, ort, 'node', { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1 }, options);
}
