export { createModel, modelNames, BATCH } from './model';
export type { Model, ModelName, LayoutEntry, TrainingGraphOptions } from './model';
export type { Layer, InitKind } from './layers';
export { referenceForward } from './reference';
export type { ReferenceResult } from './reference';
