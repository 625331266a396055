import { createBatchSampler, type BatchSampler } from '../data/sampler';
import { partitionFor } from '../data/partition';
import type { Dataset } from '../data/dataset';
import type { Backend, GradientOracle } from '../engine/oracle';
import { datasetMismatch } from '../config-fit';
import { createModel, type Model } from '../models';
import { fetchModelFile } from './model-file';
import { fetchSessionConfig } from './session-info';
import { createStrategy } from '../optim';
import { adversarialStrategy, flipLabels, type AdversaryKind } from '../optim/adversary';
import { createRng } from '../random';
import { sessionModelSpec, type SessionConfig } from '../config';
import type { SessionEvent } from '../session/events';
import type { Checkpoint, CheckpointStore } from '../session/checkpoint';
import { hashParams } from '../session/hash';
import { createSessionPeer, type SessionPeer } from '../session/peer';
import type { SessionRecord } from '../record/record';
import { createSignalingClient } from '../transport/signaling-client';
import { createSignalingRecord } from '../transport/signaling-record';
import type { Member } from '../transport/signaling-protocol';
import { createWebRtcTransport, type TransportStats, type WrtcImplementation } from '../transport/webrtc';
import type { PeerId, Transport } from '../transport/transport';
import { nextMacrotask } from '../macrotask';

/**
 * One real peer: joins a session through the signaling server, opens WebRTC channels to the
 * other members, and trains its shard through the shared round state machine. Isomorphic: the
 * Node CLI and the browser's Web Worker differ only in what they pass in (wrtc, data, oracle).
 */

export interface TrainTest {
  readonly train: Dataset;
  readonly test: Dataset;
}

export interface StartPeerOptions {
  readonly serverUrl: string;
  /**
   * other server processes of the same sessions (on one Redis): when `serverUrl` goes away the
   * peer resumes its seat through these, in order (docs/signaling.md, "Several servers on one Redis")
   */
  readonly fallbackUrls?: readonly string[];
  readonly sessionId: string;
  readonly token: string;
  /** reported to the other peers */
  readonly backend: Backend;
  readonly label?: string;
  /** Node: nodeWrtc() (node-datachannel, core/src/node/wrtc.ts); browsers: omit */
  readonly wrtc?: WrtcImplementation;
  /**
   * The data this peer trains and tests on. A session with `data` (each peer's own): the peer's
   * files prepared as config.data says (data/local), train = its whole shard; otherwise the
   * session's server-hosted `dataset` (Node: from disk; browsers: from the signaling server),
   * split over peers by the partition. Called before the peer joins: a rejection (a DataError
   * naming the file and row) keeps it out of the session.
   */
  loadData(config: SessionConfig, model: Model): Promise<TrainTest>;
  /**
   * the session's uploaded model file, verified against config.modelFile (default:
   * fetchModelFile from the signaling server; runtime/model-file.ts)
   */
  fetchModel?(serverUrl: string, file: NonNullable<SessionConfig['modelFile']>): Promise<Uint8Array>;
  /** a gradient oracle for the session's model on the chosen backend */
  createOracle(model: Model, backend: Backend): Promise<GradientOracle>;
  readonly checkpoints?: CheckpointStore;
  /**
   * Start from this checkpoint although it was saved in another session (the server restarted, or
   * the run continues under a new session). `checkpoints`, when it holds a checkpoint of this very
   * session, wins: it is newer. Only the parameter count is checked against the model.
   */
  readonly resumeFrom?: CheckpointStore;
  /**
   * FOR TESTS AND RESEARCH ONLY: this peer is an adversary of this kind (optim/adversary.ts):
   * it follows the protocol but votes against the group, trains on flipped labels, or never
   * votes. Never set by a session config; absent: an honest peer.
   */
  readonly adversary?: AdversaryKind;
  onEvent?(event: PeerEvent): void;
}

/** A session round event, plus the ms this peer spent in its gradient oracle for that round. */
export type PeerRoundEvent = Extract<SessionEvent, { type: 'round' }> & { readonly computeMs: number };

