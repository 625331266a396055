import { DataType, encodeModel, type AttributeJson, type NodeJson, type TensorJson } from '../graph/onnx-proto';
import { windowOutput } from '../graph/ops-spatial';
import { MODEL_CAPS } from '../import/errors';
import { createRng } from '../random';
import type { LayerSpec, NetworkSpec } from './network';
import { BATCH } from './program';

/**
 * A layer list -> a forward ONNX graph (opset 17, input `x` [N, ...inputShape], output
 * `logits`), with its trainable tensors as initializers in layout order (per layer: weight,
 * then bias). Parameter names count layers of a kind: fc1, fc2, ... for dense, conv1, ... for
 * conv2d, ln1, ... for layernorm. Dense weights are [in, out] (Gemm without transB), conv
 * weights [out, in/groups, k, k].
 */

/** He (normal, for layers followed by a nonlinearity) or Glorot (uniform, the logits layer); norms start at one / zero */
export type InitKind = 'he' | 'glorot' | 'zeros' | 'ones';

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: InitKind;
  readonly fanIn: number;
  readonly fanOut: number;
}

export class NetworkError extends Error {
  override readonly name = 'NetworkError';
}

export interface CompiledNetwork {
  readonly onnx: Uint8Array;
  readonly params: readonly ParamSpec[];
}

const ints = (name: string, values: readonly number[]): AttributeJson => ({ name, type: 7, ints: [...values] });
const int = (name: string, i: number): AttributeJson => ({ name, type: 2, i });
const float = (name: string, f: number): AttributeJson => ({ name, type: 1, f });

/**
 * Throws the NetworkError compileNetwork would, without allocating a weight or encoding the
 * graph: what the signaling server runs on a session's layer list when it is created.
 */
export function checkNetwork(spec: NetworkSpec): void {
  build(spec, false);
}

export function compileNetwork(spec: NetworkSpec): CompiledNetwork {
  return build(spec, true) as CompiledNetwork;
}

