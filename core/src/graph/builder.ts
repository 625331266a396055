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
 * Over 400 lines because GraphBuilder is one class on purpose: each op's forward node and its
 * backward rule are written side by side (a rule is read and checked against its own forward),
 * and both use the builder's private node list, tape, tracked set and shared scalars.
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

type AttrValue = number | readonly number[] | { readonly float: number } | { readonly string: string };

interface TapeEntry {
  readonly inputs: readonly Value[];
  readonly output: Value;
  /** gradients of the inputs given the output gradient; null where `needs[i]` is false */
  readonly backward: (g: Value, needs: readonly boolean[]) => (Value | null)[];
}

export class GraphBuilder {
  readonly name: string;
  readonly opset: number;
  private readonly broken: BrokenBackward;
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

  // ---- differentiable ops ----------------------------------------------------------------

  /** a @ b for 2-D a [M, K] and b [K, N] */
  matmul(a: Value, b: Value): Value {
    const [m, k] = expectRank(a, 2, 'matmul a');
    const [k2, n] = expectRank(b, 2, 'matmul b');
    if (k !== k2) throw new RangeError(`matmul: inner dims differ (${k} vs ${k2})`);
    const y = this.emit('MatMul', [a, b], {}, [m, n]);
    return this.record([a, b], y, (g, needs) => [
      needs[0] ? this.emit('Gemm', [g, b], { transB: 1 }, a.shape) : null,
      needs[1] ? this.emit('Gemm', [a, g], { transA: 1 }, b.shape) : null,
    ]);
  }

  /** x @ w + bias, x [N, in], w [in, out], bias [out] (one Gemm node) */
  gemm(x: Value, w: Value, bias: Value): Value {
    const [n, k] = expectRank(x, 2, 'gemm x');
    const [k2, out] = expectRank(w, 2, 'gemm w');
    if (k !== k2) throw new RangeError(`gemm: inner dims differ (${k} vs ${k2})`);
    if (bias.shape.length !== 1 || bias.shape[0] !== out) throw new RangeError(`gemm: bias must be [${out}]`);
    const y = this.emit('Gemm', [x, w, bias], {}, [n, out]);
    return this.record([x, w, bias], y, (g, needs) => [
      needs[0] ? this.emit('Gemm', [g, w], { transB: 1 }, x.shape) : null,
      needs[1] ? this.emit('Gemm', [x, g], { transA: 1 }, w.shape) : null,
      needs[2] ? this.reduceSum(g, [0], false) : null,
    ]);
  }

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

  /** 2-D convolution, stride 1, x [N, C, H, W], w [O, C, k, k], bias [O], zero padding `pad` */
  conv(x: Value, w: Value, bias: Value, pad: number): Value {
    const [n, c, h, wd] = expectRank(x, 4, 'conv x');
    const [o, c2, kh, kw] = expectRank(w, 4, 'conv w');
    if (c !== c2) throw new RangeError(`conv: channels differ (${c} vs ${c2})`);
    const kernel = [staticDim(kh, 'kernel'), staticDim(kw, 'kernel')];
    const oh = staticDim(h, 'conv height') + 2 * pad - kernel[0] + 1;
    const ow = staticDim(wd, 'conv width') + 2 * pad - kernel[1] + 1;
    const pads = [pad, pad, pad, pad];
    // Every attribute spelled out: ORT's WebGPU kernels do not fill in ONNX defaults.
    const fixed = { strides: [1, 1], dilations: [1, 1], group: 1, pads };
    const y = this.emit('Conv', [x, w, bias], { ...fixed, kernel_shape: kernel }, [n, o, oh, ow]);
    return this.record([x, w, bias], y, (g, needs) => {
      // dx: the transposed convolution with the same kernel (ConvTranspose's weight layout
      // [in, out, k, k] is exactly Conv's [O, C, k, k] read the other way).
      const dx = needs[0] ? this.emit('ConvTranspose', [g, w], { ...fixed, kernel_shape: kernel, output_padding: [0, 0] }, x.shape) : null;
      // dw[o, c] = sum over batch and positions of g[:, o] * shifted x[:, c]: a convolution
      // with the batch as the channel axis, input x^T [C, N, H, W] and kernel g^T [O, N, oh, ow].
      let dw: Value | null = null;
      if (needs[1]) {
        const xT = this.emit('Transpose', [x], { perm: [1, 0, 2, 3] }, [c, n, h, wd]);
        const gT = this.emit('Transpose', [g], { perm: [1, 0, 2, 3] }, [o, n, oh, ow]);
        const dwT = this.emit('Conv', [xT, gT], { ...fixed, kernel_shape: [oh, ow] }, [c, o, kh, kw]);
        dw = this.emit('Transpose', [dwT], { perm: [1, 0, 2, 3] }, w.shape);
      }
      return [dx, dw, needs[2] ? this.reduceSum(g, [0, 2, 3], false) : null];
    });
  }