export type PeerEvent =
  | Exclude<SessionEvent, { type: 'round' }>
  | PeerRoundEvent
  | { readonly type: 'resume'; readonly round: number; readonly hash: string; readonly fromSession: string }
  /** `shard`: this peer's shard as of the join (final once the session starts, see 'shard') */
  | { readonly type: 'joined'; readonly peerId: string; readonly config: SessionConfig; readonly backend: Backend; readonly shard: number; readonly d: number }
  /** the data split is fixed (the session started): this peer trains `shard` of `shards` */
  | { readonly type: 'shard'; readonly shard: number; readonly shards: number; readonly size: number }
  | { readonly type: 'members'; readonly epoch: number; readonly peers: readonly Member[] }
  /** `dropped`: the signaling server removed this peer, and why (others could not reach it over WebRTC) */
  | { readonly type: 'disconnected'; readonly reason: string; readonly dropped?: string }
  /** its signaling server went away: a try at resuming its seat through `to` (`ok`: it did) */
  | { readonly type: 'signaling'; readonly from: string; readonly to: string; readonly ok: boolean; readonly error?: string };

export interface RunningPeer {
  readonly peerId: string;
  readonly config: SessionConfig;
  readonly model: Model;
  readonly session: SessionPeer;
  /** the session record as the signaling server keeps it */
  readonly record: SessionRecord;
  /**
   * what crossed this peer's data channels so far, framing included (frame headers, HELLOs):
   * the bytes on the wire, where round events count the protocol's encoded messages
   */
  transportStats(): TransportStats;
  /**
   * resolves once the snapshots this peer is uploading to the session record are stored or
   * refused (the finishing aggregator stores the final parameters after its last round)
   */
  settled(): Promise<void>;
  /**
   * resolves when the session's last round is applied here and the session record agrees;
   * rejects with a SessionEndedError when the peer gives up (diverged from the record, or not
   * counted for too long)
   */
  readonly finished: Promise<{ round: number; hash: string }>;
  stop(): Promise<void>;
  /**
   * For a process about to exit: stops the session and leaves the signaling server (so the others
   * see a new epoch at once) but skips the native teardown of channels and engine, which the exit
   * reclaims anyway and which has crashed @roamhq/wrtc mid-flight.
   */
  leave(): Promise<void>;
}

