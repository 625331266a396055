import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { createOrtOracle } from '../engine/ort-oracle';
import { DataType, encodeModel, type AttributeJson, type NodeJson, type TensorJson } from '../graph/onnx-proto';
import { gradCheck, randomBatch } from '../models/gradcheck';
import { createModel } from '../models/model';
import { referenceForward } from '../models/reference';
import { createRng } from '../random';
import { ModelImportError } from './errors';

/**
 * Op coverage beyond what the torch fixtures happen to contain, on small hand-written graphs:
 * each must compute what onnxruntime computes from the same file, and pass the gradient
 * check; graphs outside what the importer supports must be refused by name.
 */

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
});

const attr = {
  int: (name: string, i: number): AttributeJson => ({ name, type: 2, i }),
  ints: (name: string, ints: number[]): AttributeJson => ({ name, type: 7, ints }),
  float: (name: string, f: number): AttributeJson => ({ name, type: 1, f }),
  str: (name: string, s: string): AttributeJson => ({ name, type: 3, s: new TextEncoder().encode(s) }),
};

interface GraphSpec {
  input: { dims: (number | string)[]; type?: 1 | 6 | 7 };
  nodes: [op: string, inputs: string[], outputs: string[], attrs?: AttributeJson[]][];
  /** initializers: float unless `int` */
  inits?: Record<string, { dims: number[]; data?: number[]; int?: boolean }>;
  output: (number | string)[];
  opset?: number;
}

function onnx(spec: GraphSpec, seed = 1): Uint8Array {
  const rng = createRng(seed);
  const initializers: TensorJson[] = Object.entries(spec.inits ?? {}).map(([name, t]) => {
    const size = t.dims.reduce((a, d) => a * d, 1);
    const values = t.data ?? Array.from({ length: size }, () => rng.normal() * 0.5);
    const rawData = t.int ? new Uint8Array(BigInt64Array.from(values, (v) => BigInt(v)).buffer) : new Uint8Array(Float32Array.from(values).buffer);
    return { name, dims: t.dims, dataType: t.int ? DataType.INT64 : DataType.FLOAT, rawData };
  });
  const nodes: NodeJson[] = spec.nodes.map(([opType, input, output, attribute = []], i) => ({ name: `n${i}_${opType}`, opType, input, output, attribute }));
  return encodeModel({
    name: 'test',
    opset: spec.opset ?? 17,
    nodes,
    initializers,
    inputs: [{ name: 'x', elemType: spec.input.type ?? DataType.FLOAT, shape: spec.input.dims }],
    outputs: [{ name: 'y', elemType: DataType.FLOAT, shape: spec.output }],
  });
}

