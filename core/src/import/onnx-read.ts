import { DataType, dataTypeNames, readModelProto } from '../graph/onnx-proto';
import { formatBytes, ModelImportError, type ModelCaps } from './errors';

/**
 * An ONNX file as plain typed data: the main graph's nodes, initializers (with their values
 * decoded from raw_data or the typed fields), inputs and outputs, and the default-domain opset.
 * Everything an exporter may write but this project cannot use (external weights, sparse
 * initializers) is refused here with a clear error.
 */

export interface OnnxTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly dataType: number;
  /** FLOAT tensors */
  readonly float: Float32Array | null;
  /** integer and boolean tensors (exact below 2^53) */
  readonly ints: Float64Array | null;
}

export interface OnnxAttribute {
  readonly name: string;
  readonly f?: number;
  readonly i?: number;
  readonly s?: string;
  readonly t?: OnnxTensor;
  readonly floats?: readonly number[];
  readonly ints?: readonly number[];
  /** a sub-graph (If, Loop, Scan): never supported, but named in the error */
  readonly graph?: boolean;
}

export interface OnnxNode {
  /** the node's name, or `<op>#<index>` when the file leaves it empty */
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: ReadonlyMap<string, OnnxAttribute>;
}

export interface OnnxValueInfo {
  readonly name: string;
  /** 0 when the file gives no tensor type */
  readonly elemType: number;
  /** null: no shape at all; a dim is a size, a symbolic name, or null (unknown) */
  readonly dims: readonly (number | string | null)[] | null;
}

export interface OnnxGraph {
  readonly opset: number;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: ReadonlyMap<string, OnnxTensor>;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
}

