export { importOnnx } from './importer';
export type { ImportOptions } from './importer';
export { CONSTANT_ONLY_OPS, MODEL_CAPS, ModelImportError, SUPPORTED_OPS } from './errors';
export type { ImportErrorCode, ModelCaps } from './errors';
