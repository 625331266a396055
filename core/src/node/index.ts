/**
 * `@signvote/core/node`: the Node entry. Everything of `@signvote/core`, plus datasets read from
 * disk, the onnxruntime-node oracle, file checkpoints and the Node WebRTC implementation.
 */
export * from '../index';
export { datasetNames, loadDataset, loadFashionMnist, type DatasetName, type LoadOptions } from './datasets';
export { createNodeOracle, loadOrtNode, type NodeOracleOptions } from './ort-node';
export { createFileCheckpointStore } from './checkpoint-file';
export { nodeWrtc } from './wrtc';
export { loadLocalData, readLocalSource } from './local-data';