type Obj = Record<string, unknown>;
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const nums = (v: unknown): number[] => (Array.isArray(v) ? (v as unknown[]).map(Number) : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export function readOnnx(bytes: Uint8Array, caps: ModelCaps): OnnxGraph {
  if (!(bytes instanceof Uint8Array)) throw new ModelImportError('corrupt', 'a model must be given as bytes (Uint8Array)');
  if (bytes.length > caps.bytes) throw new ModelImportError('too-large', `the model file is ${formatBytes(bytes.length)}, over the ${formatBytes(caps.bytes)} cap`);
  if (bytes.length === 0) throw new ModelImportError('corrupt', 'the model file is empty');
  let model: Obj;
  try {
    model = readModelProto(bytes);
  } catch (err) {
    throw new ModelImportError('corrupt', `not an ONNX model (protobuf: ${err instanceof Error ? err.message : String(err)})`);
  }
  const graph = model.graph as Obj | undefined;
  if (!graph || arr(graph.node).length === 0) throw new ModelImportError('corrupt', 'not an ONNX model: it has no graph or its graph has no nodes');
  const opsets = arr(model.opsetImport);
  const main = opsets.find((o) => str(o.domain) === '' || str(o.domain) === 'ai.onnx');
  if (!main) throw new ModelImportError('corrupt', 'not an ONNX model: no opset_import for the default domain');
  if (arr(graph.sparseInitializer).length > 0) throw new ModelImportError('bad-weights', 'sparse initializers are not supported; export dense weights');
  const rawNodes = arr(graph.node);
  if (rawNodes.length > caps.nodes) throw new ModelImportError('too-large', `the graph has ${rawNodes.length} nodes, over the ${caps.nodes} cap`);
  const initializers = new Map<string, OnnxTensor>();
  for (const t of arr(graph.initializer)) {
    const tensor = readTensor(t, 'initializer');
    if (initializers.has(tensor.name)) throw new ModelImportError('corrupt', `initializer ${tensor.name} is defined twice`);
    initializers.set(tensor.name, tensor);
  }
  const nodes = rawNodes.map((n, i): OnnxNode => {
    const opType = str(n.opType);
    if (!opType) throw new ModelImportError('corrupt', `node #${i} has no op_type`);
    const name = str(n.name) || `${opType}#${i}`;
    const attributes = new Map<string, OnnxAttribute>();
    for (const a of arr(n.attribute)) {
      const key = str(a.name);
      // A zero scalar may be absent on the wire (protobuf's default); the type says it is there.
      const type = Number(a.type ?? 0);
      const attr: OnnxAttribute = {
        name: key,
        ...(a.f !== undefined || type === 1 ? { f: Number(a.f ?? 0) } : {}),
        ...(a.i !== undefined || type === 2 ? { i: Number(a.i ?? 0) } : {}),
        ...(a.s !== undefined || type === 3 ? { s: a.s ? new TextDecoder().decode(a.s as Uint8Array) : '' } : {}),
        ...(a.t !== undefined ? { t: readTensor(a.t as Obj, `attribute ${key} of node ${name}`) } : {}),
        ...(nums(a.floats).length > 0 ? { floats: nums(a.floats) } : {}),
        ...(nums(a.ints).length > 0 ? { ints: nums(a.ints) } : {}),
        ...(a.g !== undefined || arr(a.graphs).length > 0 ? { graph: true } : {}),
      };
      attributes.set(key, attr);
    }
    return {
      name,
      opType,
      domain: str(n.domain) === 'ai.onnx' ? '' : str(n.domain),
      inputs: (Array.isArray(n.input) ? n.input : []).map(String),
      outputs: (Array.isArray(n.output) ? n.output : []).map(String),
      attributes,
    };
  });
  return {
    opset: Number(main.version),
    nodes,
    initializers,
    inputs: arr(graph.input).map(readValueInfo),
    outputs: arr(graph.output).map(readValueInfo),
  };
}

function readValueInfo(v: Obj): OnnxValueInfo {
  const tensorType = ((v.type as Obj | undefined)?.tensorType ?? null) as Obj | null;
  const shape = (tensorType?.shape ?? null) as Obj | null;
  return {
    name: str(v.name),
    elemType: Number(tensorType?.elemType ?? 0),
    dims: shape ? arr(shape.dim).map((d) => (d.dimValue !== undefined ? Number(d.dimValue) : typeof d.dimParam === 'string' && d.dimParam ? d.dimParam : null)) : null,
  };
}

const INT_BYTES: Record<number, { size: number; read: (view: DataView, at: number) => number }> = {
  [DataType.INT64]: { size: 8, read: (v, at) => Number(v.getBigInt64(at, true)) },
  [DataType.INT32]: { size: 4, read: (v, at) => v.getInt32(at, true) },
  3: { size: 1, read: (v, at) => v.getInt8(at) }, // INT8
  2: { size: 1, read: (v, at) => v.getUint8(at) }, // UINT8
  5: { size: 2, read: (v, at) => v.getInt16(at, true) }, // INT16
  4: { size: 2, read: (v, at) => v.getUint16(at, true) }, // UINT16
  [DataType.BOOL]: { size: 1, read: (v, at) => v.getUint8(at) },
};

function readTensor(t: Obj, what: string): OnnxTensor {
  const name = str(t.name);
  const label = name ? `${what} ${name}` : what;
  const dims = nums(t.dims);
  const dataType = Number(t.dataType ?? 0);
  if (dims.some((d) => !(Number.isInteger(d) && d >= 0))) throw new ModelImportError('corrupt', `${label} has bad dims [${dims}]`);
  if (Number(t.dataLocation ?? 0) === 1 || arr(t.externalData).length > 0) {
    throw new ModelImportError('bad-weights', `${label} keeps its data in an external file; export the model as one file (torch.onnx.export writes one file for models under 2 GB)`);
  }
  const size = dims.reduce((a, d) => a * d, 1);
  const raw = t.rawData instanceof Uint8Array && t.rawData.length > 0 ? t.rawData : null;
  const mismatch = (count: number) => new ModelImportError('corrupt', `${label}: ${count} values for dims [${dims}] (${size})`);
  if (dataType === DataType.FLOAT) {
    let float: Float32Array;
    if (raw) {
      if (raw.length !== size * 4) throw mismatch(raw.length / 4);
      float = new Float32Array(new Uint8Array(raw).buffer); // a copy: the view may be unaligned (and a Buffer slice would share memory)
    } else float = Float32Array.from(nums(t.floatData));
    if (float.length !== size) throw mismatch(float.length);
    return { name, dims, dataType, float, ints: null };
  }
  const layout = INT_BYTES[dataType];
  if (layout) {
    let ints: Float64Array;
    if (raw) {
      if (raw.length !== size * layout.size) throw mismatch(raw.length / layout.size);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      ints = Float64Array.from({ length: size }, (_, i) => layout.read(view, i * layout.size));
    } else ints = Float64Array.from(dataType === DataType.INT64 ? nums(t.int64Data) : nums(t.int32Data));
    if (ints.length !== size) throw mismatch(ints.length);
    return { name, dims, dataType, float: null, ints };
  }
  if (!(dataType in dataTypeNames) || dataType === 0) throw new ModelImportError('corrupt', `${label} has unknown data type ${dataType}`);
  // DOUBLE, FLOAT16, ...: kept without values; the importer names the type if one is used
  return { name, dims, dataType, float: null, ints: null };
}
