import {
  createIdbCheckpointStore,
  type TrainTest,
  startPeer,
  type PeerEvent,
  type RunningPeer,
  decodeDataset,
  type Dataset,
  type GradientOracle,
  type SessionConfig,
  exportOnnx,
  predictProbabilities,
  sessionModelName,
  watchFewerPeers,
  type FewerPeersWatch,
  RecordError,
  type SessionRecordView,
} from '@signvote/core';
import type { BackendChoice } from './oracle-protocol';
import type { PeerInfo, ViewMessage } from './peer-messages';
import { firstLayerPictures, type Pictures } from './weights';
import { openGradientWorker, type GradientWorker } from './worker-oracle';

/**
 * One browser tab as one peer. The session protocol runs here on the page, because browsers
 * expose RTCPeerConnection only to the main thread (Chromium has none in workers); gradients and
 * evaluations, the work that takes time, run in the gradient worker (worker.ts).
 */

export interface BrowserPeerOptions {
  readonly server: string;
  /** other server processes of the session (on one Redis): the tab resumes its seat there when `server` goes away */
  readonly fallbacks?: readonly string[];
  readonly session: string;
  readonly token: string;
  readonly backend: BackendChoice;
  /** send first-layer weight pictures every this many rounds */
  readonly weightsEvery: number;
  /** this tab's own data, prepared by the data picker (sessions whose peers bring their own) */
  readonly localData?: TrainTest;
  readonly onMessage: (msg: ViewMessage) => void;
  /** the session finished before this tab could join (the join was refused with its record) */
  readonly onEnded?: (record: SessionRecordView) => void;
}

export interface BrowserPeer {
  /** stop computing ballots; verdicts are still applied so the tab stays in step */
  pause(): void;
  resume(): void;
  /** leave the session (idempotent) */
  leave(): Promise<void>;
  /** the current parameters as a standalone ONNX model (core exportOnnx), or null before the model is known */
  exportModel(): { bytes: Uint8Array; name: string; round: number } | null;
  /** class probabilities of one sample under the current parameters, or null before the model is known */
  predict(input: Float32Array): Float64Array | null;
  /** the model's per-sample input shape and class count, once known */
  modelShape(): { inputShape: readonly number[]; numClasses: number } | null;
}

/** hidden units drawn by the weight pictures */
const pictureUnits = 16;