/** the import agrees with onnxruntime on the file, the training graph with the reference, and the gradient with finite differences */
async function check(bytes: Uint8Array): Promise<number> {
  const model = createModel({ onnx: bytes });
  const batch = randomBatch(model, 4, createRng(31));
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  const out = await session.run({ x: new ort.Tensor('float32', batch.inputs, [4, ...model.inputShape]) });
  await session.release();
  const expected = out.y.data as Float32Array;
  const params = model.init(0);
  const ref = referenceForward(model, params, batch.inputs, batch.labels, 4);
  ref.logits.forEach((v, i) => expect(Math.abs(v - expected[i])).toBeLessThan(1e-4 * Math.max(1, Math.abs(v))));
  const oracle = await createOrtOracle(model, { backend: 'wasm', numThreads: 1 });
  try {
    const result = await oracle.gradient(params, batch);
    expect(Math.abs(result.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    const c = gradCheck(model, params, batch, result.grad, createRng(32), { coords: 40 });
    expect(c.maxRelError).toBeLessThan(1e-3);
    expect(c.numeric.filter((v) => Math.abs(v) > 1e-4).length).toBeGreaterThan(20);
    return model.d;
  } finally {
    await oracle.dispose();
  }
}

describe('op coverage (hand-written graphs)', () => {
  it('conv geometry: strides, asymmetric pads, dilations, groups; overlapping ceil-mode MaxPool; padded AveragePool; Gemm transB with alpha, beta and C [1, K]', async () => {
    const d = await check(onnx({
      input: { dims: ['N', 2, 9, 9] },
      inits: { w1: { dims: [4, 2, 3, 3] }, b1: { dims: [4] }, w2: { dims: [6, 2, 2, 2] }, wf: { dims: [5, 24] }, bf: { dims: [1, 5] } },
      nodes: [
        ['Conv', ['x', 'w1', 'b1'], ['c1'], [attr.ints('strides', [2, 2]), attr.ints('pads', [1, 0, 2, 1]), attr.ints('dilations', [2, 1]), attr.ints('kernel_shape', [3, 3])]],
        ['Relu', ['c1'], ['r1']],
        ['Conv', ['r1', 'w2'], ['c2'], [attr.int('group', 2)]],
        ['MaxPool', ['c2'], ['p1'], [attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1]), attr.int('ceil_mode', 1)]],
        ['AveragePool', ['p1'], ['p2'], [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [1, 1]), attr.ints('pads', [1, 1, 0, 0])]],
        ['Flatten', ['p2'], ['f']],
        ['Gemm', ['f', 'wf', 'bf'], ['y'], [attr.int('transB', 1), attr.float('alpha', 0.5), attr.float('beta', 2)]],
      ],
      output: ['N', 5],
    }));
    expect(d).toBe(4 * 18 + 4 + 6 * 8 + 5 * 24 + 5);
  });

  it('SAME_UPPER auto_pad, AveragePool counting padding, GlobalAveragePool, Squeeze', async () => {
    await check(onnx({
      input: { dims: ['N', 1, 7, 7] },
      inits: { w: { dims: [3, 1, 3, 3] }, wf: { dims: [3, 4] }, bf: { dims: [4] }, axes: { dims: [2], data: [2, 3], int: true } },
      nodes: [
        ['Conv', ['x', 'w'], ['c'], [attr.str('auto_pad', 'SAME_UPPER'), attr.ints('strides', [2, 2])]],
        ['Tanh', ['c'], ['t']],
        ['AveragePool', ['t'], ['a'], [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1]), attr.int('count_include_pad', 1)]],
        ['GlobalAveragePool', ['a'], ['g']],
        ['Squeeze', ['g', 'axes'], ['s']],
        ['Gemm', ['s', 'wf', 'bf'], ['y']],
      ],
      output: ['N', 4],
    }));
  });

  it('elementwise and shape ops: Unsqueeze, batched MatMul, mid-graph Softmax, Transpose, ReduceSum, Concat, Dropout, Identity, Pow, Sqrt, Neg, Sub, Div, LeakyRelu, Sigmoid, Gemm transA', async () => {
    await check(onnx({
      input: { dims: ['N', 6] },
      inits: {
        w: { dims: [1, 4] }, wo: { dims: [8, 3] }, two: { dims: [], data: [2] }, one: { dims: [], data: [1] },
        ax2: { dims: [1], data: [2], int: true }, ax1: { dims: [1], data: [1], int: true },
      },
      nodes: [
        ['Unsqueeze', ['x', 'ax2'], ['h']],
        ['MatMul', ['h', 'w'], ['m']],
        ['Softmax', ['m'], ['s'], [attr.int('axis', 2)]],
        ['Transpose', ['s'], ['t'], [attr.ints('perm', [0, 2, 1])]],
        ['Unsqueeze', ['x', 'ax1'], ['xr']],
        ['Mul', ['t', 'xr'], ['u']],
        ['ReduceSum', ['u', 'ax2'], ['r'], [attr.int('keepdims', 0)]],
        ['Tanh', ['r'], ['rt']],
        ['Concat', ['r', 'rt'], ['c'], [attr.int('axis', 1)]],
        ['Dropout', ['c'], ['dr']],
        ['Identity', ['dr'], ['id']],
        ['Sigmoid', ['id'], ['sg']],
        ['Pow', ['sg', 'two'], ['sq']],
        ['Add', ['sq', 'one'], ['sq1']],
        ['Sqrt', ['sq1'], ['rt2']],
        ['Neg', ['sg'], ['ng']],
        ['Sub', ['rt2', 'ng'], ['df']],
        ['Div', ['df', 'two'], ['hv']],
        ['Div', ['hv', 'sq1'], ['q']],
        ['LeakyRelu', ['q'], ['l'], [attr.float('alpha', 0.2)]],
        ['Transpose', ['l'], ['lt']],
        ['Gemm', ['lt', 'wo'], ['y'], [attr.int('transA', 1)]],
      ],
      output: ['N', 3],
    }));
  });

  it('shape sub-graphs fold: Shape, Gather, Slice, Unsqueeze, Concat, Cast into Reshape targets', async () => {
    await check(onnx({
      input: { dims: ['N', 2, 3, 4] },
      inits: {
        i0: { dims: [], data: [0], int: true }, s1: { dims: [1], data: [1], int: true }, e2: { dims: [1], data: [2], int: true },
        m1: { dims: [1], data: [-1], int: true }, ax0: { dims: [1], data: [0], int: true }, wf: { dims: [24, 3] }, bf: { dims: [3] },
      },
      nodes: [
        ['Shape', ['x'], ['shp']],
        ['Gather', ['shp', 'i0'], ['n']],
        ['Unsqueeze', ['n', 'ax0'], ['n1']],
        ['Slice', ['shp', 's1', 'e2'], ['c']],
        ['Concat', ['n1', 'c', 'm1'], ['t'], [attr.int('axis', 0)]],
        ['Cast', ['t'], ['t64'], [attr.int('to', DataType.INT64)]],
        ['Reshape', ['x', 't64'], ['r']],
        ['Sigmoid', ['r'], ['sr']],
        ['Flatten', ['sr'], ['f']],
        ['Gemm', ['f', 'wf', 'bf'], ['y']],
      ],
      output: ['N', 3],
    }));
  });
});

