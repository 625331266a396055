export { createSessionPeer } from './peer';
export type { Clock, SessionGradient, SessionPeer, SessionPeerOptions, SessionStats } from './peer';
export type { DropReason, Role, SessionEvent, TalliedRange, VoteSplit } from './events';
export { hashParams, hashPair, paramHashPattern } from './hash';
export type { ParamHash } from './hash';
export { encodeCheckpoint, decodeCheckpoint, checkCheckpoint } from './checkpoint';
export type { Checkpoint, CheckpointStore } from './checkpoint';
export { createIdbCheckpointStore } from './checkpoint-idb';
export { snapshotPieces, SnapshotAssembler } from './snapshot';
