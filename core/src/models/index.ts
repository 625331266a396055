export { createModel, modelNames } from './model';
export type { CreateModelOptions, Model, ModelName, ModelSpec, OnnxModelSpec, LayoutEntry, TrainingGraphOptions } from './model';
export { BATCH } from './program';
export type { Program, ProgramNode } from './program';
export { layerSchema, networkSchema, presetNames, presets } from './network';
export type { LayerSpec, NetworkSpec, NetworkSpecInput, PresetName } from './network';
export { NetworkError } from './layers';
export { referenceForward } from './reference';
export type { ReferenceResult } from './reference';
