import type { GraphBuilder, Value } from '../graph/builder';

/**
 * Models are sequential stacks of these layers. One description feeds both the ONNX graph
 * (toGraph) and the float64 reference (reference.ts), so the gradient check compares two
 * independent implementations of the same network.
 */
export type Layer =
  | { readonly kind: 'dense'; readonly name: string; readonly inputs: number; readonly outputs: number; readonly init: InitKind }
  | {
      readonly kind: 'conv';
      readonly name: string;
      readonly inChannels: number;
      readonly outChannels: number;
      readonly kernel: number;
      readonly pad: number;
      readonly init: InitKind;
    }
  | { readonly kind: 'relu' }
  | { readonly kind: 'maxPool'; readonly size: number }
  | { readonly kind: 'flatten' };

/** He (normal, for layers followed by ReLU) or Glorot (uniform, for the logits layer) */
export type InitKind = 'he' | 'glorot';

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: InitKind | 'zeros';
  readonly fanIn: number;
  readonly fanOut: number;
}

/** Parameters in layout order: per layer, weight then bias. */
export function paramSpecs(layers: readonly Layer[]): ParamSpec[] {
  return layers.flatMap((layer): ParamSpec[] => {
    if (layer.kind === 'dense') {
      return [
        { name: `${layer.name}.weight`, shape: [layer.inputs, layer.outputs], init: layer.init, fanIn: layer.inputs, fanOut: layer.outputs },
        { name: `${layer.name}.bias`, shape: [layer.outputs], init: 'zeros', fanIn: layer.inputs, fanOut: layer.outputs },
      ];
    }
    if (layer.kind === 'conv') {
      const area = layer.kernel * layer.kernel;
      const fanIn = layer.inChannels * area, fanOut = layer.outChannels * area;
      return [
        { name: `${layer.name}.weight`, shape: [layer.outChannels, layer.inChannels, layer.kernel, layer.kernel], init: layer.init, fanIn, fanOut },
        { name: `${layer.name}.bias`, shape: [layer.outChannels], init: 'zeros', fanIn, fanOut },
      ];
    }
    return [];
  });
}

/** Emits the forward pass; `params` maps parameter names to graph values. */
export function toGraph(b: GraphBuilder, layers: readonly Layer[], x: Value, params: ReadonlyMap<string, Value>): Value {
  const p = (name: string): Value => {
    const v = params.get(name);
    if (!v) throw new Error(`missing parameter ${name}`);
    return v;
  };
  let h = x;
  for (const layer of layers) {
    switch (layer.kind) {
      case 'dense': h = b.gemm(h, p(`${layer.name}.weight`), p(`${layer.name}.bias`)); break;
      case 'conv': h = b.conv(h, p(`${layer.name}.weight`), p(`${layer.name}.bias`), layer.pad); break;
      case 'relu': h = b.relu(h); break;
      case 'maxPool': h = b.maxPool(h, layer.size); break;
      case 'flatten': h = b.flatten(h); break;
    }
  }
  return h;
}
