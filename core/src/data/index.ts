/** Datasets, partitions over peers, and mini-batches (docs/data.md). */
export {
  type Dataset,
  type Batch,
  featureSize,
  pixelsToInputs,
  inputsToPixels,
  checkDataset,
  subsetDataset,
  headDataset,
  labelHistogram,
} from './dataset';
export { encodeDataset, decodeDataset, encodedDatasetBytes, crc32, DATASET_CODEC_VERSION } from './codec';
export { type IdxArray, parseIdx, encodeIdx, idxToDataset, isGzip, gunzipWeb, parseIdxMaybeGzip } from './idx';
export { partitionIid, partitionDirichlet, partitionFor, labelSkew, shuffleInPlace } from './partition';
export { type BatchSampler, type SamplerOptions, createBatchSampler } from './sampler';
export { type SyntheticOptions, createSyntheticDatasets } from './synthetic';