describe('graphs the importer refuses, by name', () => {
  const refuse = (spec: GraphSpec, code: string, message: RegExp) => {
    let error: unknown;
    try {
      createModel({ onnx: onnx(spec) });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ModelImportError);
    expect((error as ModelImportError).code).toBe(code);
    expect((error as Error).message).toMatch(message);
  };
  const linear = { wf: { dims: [4, 3] }, bf: { dims: [3] } };

  it('a constant-only op on a computed value', () => {
    refuse({
      input: { dims: ['N', 6] },
      inits: { ...linear, s: { dims: [1], data: [0], int: true }, e: { dims: [1], data: [4], int: true }, a: { dims: [1], data: [1], int: true } },
      nodes: [['Slice', ['x', 's', 'e', 'a'], ['z']], ['Gemm', ['z', 'wf', 'bf'], ['y']]],
      output: ['N', 3],
    }, 'unsupported-op', /node n0_Slice \(Slice\) is supported only on constants/);
  });

  it('Gather of an activation, a reshape across the batch, a reduction over it, a computed exponent', () => {
    const idx = { i: { dims: [], data: [0], int: true } };
    refuse({ input: { dims: ['N', 4, 4] }, inits: { ...linear, ...idx }, nodes: [['Gather', ['x', 'i'], ['z'], [attr.int('axis', 1)]], ['Gemm', ['z', 'wf', 'bf'], ['y']]], output: ['N', 3] },
      'unsupported-op', /Gather is supported as an embedding lookup/);
    refuse({ input: { dims: ['N', 4] }, inits: { ...linear, t: { dims: [2], data: [-1, 2], int: true } }, nodes: [['Reshape', ['x', 't'], ['z']], ['Gemm', ['z', 'wf', 'bf'], ['y']]], output: ['N', 3] },
      'unsupported-op', /merges the batch dimension/);
    refuse({ input: { dims: ['N', 4] }, inits: linear, nodes: [['ReduceMean', ['x'], ['m'], [attr.ints('axes', [0])]], ['Sub', ['x', 'm'], ['z']], ['Gemm', ['z', 'wf', 'bf'], ['y']]], output: ['N', 3] },
      'unsupported-op', /reduction over the batch dimension/);
    refuse({ input: { dims: ['N', 4] }, inits: linear, nodes: [['Pow', ['x', 'x'], ['z']], ['Gemm', ['z', 'wf', 'bf'], ['y']]], output: ['N', 3] },
      'unsupported-op', /exponent must be a constant/);
  });

  it('another domain, an old opset, a graph out of order, two inputs worth of trouble', () => {
    refuse({ input: { dims: ['N', 4] }, inits: linear, nodes: [['Gemm', ['x', 'wf', 'bf'], ['y']]], output: ['N', 3], opset: 11 }, 'opset', /opset 11 is not supported/);
    refuse({ input: { dims: ['N', 4] }, inits: linear, nodes: [['Relu', ['z'], ['y']], ['Gemm', ['x', 'wf', 'bf'], ['z']]], output: ['N', 3] },
      'bad-graph', /reads "z", which no earlier node/);
    refuse({ input: { dims: ['N', 4] }, inits: linear, nodes: [['Gemm', ['x', 'wf', 'bf'], ['z']], ['Gelu', ['z'], ['y']]], output: ['N', 3] },
      'unsupported-op', /unsupported op Gelu \(node n1_Gelu\)/);
  });

  it('outputs that are not [batch, classes] logits; inputs the engine cannot feed', () => {
    refuse({ input: { dims: ['N', 4] }, inits: { w: { dims: [4, 1] } }, nodes: [['MatMul', ['x', 'w'], ['y']]], output: ['N', 1] }, 'bad-output', /1 classes; 2\.\.256/);
    refuse({ input: { dims: ['N', 2, 4] }, inits: { w: { dims: [4, 3] } }, nodes: [['MatMul', ['x', 'w'], ['y']]], output: ['N', 2, 3] }, 'bad-output', /must be logits \[batch, classes\], got \[N, 2, 3\]/);
    refuse({ input: { dims: ['N', 'seq'] }, inits: linear, nodes: [['Gemm', ['x', 'wf', 'bf'], ['y']]], output: ['N', 3] }, 'bad-input', /dimension 1 is "seq"; only the batch dimension may vary/);
    refuse({ input: { dims: ['N', 4], type: 7 }, inits: linear, nodes: [['Gemm', ['x', 'wf', 'bf'], ['y']]], output: ['N', 3] }, 'bad-input', /reads the integer input x; an integer input may only feed Gather/);
  });
});
