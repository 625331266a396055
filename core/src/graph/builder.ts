import {
  AttributeType,
  DataType,
  encodeModel,
  type AttributeJson,
  type DataTypeCode,
  type Dim,
  type NodeJson,
  type TensorJson,
  type ValueInfoJson,
} from './onnx-proto';

/**
 * An ONNX graph builder with reverse-mode autodiff, in micrograd's shape: every
 * differentiable op records on a tape how to turn the gradient of its output into gradients
 * of its inputs, and `gradients()` walks the tape backwards accumulating them. Values are
 * ONNX tensor names; backward rules emit more ONNX nodes into the same graph, so the result
 * is one inference graph that computes the loss and its gradient in a single run.
 *
 * Shapes are tracked statically (a string dimension is the symbolic batch size) because the
 * backward rules need them to undo broadcasting and reshapes without Shape ops.
 *
 * The class holds the graph, the tape and the loss; the other ops are functions in ops-*.ts
 * that use `emit` and `record`, each writing its forward node and its backward rule side by
 * side (a rule is read and checked against its own forward).
 */

export interface Value {
  readonly name: string;
  readonly shape: readonly Dim[];
  readonly type: DataTypeCode;
}

/** Test hooks that remove one mask from a backward rule, to prove the gradient check can fail. */
export interface BrokenBackward {
  /** Relu passes the gradient through unmasked */
  readonly relu?: boolean;
  /** MaxPool spreads the gradient to all window positions, not just the argmax */
  readonly maxPool?: boolean;
}

export interface GraphBuilderOptions {
  readonly name: string;
  /** ONNX opset of the default domain; rules below rely on 13 <= opset <= 17 */
  readonly opset?: number;
  readonly broken?: BrokenBackward;
}

/** inputs per Concat node; see concatFlat */
export const CONCAT_FAN_IN = 4;

export type AttrValue = number | readonly number[] | { readonly float: number } | { readonly string: string };



interface TapeEntry {
  readonly inputs: readonly Value[];
  readonly output: Value;
  /** gradients of the inputs given the output gradient; null where `needs[i]` is false */
  readonly backward: (g: Value, needs: readonly boolean[]) => (Value | null)[];
}

export class GraphBuilder {
  readonly name: string;
  readonly opset: number;
  readonly broken: BrokenBackward;
  private readonly nodes: NodeJson[] = [];
  private readonly initializers: TensorJson[] = [];
  private readonly inputs: ValueInfoJson[] = [];
  private readonly outputs: ValueInfoJson[] = [];
  private readonly tape: TapeEntry[] = [];
  /** values that depend on a parameter: only these get backward nodes */
  private readonly tracked = new Set<string>();
  private readonly used = new Set<string>();
  private readonly scalars = new Map<number, Value>();
  private counter = 0;

  constructor(options: GraphBuilderOptions) {
    this.name = options.name;
    this.opset = options.opset ?? 17;
    if (this.opset < 13 || this.opset > 17) throw new RangeError(`opset must be in 13..17, got ${this.opset}`);
    this.broken = options.broken ?? {};
  }

  // ---- leaves ----------------------------------------------------------------------------

  /** a graph input that is data (no gradient) */
  input(name: string, shape: readonly Dim[], type: DataTypeCode = DataType.FLOAT): Value {
    this.claim(name);
    this.inputs.push({ name, elemType: type, shape });
    return { name, shape, type };
  }

  /** a graph input that is a trainable parameter (gradients flow to it) */
  param(name: string, shape: readonly number[]): Value {
    const v = this.input(name, shape);
    this.tracked.add(name);
    return v;
  }

  /** initializers are written in host byte order; every browser and Node target is little-endian, as ONNX raw_data requires */
  constFloat(values: ArrayLike<number>, dims: readonly number[] = [values.length]): Value {
    const data = Float32Array.from(values);
    return this.initializer(DataType.FLOAT, dims, new Uint8Array(data.buffer));
  }

  /** a float scalar constant, shared by every node that needs it */
  scalar(value: number): Value {
    let v = this.scalars.get(value);
    if (!v) this.scalars.set(value, (v = this.constFloat([value], [])));
    return v;
  }

  /** a float initializer under its own name (an exported model's trained weights; copied) */
  namedConstFloat(name: string, data: Float32Array, dims: readonly number[]): Value {
    this.claim(name);
    const copy = data.slice();
    this.initializers.push({ name, dims: [...dims], dataType: DataType.FLOAT, rawData: new Uint8Array(copy.buffer) });
    return { name, shape: dims, type: DataType.FLOAT };
  }

