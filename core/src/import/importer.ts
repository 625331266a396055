import { DataType, dataTypeNames } from '../graph/onnx-proto';
import { evaluateNode } from '../models/reference';
import { BATCH, nodeInputs, type Dim, type NodeBody, type Program, type ProgramConst, type ProgramNode, type ProgramParam } from '../models/program';
import { sizeOf } from '../models/tensor64';
import { CONSTANT_ONLY_OPS, MODEL_CAPS, ModelImportError, SUPPORTED_OPS, type ModelCaps } from './errors';
import { constFromTensor, fold, FOLDABLE, isFloat, type ConstValue } from './fold';
import { lowerNode } from './lower';
import { readOnnx, type OnnxGraph, type OnnxNode, type OnnxTensor } from './onnx-read';

/**
 * ONNX file -> Program: reads the file, decides which initializers are trained, folds the
 * constant parts, lowers every other node to program ops with static shapes, picks the logits
 * and drops what does not reach them. Pure: on any error nothing is returned.
 */

/** a value while lowering: known now (folded), or computed from the input and parameters */
export type Entry =
  | { readonly kind: 'const'; readonly value: ConstValue; readonly name: string }
  | { readonly kind: 'live'; readonly name: string; readonly shape: readonly Dim[]; readonly integer: boolean };
export type LiveEntry = Extract<Entry, { kind: 'live' }>;

/** names the training graph itself uses for its inputs and outputs */
const RESERVED = new Set(['x', 'labels', 'loss', 'correct', 'grad']);

export interface ImportOptions {
  readonly caps?: Partial<ModelCaps>;
}

export function importOnnx(bytes: Uint8Array, options: ImportOptions = {}): Program {
  const caps = { ...MODEL_CAPS, ...options.caps };
  const graph = readOnnx(bytes, caps);
  if (!(graph.opset >= 13 && graph.opset <= 17)) {
    throw new ModelImportError('opset', `opset ${graph.opset} is not supported: export with opset_version between 13 and 17`);
  }
  return new Lowering(graph, caps).run();
}

/** The lowering state; lower.ts adds one op at a time through `op`, `define` and `entry`. */
export class Lowering {
  private readonly entries = new Map<string, Entry>();
  private readonly nodes: ProgramNode[] = [];
  private readonly shapes = new Map<string, readonly Dim[]>();
  private readonly consts = new Map<string, ProgramConst>();
  /** the program name each constant got when a node first read it */
  private readonly constNames = new Map<ConstValue, string>();
  private readonly params: OnnxTensor[] = [];
  private readonly used = new Set<string>();
  private readonly consumed = new Set<string>();
  private inputName = '';
  private inputIsIndex = false;
  /** smallest embedding table the integer input indexes */
  indexBound: number | null = null;

  constructor(
    private readonly graph: OnnxGraph,
    private readonly caps: ModelCaps,
  ) {}

  run(): Program {
    const { graph } = this;
    for (const n of graph.nodes) n.inputs.forEach((i) => this.consumed.add(i));
    graph.outputs.forEach((o) => this.consumed.add(o.name));
    const trained = classifyInitializers(graph);
    for (const [name, t] of graph.initializers) {
      this.used.add(name);
      if (trained.has(name)) {
        if (RESERVED.has(name)) throw new ModelImportError('bad-weights', `initializer "${name}" has a name the training graph reserves (${[...RESERVED].join(', ')}); rename it`);
        this.params.push(t);
        this.entries.set(name, { kind: 'live', name, shape: t.dims, integer: false });
        this.shapes.set(name, t.dims);
      } else this.entries.set(name, { kind: 'const', value: lazyConst(t), name });
    }
    const input = this.readInput();
    for (const node of graph.nodes) this.lower(node);
    return this.finish(input);
  }

  // ---- used by lower.ts ---------------------------------------------------------------

  /** the value `name` as node `node` reads it */
  entry(node: OnnxNode, name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new ModelImportError('bad-graph', `node ${node.name} (${node.opType}) reads "${name}", which no earlier node, initializer or input defines (the graph must be in topological order)`);
    return e;
  }

  define(name: string, e: Entry): void {
    if (name) this.entries.set(name, e);
  }

  /** whether any node or the graph output reads `name` */
  isConsumed(name: string): boolean {
    return name !== '' && this.consumed.has(name);
  }

