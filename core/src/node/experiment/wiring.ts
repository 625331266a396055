import { createBatchSampler, partitionFor } from '../../data';
import type { Dataset } from '../../data/dataset';
import type { GradientOracle } from '../../engine/oracle';
import type { Model } from '../../models';
import { createStrategy } from '../../optim';
import type { Rng } from '../../random';
import type { SessionEvent } from '../../session/events';
import { createSessionPeer } from '../../session/peer';
import type { SessionPeer } from '../../session/peer';
import { createMemoryHub } from '../../transport/memory';
import { loadDataset } from '../datasets';
import { createNodeOracle, loadOrtNode } from '../ort-node';
import type { RunSpec } from './grid';

/**
 * The one place that knows how the other modules are called: datasets, partitions, the
 * gradient oracle, strategies and the session state machine on the in-memory hub.
 */

export type OracleBackend = 'auto' | 'wasm' | 'node';

/** 'auto': onnxruntime-node when it loads (about 20x faster here for the MLP), else wasm. */
export async function createOracle(model: Model, backend: OracleBackend): Promise<GradientOracle> {
  const resolved = backend === 'auto' ? ((await loadOrtNode()) ? 'node' : 'wasm') : backend;
  return createNodeOracle(model, resolved);
}

export async function loadData(name: RunSpec['dataset'], limit: number): Promise<{ train: Dataset; test: Dataset }> {
  const full = await loadDataset(name);
  return limit > 0 ? await loadDataset(name, { limit }) : full;
}

export interface RoundInfo {
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** ballots counted in this round, when the session reports it */
  readonly counted?: number;
}

export interface SessionPeersOptions {
  readonly spec: RunSpec;
  readonly model: Model;
  readonly oracle: GradientOracle;
  readonly train: Dataset;
  readonly x0: Float32Array;
  readonly rng: Rng;
  /** the mini-batch loss of a peer's first gradient in round t (0-based) */
  onLoss(round: number, loss: number): void;
  /** a peer applied round t (0-based) */
  onRound(peerIndex: number, round: number, info: RoundInfo): void;
  /** peer 0's parameters after `completed` rounds, every evalEvery rounds */
  evaluate(completed: number, x: Float32Array): Promise<void>;
}

export interface SessionPeers {
  /** resolves when every peer has finished all rounds; rejects on a session error */
  readonly done: Promise<void>;
  finalParams(): Float32Array;
}

export async function startSessionPeers(opts: SessionPeersOptions): Promise<SessionPeers> {
  const { spec, oracle, train } = opts;
  const config = spec.session;
  const n = spec.peers;
  const hub = createMemoryHub();
  const shards = partitionFor(config.partition, train, n, opts.rng.fork('partition'));
  const evaluations: Promise<void>[] = [];
  let finished = 0;
  let settle!: { resolve: () => void; reject: (err: Error) => void };
  const done = new Promise<void>((resolve, reject) => { settle = { resolve, reject }; });
  let failed = false;
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    settle.reject(err);
  };

  const peers: SessionPeer[] = [];
  for (let i = 0; i < n; i++) {
    const transport = hub.join();
    const sampler = createBatchSampler(train, shards[i], config.batchSize, opts.rng.fork(`batch-${i}`));
    let lossLogged = -1;
    const gradient = async (at: Float32Array, round: number) => {
      const r = await oracle.gradient(at, sampler.next());
      // only the first gradient of a round is at that round's parameters (Alg. 3 draws K more)
      if (lossLogged !== round) {
        lossLogged = round;
        opts.onLoss(round, r.loss);
      }
      return { grad: r.grad, loss: r.loss };
    };
    const peerIndex = i;
    const onEvent = (e: SessionEvent) => {
      switch (e.type) {
        case 'round': {
          opts.onRound(peerIndex, e.round, { bytesUp: e.bytesUp, bytesDown: e.bytesDown, counted: e.counted });
          const completed = e.round + 1;
          if (peerIndex === 0 && (completed % config.evalEvery === 0 || completed === config.rounds)) {
            // copy now: the session moves on while the oracle queue gets to the evaluation
            const x = peers[0].state().x.slice();
            evaluations.push(opts.evaluate(completed, x).catch((err: Error) => fail(err)));
          }
          break;
        }
        case 'finished':
          if (++finished === n) Promise.all(evaluations).then(() => settle.resolve(), fail);
          break;
        case 'error':
          fail(new Error(`peer ${peerIndex}: ${e.error}`));
          break;
        default:
          break;
      }
    };
    peers.push(createSessionPeer({
      transport,
      config,
      strategy: createStrategy(config.algorithm),
      params: opts.x0,
      gradient,
      onEvent,
    }));
  }
  return {
    done: done.then(
      async () => {
        const hashes = new Set(peers.map((p) => p.state().hash));
        for (const p of peers) await p.stop();
        // every peer applies the same verdicts, so the parameters must agree bit for bit
        if (hashes.size !== 1) throw new Error(`peers disagree after the last round: ${hashes.size} distinct parameter hashes`);
      },
      async (err: unknown) => {
        for (const p of peers) await p.stop();
        throw err;
      },
    ),
    finalParams: () => peers[0].state().x.slice(),
  };
}