  constInt64(values: readonly number[], dims: readonly number[] = [values.length]): Value {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    return this.initializer(DataType.INT64, dims, new Uint8Array(data.buffer));
  }

  // ---- raw emission (no gradient) --------------------------------------------------------

  /** Emits one ONNX node with a fresh output name; the caller states the output shape. */
  emit(op: string, inputs: readonly (Value | '')[], attrs: Record<string, AttrValue>, shape: readonly Dim[], type: DataTypeCode = DataType.FLOAT): Value {
    const name = this.fresh(op.toLowerCase());
    this.nodes.push({
      name: `${name}_node`,
      opType: op,
      input: inputs.map((v) => (v === '' ? '' : v.name)),
      output: [name],
      attribute: Object.entries(attrs).map(([key, value]) => attribute(key, value)),
    });
    return { name, shape, type };
  }

  /** Emits one ONNX node with several outputs (e.g. MaxPool's values and indices). */
  emitMulti(op: string, inputs: readonly (Value | '')[], attrs: Record<string, AttrValue>, outputs: readonly { shape: readonly Dim[]; type?: DataTypeCode }[]): Value[] {
    const values = outputs.map((o) => ({ name: this.fresh(op.toLowerCase()), shape: o.shape, type: o.type ?? DataType.FLOAT }));
    this.nodes.push({
      name: `${values[0].name}_node`,
      opType: op,
      input: inputs.map((v) => (v === '' ? '' : v.name)),
      output: values.map((v) => v.name),
      attribute: Object.entries(attrs).map(([key, value]) => attribute(key, value)),
    });
    return values;
  }

  // ---- differentiable ops ----------------------------------------------------------------

  /** elementwise a + b with numpy broadcasting */
  add(a: Value, b: Value): Value {
    const y = this.emit('Add', [a, b], {}, broadcastShape(a.shape, b.shape));
    return this.record([a, b], y, (g, needs) => [
      needs[0] ? this.unbroadcast(g, a.shape) : null,
      needs[1] ? this.unbroadcast(g, b.shape) : null,
    ]);
  }

  relu(x: Value): Value {
    const y = this.emit('Relu', [x], {}, x.shape);
    return this.record([x], y, (g) => {
      if (this.broken.relu) return [g];
      const positive = this.emit('Greater', [x, this.scalar(0)], {}, x.shape, DataType.BOOL);
      return [this.emit('Where', [positive, g, this.scalar(0)], {}, x.shape)];
    });
  }

  /** [N, ...rest] -> [N, prod(rest)] */
  flatten(x: Value): Value {
    const size = x.shape.slice(1).reduce<number>((a, d) => a * staticDim(d, 'flatten'), 1);
    const y = this.emit('Flatten', [x], { axis: 1 }, [x.shape[0], size]);
    return this.record([x], y, (g) => [this.reshapeTo(g, x.shape)]);
  }

  /**
   * Mean (or summed) softmax cross-entropy of logits [N, K] against one-hot float labels.
   * Log-softmax is z - ReduceLogSumExp(z) on max-shifted logits, so no backend needs a
   * numerically careful LogSumExp. The backward rule is the fused (softmax - y) form.
   */
  softmaxCrossEntropy(logits: Value, oneHot: Value, reduction: 'mean' | 'sum'): Value {
    const [n, k] = expectRank(logits, 2, 'softmaxCrossEntropy logits');
    const shifted = this.emit('Sub', [logits, this.emit('ReduceMax', [logits], { axes: [1], keepdims: 1 }, [n, 1])], {}, [n, k]);
    const lse = this.emit('ReduceLogSumExp', [shifted], { axes: [1], keepdims: 1 }, [n, 1]);
    const logp = this.emit('Sub', [shifted, lse], {}, [n, k]);
    const total = this.emit('Neg', [this.reduceSum(this.emit('Mul', [oneHot, logp], {}, [n, k]), null, false)], {}, []);
    // The batch size as a float without a Shape op: every one-hot row sums to 1.
    const count = reduction === 'mean' ? this.reduceSum(oneHot, null, false) : null;
    const loss = count ? this.emit('Div', [total, count], {}, []) : total;
    return this.record([logits], loss, (g) => {
      const residual = this.emit('Sub', [this.emit('Exp', [logp], {}, [n, k]), oneHot], {}, [n, k]);
      const scale = count ? this.emit('Div', [g, count], {}, []) : g;
      return [this.emit('Mul', [residual, scale], {}, [n, k])];
    });
  }