  /** non-overlapping k x k max pooling (kernel = stride), H and W divisible by k */
  maxPool(x: Value, k: number): Value {
    const [n, c, h, wd] = expectRank(x, 4, 'maxPool x');
    const hs = staticDim(h, 'maxPool height'), ws = staticDim(wd, 'maxPool width');
    if (hs % k !== 0 || ws % k !== 0) throw new RangeError(`maxPool: ${hs}x${ws} is not divisible by ${k}`);
    const y = this.emit('MaxPool', [x], { kernel_shape: [k, k], strides: [k, k], pads: [0, 0, 0, 0], dilations: [1, 1] }, [n, c, hs / k, ws / k]);
    return this.record([x], y, (g) => {
      const up = (v: Value): Value => this.upsample(v, k, x.shape);
      if (this.broken.maxPool) return [up(g)];
      // Mask-based backward: positions equal to their window's max get the gradient. Ties
      // (measure zero for real inputs; after a Relu they sit at 0 where Relu's own mask
      // already zeroes the gradient) would share it.
      const isMax = this.emit('Equal', [x, up(y)], {}, x.shape, DataType.BOOL);
      return [this.emit('Where', [isMax, up(g), this.scalar(0)], {}, x.shape)];
    });
  }

  /** [N, ...rest] -> [N, prod(rest)] */
  flatten(x: Value): Value {
    const size = x.shape.slice(1).reduce<number>((a, d) => a * staticDim(d, 'flatten'), 1);
    const y = this.emit('Flatten', [x], { axis: 1 }, [x.shape[0], size]);
    return this.record([x], y, (g) => [this.reshape0(g, x.shape)]);
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

  private record(inputs: readonly Value[], output: Value, backward: TapeEntry['backward']): Value {
    if (inputs.some((v) => this.tracked.has(v.name))) {
      this.tracked.add(output.name);
      this.tape.push({ inputs, output, backward });
    }
    return output;
  }

  /** ReduceSum over `axes` (null: all); ReduceSum takes axes as an input since opset 13 */
  private reduceSum(x: Value, axes: readonly number[] | null, keepdims: boolean): Value {
    const shape = axes === null
      ? (keepdims ? x.shape.map(() => 1) : [])
      : x.shape.flatMap((d, i) => (axes.includes(i) ? (keepdims ? [1] : []) : [d]));
    const inputs: Value[] = axes === null ? [x] : [x, this.constInt64(axes)];
    return this.emit('ReduceSum', inputs, { keepdims: keepdims ? 1 : 0 }, shape);
  }

  /** sums a broadcast gradient back down to `shape` (numpy rules, aligned on the right) */
  private unbroadcast(g: Value, shape: readonly Dim[]): Value {
    if (sameShape(g.shape, shape)) return g;
    const lead = g.shape.length - shape.length;
    const axes = g.shape.flatMap((d, i) => (i < lead || (shape[i - lead] === 1 && d !== 1) ? [i] : []));
    const summed = this.reduceSum(g, axes, true);
    return this.reshape0(summed, shape);
  }

  /** Reshape to `shape`, where a symbolic leading dimension is copied from the input (0). */
  private reshape0(x: Value, shape: readonly Dim[]): Value {
    const dims = shape.map((d, i) => {
      if (typeof d === 'number') return d;
      if (i !== 0 || typeof x.shape[0] !== 'string') throw new RangeError(`reshape: only a leading symbolic dim is supported, got [${shape}]`);
      return 0;
    });
    return this.emit('Reshape', [x, this.constInt64(dims)], {}, shape);
  }

  /**
   * nearest-neighbour k x k upsampling of [N, C, h, w] to `to`. Resize with integer scales
   * and asymmetric/floor coordinates copies each value into its k x k block; it runs much
   * faster on ORT's CPU kernels than the equivalent 6-D Reshape + Expand (~2 ms vs ~15 ms per
   * CNN step at batch 32).
   */
  private upsample(v: Value, k: number, to: readonly Dim[]): Value {
    const attrs = { mode: { string: 'nearest' }, coordinate_transformation_mode: { string: 'asymmetric' }, nearest_mode: { string: 'floor' } };
    return this.emit('Resize', [v, '', this.constFloat([1, 1, k, k])], attrs, to);
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

function expectRank(v: Value, rank: number, what: string): Dim[] {
  if (v.shape.length !== rank) throw new RangeError(`${what}: expected rank ${rank}, got shape [${v.shape}]`);
  return [...v.shape];
}

function staticDim(d: Dim, what: string): number {
  if (typeof d !== 'number') throw new RangeError(`${what}: dimension must be static, got ${d}`);
  return d;
}

function sizeOf(shape: readonly Dim[]): number {
  return shape.reduce<number>((a, d) => a * staticDim(d, 'size'), 1);
}

function sameShape(a: readonly Dim[], b: readonly Dim[]): boolean {
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
