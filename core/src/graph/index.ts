export { GraphBuilder, broadcastShape, CONCAT_FAN_IN } from './builder';
export type { BrokenBackward, GraphBuilderOptions, Value } from './builder';
export type { GemmOptions } from './ops-linear';
export * as ops from './ops';
export { encodeModel, decodeModel, DataType } from './onnx-proto';
export type { Dim, ModelJson } from './onnx-proto';