  /** number of rows whose argmax matches the one-hot label's, as a float scalar */
  correctCount(logits: Value, oneHot: Value): Value {
    const [n] = expectRank(logits, 2, 'correctCount logits');
    const predicted = this.emit('ArgMax', [logits], { axis: 1, keepdims: 0 }, [n], DataType.INT64);
    const actual = this.emit('ArgMax', [oneHot], { axis: 1, keepdims: 0 }, [n], DataType.INT64);
    // ORT's WebGPU EP has no int64 Equal, so this one node of N elements runs on the CPU EP
    // (casting to int32 first only moves the fallback to the Casts). A float-only variant
    // would have to break ties differently from ArgMax.
    const hit = this.emit('Equal', [predicted, actual], {}, [n], DataType.BOOL);
    return this.reduceSum(this.emit('Cast', [hit], { to: DataType.FLOAT }, [n]), null, false);
  }

  // ---- autodiff --------------------------------------------------------------------------

  /**
   * Gradients of a scalar `loss` with respect to `wrt` (parameters), emitted as nodes.
   * The tape is in construction order, which is a topological order, so one reverse pass
   * sees every consumer of a value before the value itself.
   */
  gradients(loss: Value, wrt: readonly Value[]): Value[] {
    if (loss.shape.length !== 0) throw new RangeError(`gradients: loss must be a scalar, got shape [${loss.shape}]`);
    const pending = new Map<string, Value[]>([[loss.name, [this.scalar(1)]]]);
    const total = (v: Value): Value | null => {
      const parts = pending.get(v.name);
      if (!parts || parts.length === 0) return null;
      const sum = parts.length === 1 ? parts[0] : this.emit('Sum', parts, {}, v.shape);
      pending.set(v.name, [sum]);
      return sum;
    };
    for (let i = this.tape.length - 1; i >= 0; i--) {
      const entry = this.tape[i];
      const g = total(entry.output);
      if (!g) continue;
      const needs = entry.inputs.map((v) => this.tracked.has(v.name));
      const grads = entry.backward(g, needs);
      entry.inputs.forEach((v, j) => {
        const gj = grads[j];
        if (!needs[j] || !gj) return;
        const list = pending.get(v.name);
        if (list) list.push(gj);
        else pending.set(v.name, [gj]);
      });
    }
    return wrt.map((p) => total(p) ?? this.constFloat(new Float32Array(sizeOf(p.shape)), p.shape.map((d) => staticDim(d, 'gradient'))));
  }

  /**
   * Concat of flattened values along axis 0: the flat gradient in parameter layout order.
   * Built as a tree of Concats with at most CONCAT_FAN_IN inputs each: WebGPU guarantees only
   * 8 storage buffers per shader stage, and ORT's WebGPU Concat binds every input plus the
   * output, so a 9-way Concat fails validation there and yields garbage.
   */
  concatFlat(values: readonly Value[]): Value {
    if (values.length === 0) throw new RangeError('concatFlat needs at least one value');
    let level = values.map((v) => this.emit('Reshape', [v, this.constInt64([-1])], {}, [sizeOf(v.shape)]));
    while (level.length > 1) {
      const next: Value[] = [];
      for (let i = 0; i < level.length; i += CONCAT_FAN_IN) {
        const group = level.slice(i, i + CONCAT_FAN_IN);
        const size = group.reduce((a, v) => a + (v.shape[0] as number), 0);
        next.push(group.length === 1 ? group[0] : this.emit('Concat', group, { axis: 0 }, [size]));
      }
      level = next;
    }
    return level[0];
  }

  // ---- graph outputs ---------------------------------------------------------------------

  /** Exposes a value as a graph output under `name` (through an Identity node). */
  output(value: Value, name: string): void {
    this.claim(name);
    this.nodes.push({ name: `${name}_node`, opType: 'Identity', input: [value.name], output: [name], attribute: [] });
    this.outputs.push({ name, elemType: value.type, shape: value.shape });
  }

  build(): Uint8Array {
    if (this.outputs.length === 0) throw new Error(`graph ${this.name} has no outputs`);
    return encodeModel({
      name: this.name,
      opset: this.opset,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
    });
  }

  /** node count so far (tests and docs) */
  get nodeCount(): number {
    return this.nodes.length;
  }

  // ---- helpers ---------------------------------------------------------------------------

  /**
   * Puts `output = op(inputs)` on the tape when any input depends on a parameter; `backward`
   * gets the output's gradient and emits the gradients of the inputs marked in `needs`.
   */
  record(inputs: readonly Value[], output: Value, backward: TapeEntry['backward']): Value {
    if (inputs.some((v) => this.tracked.has(v.name))) {
      this.tracked.add(output.name);
      this.tape.push({ inputs, output, backward });
    }
    return output;
  }

