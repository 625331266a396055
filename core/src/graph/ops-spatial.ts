import { expectRank, staticDim, type GraphBuilder, type Value } from './builder';
import { DataType, type Dim } from './onnx-proto';

/**
 * 2-D convolution and pooling on [N, C, H, W] values, with their backward rules. Every
 * attribute is written out: ORT's WebGPU kernels do not fill in ONNX defaults ("dilations
 * should be 2D" otherwise).
 */

/** the geometry of a 2-D sliding window, per spatial axis [height, width] */
export interface Window2d {
  readonly kernel: readonly [number, number];
  readonly strides: readonly [number, number];
  /** ONNX order: [top, left, bottom, right] */
  readonly pads: readonly [number, number, number, number];
  readonly dilations: readonly [number, number];
}

/**
 * Output length along one spatial axis (ONNX / PyTorch rule). With `ceil`, a last window that
 * would start in the end padding is dropped.
 */
export function windowOutput(size: number, axis: 0 | 1, w: Window2d, ceil = false): number {
  const extent = (w.kernel[axis] - 1) * w.dilations[axis] + 1;
  const span = size + w.pads[axis] + w.pads[axis + 2] - extent;
  if (span < 0) throw new RangeError(`window of extent ${extent} does not fit an axis of ${size} (+ padding ${w.pads[axis]}, ${w.pads[axis + 2]})`);
  const s = w.strides[axis];
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + w.pads[axis]) out--;
  return out;
}

function outputShape(x: Value, channels: Dim, w: Window2d, ceil: boolean, what: string): Dim[] {
  const [n, , h, wd] = expectRank(x, 4, `${what} x`);
  return [n, channels, windowOutput(staticDim(h, `${what} height`), 0, w, ceil), windowOutput(staticDim(wd, `${what} width`), 1, w, ceil)];
}

/**
 * Pads and output_padding of the ConvTranspose that maps an output-sized gradient back onto an
 * input of `size`: (out - 1) s + extent - begin - end + output_padding = size.
 */
function transposeFit(size: number, out: number, axis: 0 | 1, w: Window2d): { end: number; extra: number } {
  const reach = (out - 1) * w.strides[axis] + (w.kernel[axis] - 1) * w.dilations[axis] + 1 - w.pads[axis];
  const end = w.pads[axis + 2];
  return reach - end <= size ? { end, extra: size - (reach - end) } : { end: reach - size, extra: 0 };
}

function backProjection(x: Value, y: Value, w: Window2d): { pads: number[]; output_padding: number[] } {
  const [fh, fw] = [0, 1].map((a) => transposeFit(x.shape[2 + a] as number, y.shape[2 + a] as number, a as 0 | 1, w));
  return { pads: [w.pads[0], w.pads[1], fh.end, fw.end], output_padding: [fh.extra, fw.extra] };
}

/** Conv (x [N, C, H, W], w [O, C/group, kh, kw], bias [O] or null) */
export function conv(b: GraphBuilder, x: Value, w: Value, bias: Value | null, win: Window2d, group = 1): Value {
  const [, c] = expectRank(x, 4, 'conv x');
  const [o, cg, kh, kw] = expectRank(w, 4, 'conv w');
  const channels = staticDim(c, 'conv channels');
  if (channels % group !== 0 || staticDim(o, 'conv filters') % group !== 0) throw new RangeError(`conv: ${channels} channels and ${o} filters do not split into ${group} groups`);
  if (cg !== channels / group) throw new RangeError(`conv: weight has ${cg} input channels per group, x has ${channels / group}`);
  if (kh !== win.kernel[0] || kw !== win.kernel[1]) throw new RangeError(`conv: kernel_shape [${win.kernel}] differs from the weight's [${kh}, ${kw}]`);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== o)) throw new RangeError(`conv: bias must be [${o}]`);
  const geometry = { strides: [...win.strides], dilations: [...win.dilations], group, pads: [...win.pads] };
  const inputs = bias ? [x, w, bias] : [x, w];
  const y = b.emit('Conv', inputs, { ...geometry, kernel_shape: [...win.kernel] }, outputShape(x, o, win, false, 'conv'));
  return b.record(inputs, y, (g, needs) => {
    // dx: the transposed convolution with the same kernel (ConvTranspose reads Conv's weight
    // [O, C/group, k, k] as [in, out/group, k, k], which is exactly the way back).
    const dx = needs[0] ? b.emit('ConvTranspose', [g, w], { ...geometry, ...backProjection(x, y, win), kernel_shape: [...win.kernel] }, x.shape) : null;
    return [dx, needs[1] ? kernelGradient(b, x, g, win, group) : null, bias && needs[2] ? b.reduceSum(g, [0, 2, 3], false) : null];
  });
}