  /**
   * Adds one program op reading `inputs` (its body gets their program names) and returns its
   * output. When every input is a constant it is evaluated now instead (float64) and becomes
   * one too, so folded sub-graphs never reach the training graph.
   */
  op(node: OnnxNode, out: string, inputs: readonly Entry[], shape: readonly Dim[], make: (names: string[]) => NodeBody, integerSlots: readonly number[] = []): Entry {
    inputs.forEach((e, i) => integerSlots.includes(i) || this.requireFloat(node, e));
    if (inputs.every((e) => e.kind === 'const')) {
      const args = inputs.map((e) => (e.kind === 'const' ? { shape: e.value.shape, data: e.value.data } : null!));
      if (inputs.some((e) => e.kind === 'const' && e.value.batch)) throw new ModelImportError('unsupported-op', `node ${node.name} (${node.opType}) computes with the batch size`);
      const body = make(inputs.map((_, i) => `#${i}`));
      const result = evaluateNode({ ...body, out, source: node.name } as ProgramNode, args, shape as number[]);
      return { kind: 'const', value: { dataType: DataType.FLOAT, shape: result.shape, data: result.data, batch: null }, name: out };
    }
    const name = this.fresh(out);
    const body = make(inputs.map((e) => this.nameOf(node, e)));
    this.nodes.push({ ...body, out: name, source: node.name } as ProgramNode);
    this.shapes.set(name, shape);
    return { kind: 'live', name, shape, integer: false };
  }

  /** an integer live value (the index input) may only feed Gather; everything else is float */
  requireFloat(node: OnnxNode, e: Entry): void {
    if (e.kind === 'live' && e.integer) {
      throw new ModelImportError('bad-input', `node ${node.name} (${node.opType}) reads the integer input ${e.name}; an integer input may only feed Gather (an embedding lookup)`);
    }
    if (e.kind === 'const' && !isFloat(e.value)) {
      throw new ModelImportError(this.graph.initializers.has(e.name) ? 'bad-weights' : 'bad-graph',
        `node ${node.name} (${node.opType}) reads "${e.name}" of type ${dataTypeNames[e.value.dataType]}; weights and constants of float ops must be FLOAT (32-bit)`);
    }
  }

  /** a Gather of the integer input: records the table size, the bound of valid indices */
  noteIndexTable(rows: number): void {
    this.indexBound = this.indexBound === null ? rows : Math.min(this.indexBound, rows);
  }

  get opset(): number {
    return this.graph.opset;
  }

  // ---- internals --------------------------------------------------------------------------

  private nameOf(node: OnnxNode, e: Entry): string {
    if (e.kind === 'live') return e.name;
    if (e.value.batch) throw new ModelImportError('unsupported-op', `node ${node.name} (${node.opType}) computes with the batch size`);
    const known = this.constNames.get(e.value);
    if (known) return known;
    // an initializer keeps its name (reserved in `used` from the start); anything else gets a fresh one
    const name = this.graph.initializers.get(e.name) && !this.consts.has(e.name) ? e.name : this.fresh(e.name);
    this.constNames.set(e.value, name);
    this.consts.set(name, { shape: e.value.shape, data: Float32Array.from(e.value.data), integer: e.value.dataType !== DataType.FLOAT });
    return name;
  }

  private fresh(hint: string): string {
    let name = hint || 'value';
    for (let k = 1; this.used.has(name); k++) name = `${hint}_${k}`;
    this.used.add(name);
    return name;
  }

  private readInput(): Program['input'] {
    const inputs = this.graph.inputs.filter((i) => !this.graph.initializers.has(i.name));
    if (inputs.length !== 1) {
      throw new ModelImportError('bad-input', `the model has ${inputs.length} inputs${inputs.length ? ` (${inputs.map((i) => i.name).join(', ')})` : ''}; exactly one input tensor is supported`);
    }
    const [v] = inputs;
    const kind = v.elemType === DataType.FLOAT ? 'float' : v.elemType === DataType.INT64 || v.elemType === DataType.INT32 ? 'index' : null;
    if (!kind) throw new ModelImportError('bad-input', `input ${v.name} has type ${dataTypeNames[v.elemType] ?? v.elemType}; FLOAT, or INT64 / INT32 token ids, are supported`);
    if (!v.dims || v.dims.length < 2) throw new ModelImportError('bad-input', `input ${v.name} must be [batch, ...] with at least one per-sample dimension, got ${v.dims ? `[${v.dims}]` : 'no shape'}`);
    if (typeof v.dims[0] === 'number') {
      throw new ModelImportError('bad-input', `input ${v.name} has a fixed batch dimension (${v.dims[0]}); export with dynamic_axes={'${v.name}': {0: 'batch'}} so any batch size fits`);
    }
    const rest = v.dims.slice(1).map((d, i) => {
      if (typeof d !== 'number' || d < 1) throw new ModelImportError('bad-input', `input ${v.name} dimension ${i + 1} is ${d === null ? 'unknown' : JSON.stringify(d)}; only the batch dimension may vary`);
      return d;
    });
    const shape: Dim[] = [BATCH, ...rest];
    this.inputName = v.name;
    this.inputIsIndex = kind === 'index';
    this.used.add(v.name);
    this.entries.set(v.name, { kind: 'live', name: v.name, shape, integer: kind === 'index' });
    return { name: v.name, shape, kind, indexBound: null };
  }