  /** whether a value depends on a parameter (gets a gradient) */
  isTracked(v: Value): boolean {
    return this.tracked.has(v.name);
  }

  /** ReduceSum over `axes` (null: all); ReduceSum takes axes as an input since opset 13 */
  reduceSum(x: Value, axes: readonly number[] | null, keepdims: boolean): Value {
    const shape = axes === null
      ? (keepdims ? x.shape.map(() => 1) : [])
      : x.shape.flatMap((d, i) => (axes.includes(i) ? (keepdims ? [1] : []) : [d]));
    const inputs: Value[] = axes === null ? [x] : [x, this.constInt64(axes)];
    return this.emit('ReduceSum', inputs, { keepdims: keepdims ? 1 : 0 }, shape);
  }

  /** sums a broadcast gradient back down to `shape` (numpy rules, aligned on the right) */
  unbroadcast(g: Value, shape: readonly Dim[]): Value {
    if (sameShape(g.shape, shape)) return g;
    const lead = g.shape.length - shape.length;
    const axes = g.shape.flatMap((d, i) => (i < lead || (shape[i - lead] === 1 && d !== 1) ? [i] : []));
    const summed = this.reduceSum(g, axes, true);
    return this.reshapeTo(summed, shape);
  }

  /**
   * Reshape (no gradient) to `shape`. A symbolic dimension is copied from the input (0) where
   * the input has it at the same index, else inferred (-1); one symbolic dimension at most.
   */
  reshapeTo(x: Value, shape: readonly Dim[]): Value {
    if (sameShape(x.shape, shape)) return x;
    const symbolic = shape.filter((d) => typeof d === 'string').length;
    if (symbolic > 1) throw new RangeError(`reshape: at most one symbolic dim, got [${shape}]`);
    const dims = shape.map((d, i) => (typeof d === 'number' ? d : x.shape[i] === d ? 0 : -1));
    return this.emit('Reshape', [x, this.constInt64(dims)], {}, shape);
  }

  /** Expand (no gradient) of a broadcastable value to `shape`; symbolic dims must already be in `v` */
  expandTo(v: Value, shape: readonly Dim[]): Value {
    if (sameShape(v.shape, shape)) return v;
    return this.emit('Expand', [v, this.constInt64(shape.map((d) => (typeof d === 'number' ? d : 1)))], {}, shape);
  }

  private initializer(type: DataTypeCode, dims: readonly number[], rawData: Uint8Array): Value {
    const name = this.fresh('const');
    this.initializers.push({ name, dims: [...dims], dataType: type, rawData });
    return { name, shape: dims, type };
  }

  private fresh(hint: string): string {
    let name: string;
    do name = `${hint}_${this.counter++}`; while (this.used.has(name));
    this.used.add(name);
    return name;
  }

  private claim(name: string): void {
    if (this.used.has(name)) throw new Error(`graph ${this.name}: duplicate value name ${name}`);
    this.used.add(name);
  }
}

function attribute(name: string, value: AttrValue): AttributeJson {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError(`attribute ${name}: use { float } for non-integers`);
    return { name, type: AttributeType.INT, i: value };
  }
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('string' in value) return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value.string) };
  return { name, type: AttributeType.INTS, ints: [...value] };
}

export function expectRank(v: Value, rank: number, what: string): Dim[] {
  if (v.shape.length !== rank) throw new RangeError(`${what}: expected rank ${rank}, got shape [${v.shape}]`);
  return [...v.shape];
}

export function staticDim(d: Dim, what: string): number {
  if (typeof d !== 'number') throw new RangeError(`${what}: dimension must be static, got ${d}`);
  return d;
}

export function sizeOf(shape: readonly Dim[]): number {
  return shape.reduce<number>((a, d) => a * staticDim(d, 'size'), 1);
}

export function sameShape(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function broadcastShape(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw new RangeError(`cannot broadcast [${a}] with [${b}]`);
  }
  return out;
}

/** checks that `from` broadcasts onto `to` one-directionally (Gemm's C, an Expand) */
export function broadcastInto(from: readonly Dim[], to: readonly Dim[], what: string): void {
  const ok = from.length <= to.length && from.every((d, i) => d === 1 || d === to[to.length - from.length + i]);
  if (!ok) throw new RangeError(`${what}: [${from}] does not broadcast to [${to}]`);
}