/**
 * dw[o, c, i, j] = sum over batch and output positions of g[n, o, p, q] * x_pad[n, c, p s + i d,
 * q s + j d]: a convolution with the batch as the channel axis (input x^T [C/group, group N, H,
 * W], kernel g^T [O, N, oh, ow], grouped like the forward), in which the forward's stride
 * becomes the dilation and its dilation the stride. A stride that does not divide the padded
 * input leaves extra rows past the kernel; they are sliced off.
 */
function kernelGradient(b: GraphBuilder, x: Value, g: Value, win: Window2d, group: number): Value {
  const [n, c, h, wd] = x.shape;
  const [, o, oh, ow] = g.shape;
  const cg = (c as number) / group;
  let xT: Value;
  if (group === 1) xT = b.emit('Transpose', [x], { perm: [1, 0, 2, 3] }, [c, n, h, wd]);
  else {
    const split = b.emit('Reshape', [x, b.constInt64([0, group, cg, h as number, wd as number])], {}, [n, group, cg, h, wd]);
    const moved = b.emit('Transpose', [split], { perm: [2, 1, 0, 3, 4] }, [cg, group, n, h, wd]);
    xT = b.emit('Reshape', [moved, b.constInt64([cg, -1, h as number, wd as number])], {}, [cg, `${group}*${n}`, h, wd]);
  }
  const gT = b.emit('Transpose', [g], { perm: [1, 0, 2, 3] }, [o, n, oh, ow]);
  const reach = [0, 1].map((a) => Math.floor(((a === 0 ? (h as number) : (wd as number)) + win.pads[a] + win.pads[a + 2] - ((a === 0 ? (oh as number) : (ow as number)) - 1) * win.strides[a] - 1) / win.dilations[a]) + 1);
  const attrs = { strides: [...win.dilations], dilations: [...win.strides], group, pads: [...win.pads], kernel_shape: [oh as number, ow as number] };
  let dwT = b.emit('Conv', [xT, gT], attrs, [cg, o, reach[0], reach[1]]);
  if (reach[0] !== win.kernel[0] || reach[1] !== win.kernel[1]) {
    dwT = b.emit('Slice', [dwT, b.constInt64([0, 0]), b.constInt64([...win.kernel]), b.constInt64([2, 3])], {}, [cg, o, ...win.kernel]);
  }
  return b.emit('Transpose', [dwT], { perm: [1, 0, 2, 3] }, [o, cg, ...win.kernel]);
}

/** MaxPool; padding positions never win (ONNX pads MaxPool with -inf) */
export function maxPool(b: GraphBuilder, x: Value, win: Window2d, ceil = false): Value {
  const [, c, h, wd] = expectRank(x, 4, 'maxPool x');
  const shape = outputShape(x, c, win, ceil, 'maxPool');
  const attrs = { kernel_shape: [...win.kernel], strides: [...win.strides], pads: [...win.pads], dilations: [...win.dilations], ...(ceil ? { ceil_mode: 1 } : {}) };
  const [kh, kw] = win.kernel;
  const tiles = kh === win.strides[0] && kw === win.strides[1] && win.pads.every((p) => p === 0) && win.dilations.every((d) => d === 1)
    && (h as number) === (shape[2] as number) * kh && (wd as number) === (shape[3] as number) * kw;
  if (tiles) {
    // Non-overlapping windows that tile the input: mask-based backward, positions equal to
    // their window's max get the gradient. Ties (measure zero for real inputs; after a Relu
    // they sit at 0 where Relu's own mask already zeroes the gradient) would share it.
    const y = b.emit('MaxPool', [x], attrs, shape);
    return b.record([x], y, (g) => {
      const up = (v: Value): Value => upsample(b, v, [kh, kw], x.shape);
      if (b.broken.maxPool) return [up(g)];
      const isMax = b.emit('Equal', [x, up(y)], {}, x.shape, DataType.BOOL);
      return [b.emit('Where', [isMax, up(g), b.scalar(0)], {}, x.shape)];
    });
  }
  // Overlapping or padded windows: MaxPool's indices (flat positions in x) route each output's
  // gradient to its argmax, summed where windows share one.
  const [y, indices] = b.emitMulti('MaxPool', [x], { ...attrs, storage_order: 0 }, [{ shape }, { shape, type: DataType.INT64 }]);
  return b.record([x], y, (g) => {
    const flat = `${x.shape.join('*')}`;
    const flatX = b.emit('Reshape', [x, b.constInt64([-1])], {}, [flat]);
    const zeros = b.emit('ConstantOfShape', [b.emit('Shape', [flatX], {}, [1], DataType.INT64)], {}, [flat]);
    const gFlat = b.emit('Reshape', [g, b.constInt64([-1])], {}, [`${g.shape.join('*')}`]);
    const iFlat = b.emit('Reshape', [indices, b.constInt64([-1])], {}, gFlat.shape, DataType.INT64);
    const summed = b.emit('ScatterElements', [zeros, iFlat, gFlat], { axis: 0, reduction: { string: 'add' } }, [flat]);
    return [b.reshapeTo(summed, x.shape)];
  });
}