  private lower(node: OnnxNode): void {
    const supported = (SUPPORTED_OPS as readonly string[]).includes(node.opType);
    if (node.domain !== '' || (!supported && !(CONSTANT_ONLY_OPS as readonly string[]).includes(node.opType) && !FOLDABLE.has(node.opType))) {
      throw new ModelImportError('unsupported-op',
        `unsupported op ${node.domain ? `${node.domain}.` : ''}${node.opType} (node ${node.name}); supported: ${SUPPORTED_OPS.join(', ')}; on constants only (shape sub-graphs): ${CONSTANT_ONLY_OPS.join(', ')}`);
    }
    for (const a of node.attributes.values()) {
      if (a.graph) throw new ModelImportError('unsupported-op', `node ${node.name} (${node.opType}) has a sub-graph attribute ${a.name}; control flow is not supported`);
    }
    const ins = node.inputs.map((name) => (name === '' ? null : this.entry(node, name)));
    if (node.opType === 'Shape') return this.define(node.outputs[0], this.shapeOf(node, ins[0]));
    if (ins.every((e) => e === null || e.kind === 'const') && FOLDABLE.has(node.opType)) {
      return this.define(node.outputs[0], { kind: 'const', value: fold(node, ins.map((e) => (e && e.kind === 'const' ? e.value : null))), name: node.outputs[0] });
    }
    if (node.opType === 'Cast') return lowerNode(this, node, ins);
    if (!supported) {
      throw new ModelImportError('unsupported-op', `node ${node.name} (${node.opType}) is supported only on constants (shape sub-graphs), and here it reads a value computed from the model's input or weights`);
    }
    lowerNode(this, node, ins);
  }

  /** Shape of a value: its static dims, the batch marked */
  private shapeOf(node: OnnxNode, e: Entry | null): Entry {
    if (!e) throw new ModelImportError('bad-graph', `node ${node.name} (Shape) has no input`);
    const dims = e.kind === 'const' ? e.value.shape : e.shape;
    const rank = dims.length;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
    const start = clamp(node.attributes.get('start')?.i ?? 0), end = clamp(node.attributes.get('end')?.i ?? rank);
    const picked = dims.slice(start, end);
    const value: ConstValue = {
      dataType: DataType.INT64,
      shape: [picked.length],
      data: Float64Array.from(picked, (d) => (d === BATCH ? 0 : (d as number))),
      batch: picked.includes(BATCH) ? Uint8Array.from(picked, (d) => (d === BATCH ? 1 : 0)) : null,
    };
    return { kind: 'const', value, name: node.outputs[0] };
  }