export function startBrowserPeer(options: BrowserPeerOptions): BrowserPeer {
  const post = options.onMessage;
  let running: RunningPeer | null = null;
  let gradients: GradientWorker | null = null;
  let leaving = false;
  /** the peer stopped on its own (server lost, gave up): the tab says why and computes nothing more */
  let halted = false;
  let finished = false;
  let resumeGate: { promise: Promise<void>; open: () => void } | null = null;
  let aggregator: string | null = null;
  let members: PeerInfo[] = [];
  let drops = 0;

  const fail = (detail: string) => {
    if (leaving) return;
    post({ type: 'state', state: 'error', detail });
  };

  /**
   * The session is over for this tab although it did not leave (its signaling server is gone
   * and no other took it back, or the session gave up on it): stop the peer as the CLI's peer
   * does, so a tab never trains on alone unseen, and say why.
   */
  const halt = (detail: string, keepState = false) => {
    if (leaving || halted) return;
    halted = true;
    fail(detail);
    const peer = running;
    void (async () => {
      try {
        // Start rejoins from what this tab held, not from its last periodic checkpoint: with the
        // session kept in Redis, a session every member lost resumes from a state beyond its head
        // (not after a gave-up: a diverged state is no state to resume from)
        if (keepState && peer && peer.session.state().round > 0) await peer.session.saveCheckpoint();
        await peer?.stop();
      } finally {
        gradients?.terminate(detail);
      }
    })();
  };

  const gated = (inner: GradientOracle): GradientOracle => ({
    backend: inner.backend,
    d: inner.d,
    async gradient(params, batch) {
      // a paused tab holds its ballot back; the aggregator's deadline tallies without it
      while (resumeGate) await resumeGate.promise;
      const t0 = performance.now();
      const r = await inner.gradient(params, batch);
      post({ type: 'ballot', latencyMs: performance.now() - t0 });
      return r;
    },
    evaluate: (params, data) => inner.evaluate(params, data),
    dispose: () => inner.dispose(),
  });

  // a tab left training with fewer peers than the data was split for says so, as the CLI does
  let fewer: FewerPeersWatch | undefined;
  let lastRound = Infinity;
  const noteFewer = (line: string | null | undefined) => {
    if (line) post({ type: 'log', message: line });
  };

  const onEvent = (e: PeerEvent) => {
    switch (e.type) {
      case 'joined':
        fewer = watchFewerPeers(e.config.expectedPeers);
        lastRound = e.config.rounds - 1;
        post({
          type: 'ready',
          peerId: e.peerId,
          backend: e.backend,
          d: e.d,
          rounds: e.config.rounds,
          expectedPeers: e.config.expectedPeers,
          algorithm: e.config.algorithm.name,
          model: sessionModelName(e.config),
        });
        post({ type: 'log', message: `joined as ${e.peerId} on ${e.backend}` });
        post({ type: 'state', state: 'waiting' });
        return;
      case 'shard':
        post({ type: 'log', message: `training shard ${e.shard + 1} of ${e.shards} (${e.size} samples)` });
        noteFewer(fewer?.shard(e));
        return;
      case 'members':
        members = e.peers.map((m) => ({ id: m.id, backend: m.info.backend, ...(m.info.label ? { label: m.info.label } : {}) }));
        post({ type: 'peers', peers: members });
        return;
      case 'term':
        aggregator = e.aggregator;
        // a term names its live peers; members this tab has not heard of yet are added
        members = [...members.filter((m) => e.peers.includes(m.id)), ...e.peers.filter((id) => !members.some((m) => m.id === id)).map((id) => ({ id }))];
        post({ type: 'peers', peers: members });
        post({ type: 'term', term: e.term, aggregator: e.aggregator, peers: e.peers, split: e.split, voteShard: e.voteShard });
        noteFewer(fewer?.members(e.peers.length));
        return;
      case 'aggregator':
        aggregator = e.aggregator;
        post({ type: 'term', term: e.term, aggregator: e.aggregator });
        if (e.previous !== null) post({ type: 'log', message: `aggregator changed: ${e.previous} → ${e.aggregator} (term ${e.term})` });
        return;
      case 'waiting':
        post({ type: 'state', state: 'waiting', detail: `${e.have} of ${e.need} peers` });
        return;
      case 'round': {
        post({
          type: 'round',
          round: e.round,
          term: e.term,
          role: e.role,
          aggregator,
          split: e.split,
          voteShard: e.voteShard,
          loss: Number.isFinite(e.loss) ? e.loss : null,
          hash: e.hash,
          bytesUp: e.bytesUp,
          bytesDown: e.bytesDown,
          ms: e.ms,
          mine: e.mine,
          voters: e.voters,
          latencies: e.latencies,
          agreement: e.agreement,
        });
        if ((e.round + 1) % options.weightsEvery === 0) postWeights(e.round);
        // past the last round the others leave as they finish: not training with fewer
        if (e.round >= lastRound) fewer?.done();
        return;
      }
      case 'evaluation':
        // skipped (a newer one was due before it started): nothing to show
        if (e.result) post({ type: 'evaluation', round: e.round, loss: e.result.loss, accuracy: e.result.accuracy });
        return;
      case 'resync':
        post({ type: 'log', message: `caught up to round ${e.round + 1} with a snapshot from ${e.from}` });
        return;
      case 'drop':
        // drops are normal around failover (stale terms); a few lines say so without flooding
        if (++drops <= 5) post({ type: 'log', message: `dropped a message from ${e.from}: ${e.reason}${e.detail ? ` (${e.detail})` : ''}` });
        return;
      case 'finished':
        finished = true;
        postWeights(e.round - 1); // e.round counts the applied rounds
        post({ type: 'state', state: 'finished' });
        post({ type: 'log', message: `finished after ${e.round} rounds, parameter hash ${e.hash}` });
        return;
      case 'error':
        // a step that failed once (a refused report, a bad message): the CLI notes it and goes on
        post({ type: 'log', message: `error: ${e.error}` });
        return;
      case 'not-counted':
        post({ type: 'log', message: `not counted for ${e.rounds} rounds: ${e.reason}` });
        return;
      case 'gave-up':
        halt(e.reason);
        return;
      case 'disconnected':
        // reported only once no server of the link took this tab back (the others are tried first);
        // a tab the session removed as unreachable says why (dropped)
        if (!finished) halt(e.dropped ?? `lost the signaling server (${e.reason})`, e.dropped === undefined);
        return;
      case 'signaling':
        post({ type: 'log', message: e.ok ? `signaling server ${e.from} went away; resumed through ${e.to}` : `signaling server ${e.from} went away; ${e.to} did not take this tab (${e.error ?? 'unknown'})` });
        return;
    }
  };

  let pictures: ((params: Float32Array) => Pictures) | null | undefined;
  const postWeights = (round: number) => {
    if (!running) return;
    pictures ??= firstLayerPictures(running.model.layout, running.model.inputShape, pictureUnits);
    if (!pictures) return;
    const p = pictures(running.session.state().x);
    post({ type: 'weights', round, ...p });
  };

  const base = options.server.endsWith('/') ? options.server : `${options.server}/`;
  const fetchSplit = async (config: SessionConfig, split: 'train' | 'test'): Promise<Dataset> => {
    const url = new URL(`datasets/${config.dataset}-${split}.bin`, base);
    let response: Response;
    try {
      response = await fetch(url);
    } catch (err) {
      throw new Error(`cannot reach the signaling server (${(err as Error).message}) to load ${config.dataset} ${split} data`);
    }
    if (!response.ok) throw new Error(`cannot load ${config.dataset} ${split} data: the server answered ${response.status}`);
    return decodeDataset(new Uint8Array(await response.arrayBuffer()));
  };
  const loadData = async (config: SessionConfig): Promise<TrainTest> => {
    if (config.data) {
      if (!options.localData) throw new Error('this session trains on each peer\'s own data: pick it first');
      return options.localData;
    }
    const [train, test] = await Promise.all([fetchSplit(config, 'train'), fetchSplit(config, 'test')]);
    // the test set crosses to the worker now, not at the first evaluation mid-session
    gradients?.preload(test);
    return { train, test };
  };

  const run = async () => {
    post({ type: 'state', state: 'connecting' });
    // the backend is chosen before joining: the other peers are told which one this tab uses
    const worker = await openGradientWorker(options.backend);
    gradients = worker;
    post({ type: 'backend', backend: worker.backend, reason: worker.reason });
    if (leaving) return worker.terminate('left');
    const peer = await startPeer({
      serverUrl: options.server,
      fallbackUrls: options.fallbacks,
      sessionId: options.session,
      token: options.token,
      backend: worker.backend,
      label: 'browser',
      loadData,
      createOracle: async (model) => gated(await worker.createOracle(model.spec)),
      // saved every config.checkpointEvery rounds; a tab that rejoins the session resumes from it
      checkpoints: createIdbCheckpointStore(`session-${options.session}`),
      onEvent,
    });
    running = peer;
    // it left, or lost its server, while it was joining
    if (leaving || halted) await peer.stop();
  };

  run().catch((err: unknown) => {
    gradients?.terminate('failed to start');
    // it already said why it stopped; the join failing because of that adds nothing
    if (halted) return;
    // it finished while this tab was loading: the page shows the finished session instead
    if (err instanceof RecordError && err.code === 'finished' && err.record?.finished && options.onEnded && !leaving) return options.onEnded(err.record);
    fail(describeError(err));
  });

  return {
    pause() {
      if (resumeGate) return;
      let open = () => {};
      const promise = new Promise<void>((r) => (open = r));
      resumeGate = { promise, open };
    },
    resume() {
      const gate = resumeGate;
      resumeGate = null;
      gate?.open();
    },
    exportModel() {
      if (!running) return null;
      const { x, round } = running.session.state();
      return { bytes: exportOnnx(running.model, x, { data: running.config.data }), name: running.model.name.replace(/\.onnx$/i, ''), round };
    },
    predict(input) {
      return running ? predictProbabilities(running.model, running.session.state().x, input) : null;
    },
    modelShape() {
      return running ? { inputShape: running.model.inputShape, numClasses: running.model.numClasses } : null;
    },
    async leave() {
      if (leaving) return;
      leaving = true;
      this.resume();
      try {
        await running?.stop();
      } finally {
        gradients?.terminate('left the session');
      }
    },
  };
}

function describeError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/unknown-session|unknown session/i.test(message)) return 'this session does not exist (it may have expired)';
  if (/bad-token|token/i.test(message)) return 'the join link has a wrong token';
  return message;
}