/**
 * AveragePool. The divisor of each output position is fixed by the geometry (window size, or
 * the part of it inside the input when count_include_pad is 0), so the backward is a constant
 * rescale followed by a ConvTranspose with a ones kernel per channel.
 */
export function averagePool(b: GraphBuilder, x: Value, win: Window2d, countIncludePad: boolean, ceil = false): Value {
  const [, c, h, wd] = expectRank(x, 4, 'averagePool x');
  if (win.dilations.some((d) => d !== 1)) throw new RangeError('averagePool: dilations are not supported');
  const shape = outputShape(x, c, win, ceil, 'averagePool');
  const attrs = { kernel_shape: [...win.kernel], strides: [...win.strides], pads: [...win.pads], ...(countIncludePad ? { count_include_pad: 1 } : {}), ...(ceil ? { ceil_mode: 1 } : {}) };
  const y = b.emit('AveragePool', [x], attrs, shape);
  return b.record([x], y, (g) => {
    const divisors = poolDivisors([h as number, wd as number], [shape[2] as number, shape[3] as number], win, countIncludePad);
    const uniform = divisors.every((v) => v === divisors[0]);
    const scale = uniform ? b.scalar(1 / divisors[0]) : b.constFloat(divisors.map((v) => 1 / v), [shape[2] as number, shape[3] as number]);
    const scaled = b.emit('Mul', [g, scale], {}, g.shape);
    const channels = staticDim(c, 'averagePool channels');
    const ones = b.constFloat(new Float32Array(channels * win.kernel[0] * win.kernel[1]).fill(1), [channels, 1, ...win.kernel]);
    const geometry = { strides: [...win.strides], dilations: [1, 1], group: channels, ...backProjection(x, y, win), kernel_shape: [...win.kernel] };
    return [b.emit('ConvTranspose', [scaled, ones], geometry, x.shape)];
  });
}

/**
 * Elements each AveragePool window averages over, row-major [oh * ow]: the window clipped to
 * the padded input (count_include_pad) or to the input itself.
 */
export function poolDivisors(size: readonly [number, number], out: readonly [number, number], win: Window2d, countIncludePad: boolean): number[] {
  const counts = [0, 1].map((a) => Array.from({ length: out[a] }, (_, i) => {
    const start = i * win.strides[a] - win.pads[a];
    const lo = countIncludePad ? -win.pads[a] : 0;
    const hi = countIncludePad ? size[a] + win.pads[a + 2] : size[a];
    return Math.min(start + win.kernel[a], hi) - Math.max(start, lo);
  }));
  return counts[0].flatMap((r) => counts[1].map((q) => r * q));
}

/**
 * Nearest-neighbour upsampling of [N, C, h, w] by integer factors. Resize with integer scales
 * and asymmetric/floor coordinates copies each value into its block; it runs much faster on
 * ORT's CPU kernels than the equivalent 6-D Reshape + Expand (~2 ms vs ~15 ms per CNN step at
 * batch 32).
 */
function upsample(b: GraphBuilder, v: Value, k: readonly [number, number], to: readonly Dim[]): Value {
  const attrs = { mode: { string: 'nearest' }, coordinate_transformation_mode: { string: 'asymmetric' }, nearest_mode: { string: 'floor' } };
  return b.emit('Resize', [v, '', b.constFloat([1, 1, k[0], k[1]])], attrs, to);
}