export async function startPeer(options: StartPeerOptions): Promise<RunningPeer> {
  const emit = (e: PeerEvent): void => options.onEvent?.(e);
  // gradient time per round, so round events can say how much of a round was compute
  const computeMs = new Map<number, number>();
  const emitSession = (e: SessionEvent): void => {
    if (e.type !== 'round') return emit(e);
    const ms = computeMs.get(e.round) ?? 0;
    computeMs.delete(e.round);
    for (const r of computeMs.keys()) if (r < e.round) computeMs.delete(r);
    emit({ ...e, computeMs: ms });
  };
  // Before joining: the session's model (its file fetched and hash-checked), this peer's data
  // and a checkpoint to resume, so a peer whose model, data or checkpoint does not fit gets
  // its error without ever being a member (the others see no epoch come and go).
  const config = await fetchSessionConfig(options.serverUrl, options.sessionId, options.token);
  const modelBytes = config.modelFile ? await (options.fetchModel ?? fetchModelFile)(options.serverUrl, config.modelFile) : undefined;
  const model = createModel(sessionModelSpec(config, modelBytes));
  const { store: checkpoints, start } = await resumableCheckpoints(options, model.d, emit);
  const data = await options.loadData(config, model);
  checkDataFitsModel(data.train, model);
  checkDataFitsModel(data.test, model);

  const signaling = createSignalingClient([options.serverUrl, ...(options.fallbackUrls ?? [])], {
    onFailover: (e) => emit({ type: 'signaling', ...e }),
  });
  let transport: ReturnType<typeof createWebRtcTransport> | undefined;
  let oracle: GradientOracle | undefined;
  try {
    // a resumed peer asks for the shard its checkpoint's data position names
    const saved = config.data ? null : shardOf(start?.memory?.data);
    const joined = await signaling.join({
      sessionId: options.sessionId,
      token: options.token,
      info: { backend: options.backend, ...(options.label ? { label: options.label } : {}) },
      ...(saved !== null ? { shard: saved } : {}),
    });
    const { peerId } = joined;
    if (JSON.stringify(joined.config) !== JSON.stringify(config)) throw new Error('the session config changed between reading it and joining');
    // Channels connect while the engine loads; the offers of peers already in the session
    // would otherwise reach a peer with no transport to answer them.
    transport = createWebRtcTransport({ signaling, wrtc: options.wrtc, iceServers: config.iceServers });
    const held = holdMessagesUntilSubscribed(transport);
    // Uploads of the stored snapshot are tracked: at d = 10M one is 80 MB and outlasts the last
    // round by seconds, and a process that exits at `finished` would cut it off (`settled`).
    const uploads = new Set<Promise<unknown>>();
    const signalingRecord = createSignalingRecord(signaling, options.token);
    const record: SessionRecord = {
      ...signalingRecord,
      storeSnapshot(snapshot) {
        const storing = signalingRecord.storeSnapshot(snapshot);
        const done: Promise<unknown> = storing.catch(() => undefined).finally(() => uploads.delete(done));
        uploads.add(done);
        return storing;
      },
    };
    oracle = await options.createOracle(model, options.backend);

    // Server-hosted data: shards follow membership (docs/session.md, "Shards"): the signaling
    // server gives each member a shard, and the session's start fixes how many there are (the
    // peers present then). So the sampler is built at the first gradient, when the split is
    // final; a resumed peer got back the shard its checkpoint names, and its data position is
    // restored then. A peer's own data is its shard, whole.
    const self = joined.membership.peers.find((m) => m.id === peerId);
    let sampler: BatchSampler | null = null;
    let shard = config.data ? 0 : (self?.shard ?? 0);
    let savedPosition: Uint8Array | null = null;
    const samplerNow = (): BatchSampler => {
      if (sampler !== null) return sampler;
      let indices: Uint32Array;
      let count = 1;
      if (config.data) {
        indices = Uint32Array.from({ length: data.train.count }, (_, i) => i);
      } else {
        const fixed = record.assignment();
        const mine = signaling.membership?.peers.find((m) => m.id === peerId);
        count = fixed?.shards ?? record.current().shards ?? config.expectedPeers;
        shard = (fixed?.shard ?? mine?.shard ?? shard) % count;
        indices = partitionFor(config.partition, data.train, count, createRng(config.seed).fork('partition'))[shard];
      }
      sampler = createBatchSampler(data.train, indices, config.batchSize, createRng(config.seed).fork(`sampler-${shard}`), { reuseBuffers: true });
      emit({ type: 'shard', shard, shards: count, size: indices.length });
      if (savedPosition !== null) {
        const bytes = savedPosition;
        savedPosition = null;
        if (shardOf(bytes) !== shard) {
          emit({ type: 'error', error: `restoring the data position: the checkpoint's is of shard ${shardOf(bytes)}, this peer trains shard ${shard}` });
        } else {
          sampler.restore(bytes.subarray(4));
        }
      }
      return sampler;
    };
    // the session saves and restores it as opaque bytes: the shard, then the sampler's state
    const dataPosition = {
      state: (): Uint8Array => {
        const inner = samplerNow().state();
        const out = new Uint8Array(4 + inner.length);
        new DataView(out.buffer).setUint32(0, shard, true);
        out.set(inner, 4);
        return out;
      },
      restore: (bytes: Uint8Array): void => {
        if (sampler !== null) {
          if (shardOf(bytes) !== shard) throw new RangeError(`the checkpoint's data position is of shard ${shardOf(bytes)}, this peer trains shard ${shard}`);
          sampler.restore(bytes.subarray(4));
        } else {
          savedPosition = bytes;
        }
      },
    };
    emit({ type: 'joined', peerId, config, backend: options.backend, shard, d: model.d });

    signaling.subscribe({
      membership: (m) => emit({ type: 'members', epoch: m.epoch, peers: m.peers }),
      disconnect: (reason, dropped) => emit(dropped === undefined ? { type: 'disconnected', reason } : { type: 'disconnected', reason, dropped }),
    });
    // an epoch heard while the model and data loaded is newer than the join's
    const members = signaling.membership ?? joined.membership;
    emit({ type: 'members', epoch: members.epoch, peers: members.peers });

    const activeOracle = oracle;
    const adversary = options.adversary;
    const honest = createStrategy(config.algorithm);
    const nextBatch = adversary === 'label-flip'
      ? () => flipLabels(samplerNow().next(), data.train.numClasses)
      : () => samplerNow().next();
    const session = createSessionPeer({
      transport: held,
      config,
      session: options.sessionId,
      strategy: adversary === undefined ? honest : adversarialStrategy(honest, adversary, { seed: config.seed, peer: self?.seq ?? peerId }),
      params: model.init(config.seed),
      gradient: async (at, round) => {
        // A peer that votes alone (the others left) would otherwise run round after round in
        // one promise chain, if the engine resolves without I/O: signals (Ctrl-C), socket
        // events and timers would wait until the session ends.
        await nextMacrotask();
        const t0 = performance.now();
        const { grad, loss } = await activeOracle.gradient(at, nextBatch());
        computeMs.set(round, (computeMs.get(round) ?? 0) + performance.now() - t0);
        return { grad, loss };
      },
      evaluate: async (x) => activeOracle.evaluate(x, data.test),
      checkpoints,
      rng: createRng(config.seed).fork(`signs-${self?.seq ?? peerId}`),
      data: dataPosition,
      record,
      onEvent: emitSession,
    });
    const openTransport = transport;
    let stopped = false;
    return {
      peerId,
      config,
      model,
      session,
      record,
      transportStats: () => openTransport.stats(),
      async settled() {
        while (uploads.size > 0) await Promise.all([...uploads]);
      },
      finished: session.finished,
      async stop() {
        if (stopped) return;
        stopped = true;
        await session.stop();
        await openTransport.close();
        await activeOracle.dispose();
      },
      async leave() {
        if (stopped) return;
        stopped = true;
        await session.stop();
        signaling.close();
      },
    };
  } catch (err) {
    await transport?.close().catch(() => undefined);
    signaling.close();
    await oracle?.dispose().catch(() => undefined);
    throw err;
  }
}

