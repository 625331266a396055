export type { Backend, Evaluation, GradientOracle, GradientResult } from './oracle';
export { createOrtOracle, createSessionOracle } from './ort-oracle';
export type { OrtModule, OrtOracleOptions } from './ort-oracle';