function build(spec: NetworkSpec, emit: boolean): CompiledNetwork | null {
  const nodes: NodeJson[] = [];
  const initializers: TensorJson[] = [];
  const params: ParamSpec[] = [];
  const counts = new Map<string, number>();
  const lastTrained = spec.layers.reduce((last, l, i) => (l.type === 'dense' || l.type === 'conv2d' ? i : last), -1);
  let shape = [...spec.inputShape];
  let h = 'x';
  let step = 0;
  const fresh = (hint: string) => `${hint}_${step++}`;
  const node = (opType: string, input: string[], attribute: AttributeJson[] = []): string => {
    const out = fresh(opType.toLowerCase());
    nodes.push({ name: `${out}_node`, opType, input, output: [out], attribute });
    return out;
  };
  const constant = (value: number): string => {
    const name = fresh('const');
    initializers.push({ name, dims: [], dataType: DataType.FLOAT, rawData: new Uint8Array(Float32Array.of(value).buffer) });
    return name;
  };
  let d = 0;
  const param = (p: ParamSpec): string => {
    // refused before its zeros are allocated: a list over the importer's cap would otherwise ask for gigabytes first
    d += p.shape.reduce((a, n) => a * n, 1);
    if (d > MODEL_CAPS.params) throw new NetworkError(`${p.name} takes the network over the ${MODEL_CAPS.params.toLocaleString('en')}-parameter cap`);
    params.push(p);
    // the values are set by init(seed); the file's own are zeros
    initializers.push({ name: p.name, dims: [...p.shape], dataType: DataType.FLOAT, rawData: new Uint8Array(emit ? p.shape.reduce((a, d) => a * d, 1) * 4 : 0) });
    return p.name;
  };
  const named = (kind: string): string => {
    const k = (counts.get(kind) ?? 0) + 1;
    counts.set(kind, k);
    return `${kind}${k}`;
  };

  spec.layers.forEach((layer: LayerSpec, i) => {
    const where = `layer ${i + 1} (${layer.type})`;
    const image = (): [number, number, number] => {
      if (shape.length !== 3) throw new NetworkError(`${where} needs a [channels, height, width] input, got [${shape}]`);
      return shape as [number, number, number];
    };
    const weightInit = layer.type === 'dense' || layer.type === 'conv2d' ? layer.init ?? (i === lastTrained ? 'glorot' : 'he') : 'he';
    switch (layer.type) {
      case 'dense': {
        if (shape.length !== 1) throw new NetworkError(`${where} needs a flat input, got [${shape}]; add a flatten layer before it`);
        const name = named('fc');
        const [inputs] = shape;
        const w = param({ name: `${name}.weight`, shape: [inputs, layer.units], init: weightInit, fanIn: inputs, fanOut: layer.units });
        const b = param({ name: `${name}.bias`, shape: [layer.units], init: 'zeros', fanIn: inputs, fanOut: layer.units });
        h = node('Gemm', [h, w, b]);
        shape = [layer.units];
        break;
      }
      case 'conv2d': {
        const [c, ht, wd] = image();
        if (c % layer.groups !== 0 || layer.filters % layer.groups !== 0) throw new NetworkError(`${where}: ${c} channels and ${layer.filters} filters do not split into ${layer.groups} groups`);
        const name = named('conv');
        const area = layer.kernel * layer.kernel;
        const fanIn = (c / layer.groups) * area, fanOut = (layer.filters / layer.groups) * area;
        const w = param({ name: `${name}.weight`, shape: [layer.filters, c / layer.groups, layer.kernel, layer.kernel], init: weightInit, fanIn, fanOut });
        const b = param({ name: `${name}.bias`, shape: [layer.filters], init: 'zeros', fanIn, fanOut });
        const window = { kernel: [layer.kernel, layer.kernel], strides: [layer.stride, layer.stride], pads: [layer.pad, layer.pad, layer.pad, layer.pad], dilations: [1, 1] } as const;
        const out = fitWindow(where, [ht, wd], window, false);
        h = node('Conv', [h, w, b], [ints('strides', window.strides), ints('dilations', [1, 1]), int('group', layer.groups), ints('pads', window.pads), ints('kernel_shape', window.kernel)]);
        shape = [layer.filters, ...out];
        break;
      }
      case 'maxpool': case 'avgpool': {
        const [c, ht, wd] = image();
        const stride = layer.stride ?? layer.size;
        const window = { kernel: [layer.size, layer.size], strides: [stride, stride], pads: [0, 0, 0, 0], dilations: [1, 1] } as const;
        const out = fitWindow(where, [ht, wd], window, false);
        const attrs = [ints('kernel_shape', window.kernel), ints('strides', window.strides), ints('pads', window.pads)];
        h = node(layer.type === 'maxpool' ? 'MaxPool' : 'AveragePool', [h], layer.type === 'maxpool' ? [...attrs, ints('dilations', [1, 1])] : attrs);
        shape = [c, ...out];
        break;
      }
      case 'globalavgpool': {
        const [c] = image();
        h = node('GlobalAveragePool', [h]);
        shape = [c, 1, 1];
        break;
      }
      case 'flatten':
        h = node('Flatten', [h], [int('axis', 1)]);
        shape = [shape.reduce((a, d) => a * d, 1)];
        break;
      case 'relu': h = node('Relu', [h]); break;
      case 'tanh': h = node('Tanh', [h]); break;
      case 'sigmoid': h = node('Sigmoid', [h]); break;
      case 'leakyrelu': h = node('LeakyRelu', [h], [float('alpha', layer.alpha)]); break;
      case 'gelu': {
        const erf = node('Erf', [node('Div', [h, constant(Math.SQRT2)])]);
        h = node('Mul', [node('Mul', [h, node('Add', [erf, constant(1)])]), constant(0.5)]);
        break;
      }
      case 'layernorm': {
        const name = named('ln');
        const width = shape[shape.length - 1];
        const scale = param({ name: `${name}.weight`, shape: [width], init: 'ones', fanIn: width, fanOut: width });
        const bias = param({ name: `${name}.bias`, shape: [width], init: 'zeros', fanIn: width, fanOut: width });
        h = node('LayerNormalization', [h, scale, bias], [int('axis', -1), float('epsilon', layer.eps)]);
        break;
      }
    }
  });
  if (shape.length !== 1 || shape[0] !== spec.numClasses) {
    throw new NetworkError(`the last layer gives [${shape}] per sample, but the network has ${spec.numClasses} classes: end with a dense layer of ${spec.numClasses} units`);
  }
  if (params.length === 0) throw new NetworkError('the network has no dense, conv2d or layernorm layer to train');
  nodes.push({ name: 'logits_node', opType: 'Identity', input: [h], output: ['logits'], attribute: [] });
  if (!emit) return null;
  const onnx = encodeModel({
    name: spec.name ?? 'network',
    opset: 17,
    nodes,
    initializers,
    inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [BATCH, ...spec.inputShape] }],
    outputs: [{ name: 'logits', elemType: DataType.FLOAT, shape: [BATCH, spec.numClasses] }],
  });
  return { onnx, params };
}

function fitWindow(where: string, size: [number, number], window: Parameters<typeof windowOutput>[2], ceil: boolean): [number, number] {
  try {
    return [windowOutput(size[0], 0, window, ceil), windowOutput(size[1], 1, window, ceil)];
  } catch (err) {
    throw new NetworkError(`${where}: ${(err as Error).message}`);
  }
}

/**
 * Seeded initial parameters in layout order: He normal (std sqrt(2 / fan_in)), Glorot uniform
 * (limit sqrt(6 / (fan_in + fan_out))), zeros, ones. One random stream per tensor, forked by
 * its name, so adding a layer does not reshuffle the others' weights.
 */
export function initParams(specs: readonly ParamSpec[], seed: number): Float32Array {
  const sizes = specs.map((s) => s.shape.reduce((a, b) => a * b, 1));
  const out = new Float32Array(sizes.reduce((a, b) => a + b, 0));
  const root = createRng(seed);
  let offset = 0;
  specs.forEach((s, i) => {
    const size = sizes[i];
    const rng = root.fork(s.name);
    const view = out.subarray(offset, offset + size);
    offset += size;
    if (s.init === 'he') {
      const std = Math.sqrt(2 / s.fanIn);
      for (let j = 0; j < size; j++) view[j] = rng.normal() * std;
    } else if (s.init === 'glorot') {
      const limit = Math.sqrt(6 / (s.fanIn + s.fanOut));
      for (let j = 0; j < size; j++) view[j] = (2 * rng.float() - 1) * limit;
    } else if (s.init === 'ones') view.fill(1);
  });
  return out;
}