/**
 * The checkpoint store the session sees. The starting checkpoint is read here, before the session
 * exists, so a checkpoint that cannot be used (another session, another model) stops the peer
 * with a clear error instead of silently training from round 0.
 */
/** the shard a saved data position (see `dataPosition` above) was on, or null if none */
function shardOf(bytes: Uint8Array | undefined): number | null {
  if (bytes === undefined || bytes.byteLength < 4) return null;
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
}

async function resumableCheckpoints(
  options: StartPeerOptions,
  d: number,
  emit: (e: PeerEvent) => void,
): Promise<{ store: CheckpointStore | undefined; start: Checkpoint | null }> {
  const own = options.checkpoints;
  if (own === undefined && options.resumeFrom === undefined) return { store: undefined, start: null };
  let start: Checkpoint | null = own ? await own.load() : null;
  if (start !== null && start.session !== options.sessionId) {
    if (options.resumeFrom === undefined) {
      throw new Error(
        `the checkpoint is of session ${start.session}, not ${options.sessionId}; ` +
          'to continue it in this session, pass it as the resume source (CLI: --resume FILE)',
      );
    }
    start = null;
  }
  let fromSession = start?.session ?? '';
  if (start === null && options.resumeFrom !== undefined) {
    const other = await options.resumeFrom.load();
    if (other === null) throw new Error('the resume checkpoint does not exist');
    fromSession = other.session;
    start = { ...other, session: options.sessionId };
  }
  if (start !== null && start.x.length !== d) {
    throw new Error(`the checkpoint holds ${start.x.length} parameters, the session's model has d = ${d}`);
  }
  if (start !== null) emit({ type: 'resume', round: start.round, hash: hashParams(start.x), fromSession });
  const initial = start;
  let loaded = false;
  const store: CheckpointStore = {
    // the session loads once at start; later loads (none today) see the store itself
    load: async () => {
      if (loaded) return own ? own.load() : initial;
      loaded = true;
      return initial;
    },
    save: (cp) => (own ? own.save(cp) : Promise.resolve()),
  };
  return { store, start: initial };
}

function checkDataFitsModel(train: Dataset, model: Model): void {
  const mismatch = datasetMismatch(train, model);
  if (mismatch) throw new Error(mismatch);
}

/**
 * Messages that arrive before the session state machine subscribes (while the engine loads) are
 * kept and handed to the first subscriber, so an early "round open" is not lost.
 */
function holdMessagesUntilSubscribed(transport: Transport): Transport {
  const early: [PeerId, Uint8Array][] = [];
  let delivered = false;
  const stopHolding = transport.subscribe({ message: (from, bytes) => void (delivered || early.push([from, bytes])) });
  return {
    self: transport.self,
    send: (to, bytes) => transport.send(to, bytes),
    reportUnreachable: transport.reportUnreachable?.bind(transport),
    close: () => transport.close(),
    subscribe(listener) {
      const unsubscribe = transport.subscribe(listener);
      if (!delivered) {
        delivered = true;
        stopHolding();
        const backlog = early.splice(0);
        queueMicrotask(() => backlog.forEach(([from, bytes]) => listener.message?.(from, bytes)));
      }
      return unsubscribe;
    },
  };
}
