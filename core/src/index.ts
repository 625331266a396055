/**
 * `@signvote/core`: the browser-safe entry (no Node built-ins). What the signaling server, the
 * browser client, the CLI and the end-to-end tests use of core; everything else is internal.
 * Node-only pieces (datasets from disk, onnxruntime-node, file checkpoints, wrtc) are in
 * `@signvote/core/node`, which re-exports this entry too.
 */
export * from './config';
export { datasetMismatch, HOSTED_DATASET_SHAPE, sessionConfigMismatch } from './config-fit';
export { type Dataset, type Batch } from './data/dataset';
export { encodeDataset, decodeDataset } from './data/codec';
export { createSyntheticDatasets, type SyntheticOptions } from './data/synthetic';
export type { Backend, Evaluation, GradientOracle, GradientResult } from './engine/oracle';
export { createOrtOracle, createSessionOracle, type OrtModule, type OrtOracleOptions } from './engine/ort-oracle';
export { decodeModel, encodeModel } from './graph/onnx-proto';
export { createModel, modelNames, type Model, type ModelName, type ModelSpec, type OnnxModelSpec } from './models/model';
export { networkSchema, presetNames, type NetworkSpec, type PresetName } from './models/network';
export { NetworkError } from './models/layers';
export { exportOnnx, exportModelOnnx, type ExportOptions } from './models/export';
export { predictProbabilities } from './models/predict';
export { gradCheck, randomBatch, type GradCheckResult } from './models/gradcheck';
export { ModelImportError, MODEL_CAPS, SUPPORTED_OPS, type ImportErrorCode, type ModelCaps } from './import/errors';
export { PROTOCOL_VERSION, encodeMessage, decodeMessage, ProtocolError, type Message } from './protocol/messages';
export { createRng, type Rng } from './random';
export * from './record';
export { adversaryKinds, isAdversaryKind, type AdversaryKind } from './optim/adversary';
export { lowAgreement, rocAuc } from './optim/agreement';
export { startPeer, type PeerEvent, type RunningPeer, type StartPeerOptions, type TrainTest } from './runtime/peer';
export { createProgressMeter, formatDuration, formatRate, type ProgressMeter } from './runtime/progress';
export { watchFewerPeers, type FewerPeersWatch } from './runtime/fewer-peers';
export { sha256Hex, verifyModelFile, fetchModelFile, modelFilePath, ModelFileMismatchError } from './runtime/model-file';
export { fetchSessionConfig } from './runtime/session-info';
export {
  DataError,
  prepareLocalData,
  classCounts,
  decodeImage,
  imageToSample,
  localDataSchema,
  dataSpecMismatch,
  type ModelShape,
  csvDataSchema,
  imageDataSchema,
  type LocalData,
  type LocalDataSpec,
  type LocalDataSpecInput,
  type LocalSource,
  type ImageFile,
} from './data/local';
export { encodeCheckpoint, decodeCheckpoint, type Checkpoint, type CheckpointStore } from './session/checkpoint';
export { createIdbCheckpointStore } from './session/checkpoint-idb';
export { hashPair, hashParams, type ParamHash } from './session/hash';
export { SessionEndedError, type Role, type SessionEvent, type TalliedRange, type VoteSplit } from './session/events';
export * from './transport/signaling-protocol';
export { createSignalingClient, SignalingError, type JoinedSession, type SignalingClient, type SignalingClientOptions } from './transport/signaling-client';
export { createSignalingRecord } from './transport/signaling-record';
export { encodeFrames, encodeHello, DEFAULT_CHUNK_BYTES, FRAME_HEADER_BYTES, FRAME_HELLO } from './transport/framing';
export type { Membership, PeerId, Transport, TransportListener } from './transport/transport';
export {
  createWebRtcTransport,
  TransportError,
  type TransportStats,
  type WebRtcTransport,
  type WebRtcTransportOptions,
  type WrtcImplementation,
} from './transport/webrtc';
export { createMemoryHub, type MemoryHub, type MemoryHubOptions } from './transport/memory';
