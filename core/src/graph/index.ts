export { GraphBuilder, broadcastShape, CONCAT_FAN_IN } from './builder';
export type { BrokenBackward, GraphBuilderOptions, Value } from './builder';
export { encodeModel, decodeModel, DataType } from './onnx-proto';
export type { Dim, ModelJson } from './onnx-proto';