  private finish(input: Program['input']): Program {
    const { graph } = this;
    if (graph.outputs.length === 0) throw new ModelImportError('bad-output', 'the model has no outputs');
    const declared = graph.outputs[0].name;
    const out = this.entries.get(declared);
    if (!out || out.kind !== 'live') throw new ModelImportError('bad-output', `output ${declared} does not depend on the input`);
    // the loss applies its own log-softmax: a trailing (Log)Softmax over the classes is dropped
    let logits = out.name;
    const last = this.nodes.find((n) => n.out === logits);
    if (last && (last.op === 'Softmax' || last.op === 'LogSoftmax') && last.axis === out.shape.length - 1) logits = last.x;
    const shape = this.shapes.get(logits)!;
    if (shape.length !== 2 || shape[0] !== BATCH || typeof shape[1] !== 'number') {
      throw new ModelImportError('bad-output', `output ${declared} must be logits [batch, classes], got [${shape.join(', ')}]`);
    }
    const numClasses = shape[1];
    if (numClasses < 2 || numClasses > 256) throw new ModelImportError('bad-output', `output ${declared} has ${numClasses} classes; 2..256 are supported (labels are bytes)`);

    // keep what the logits depend on
    const producer = new Map(this.nodes.map((n) => [n.out, n]));
    const reached = new Set<string>();
    const stack = [logits];
    while (stack.length) {
      const v = stack.pop()!;
      if (reached.has(v)) continue;
      reached.add(v);
      const n = producer.get(v);
      if (n) stack.push(...nodeInputs(n));
    }
    const nodes = this.nodes.filter((n) => reached.has(n.out));
    const params = this.params.filter((p) => reached.has(p.name)).map((p): ProgramParam => ({ name: p.name, shape: p.dims, data: p.float! }));
    const d = params.reduce((a, p) => a + p.data.length, 0);
    if (d === 0) throw new ModelImportError('bad-weights', 'the model has no trainable weights (float initializers) on the way to its output');
    if (d > this.caps.params) throw new ModelImportError('too-large', `the model has ${d.toLocaleString('en')} parameters, over the ${this.caps.params.toLocaleString('en')} cap`);
    if (this.inputIsIndex && this.indexBound === null) throw new ModelImportError('bad-input', `integer input ${this.inputName} feeds no embedding (Gather) on the way to the output`);
    const consts = new Map([...this.consts].filter(([name]) => reached.has(name)));
    const shapes = new Map([...this.shapes].filter(([name]) => reached.has(name)));
    shapes.set(input.name, input.shape);
    for (const [name, c] of consts) shapes.set(name, c.shape);
    return {
      input: { ...input, indexBound: this.indexBound },
      params,
      consts,
      nodes,
      shapes,
      output: logits,
      numClasses,
      opset: graph.opset,
      sourceOps: [...new Set(graph.nodes.map((n) => n.opType))].sort(),
    };
  }
}

/** a constant whose values are decoded on first use (an unused DOUBLE initializer is no error) */
function lazyConst(t: OnnxTensor): ConstValue {
  let value: ConstValue | null = null;
  const get = (): ConstValue => (value ??= constFromTensor(t, 'initializer'));
  return {
    dataType: t.dataType,
    shape: t.dims,
    get data() { return get().data; },
    batch: null,
  };
}

/**
 * Which initializers are trained. An input slot is a weight slot (Gemm B and C, Conv W and B,
 * the norms' scale and bias, an embedding table), a constant slot (shapes, axes, exponents,
 * BatchNormalization's running statistics), or plain data. A FLOAT initializer is trained when
 * it fills a weight slot, or a data slot with more than one element; one-element data
 * initializers (eps, 0.5, sqrt 2 in an exported GELU) are constants.
 */
function classifyInitializers(graph: OnnxGraph): Set<string> {
  const trained = new Set<string>(), constant = new Map<string, OnnxNode>();
  for (const node of graph.nodes) {
    node.inputs.forEach((name, slot) => {
      const t = graph.initializers.get(name);
      if (!t) return;
      const role = slotRole(node.opType, slot);
      if (role === 'const') return void constant.set(name, node);
      if (role === 'any') return;
      if (t.dataType !== DataType.FLOAT) {
        if (role === 'weight') throw new ModelImportError('bad-weights', `initializer ${name} (${dataTypeNames[t.dataType]}) is a weight of node ${node.name} (${node.opType}); weights must be FLOAT (32-bit); quantized or half-precision models are not supported`);
        return;
      }
      if (role === 'weight' || sizeOf(t.dims) > 1) trained.add(name);
    });
  }
  for (const name of trained) {
    const node = constant.get(name);
    if (node) throw new ModelImportError('bad-graph', `initializer ${name} is trained (a weight elsewhere) but node ${node.name} (${node.opType}) needs it as a constant`);
  }
  return trained;
}

function slotRole(op: string, slot: number): 'weight' | 'const' | 'data' | 'any' {
  const weights: Record<string, number[]> = { Gemm: [1, 2], Conv: [1, 2], LayerNormalization: [1, 2], BatchNormalization: [1, 2], Gather: [0] };
  const consts: Record<string, number[]> = {
    Reshape: [1], Unsqueeze: [1], Squeeze: [1], ReduceSum: [1], ReduceMean: [1], Pow: [1], Dropout: [1, 2], BatchNormalization: [3, 4],
    Slice: [1, 2, 3, 4], ConstantOfShape: [0], Expand: [1], Range: [0, 1, 2], Gather: [1],
  };
  if (op === 'Shape') return 'any';
  if (weights[op]?.includes(slot)) return 'weight';
  if (consts[op]?.includes(slot)) return 'const';
  return 'data';
}
