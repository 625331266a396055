import type { Model } from './model';

/**
 * A plain float64 forward pass and loss for any model, written independently of the ONNX
 * graph: the yardstick for gradient checks (central finite differences of this loss) and for
 * the graph's forward loss. Slow by design: clarity over speed.
 */
export interface ReferenceResult {
  /** mean cross-entropy */
  readonly loss: number;
  /** summed cross-entropy */
  readonly lossSum: number;
  /** argmax hits (first index wins ties, as ONNX ArgMax) */
  readonly correct: number;
  /** [count, numClasses] */
  readonly logits: Float64Array;
}

interface Tensor {
  data: Float64Array;
  /** per-sample shape */
  shape: number[];
}

export function referenceForward(
  model: Pick<Model, 'layers' | 'layout' | 'd' | 'inputShape' | 'numClasses'>,
  params: ArrayLike<number>,
  inputs: ArrayLike<number>,
  labels: ArrayLike<number>,
  count: number,
): ReferenceResult {
  if (params.length !== model.d) throw new RangeError(`params has length ${params.length}, model needs ${model.d}`);
  const features = model.inputShape.reduce((a, b) => a * b, 1);
  if (inputs.length !== count * features || labels.length !== count) throw new RangeError('inputs / labels do not match count');
  const tensor = (name: string): Float64Array => {
    const entry = model.layout.find((e) => e.name === name);
    if (!entry) throw new Error(`missing parameter ${name}`);
    return Float64Array.from({ length: entry.size }, (_, i) => params[entry.offset + i]);
  };
  const weights = new Map<string, Float64Array>(model.layout.map((e) => [e.name, tensor(e.name)]));
  const w = (name: string): Float64Array => weights.get(name)!;

  const k = model.numClasses;
  const logits = new Float64Array(count * k);
  let lossSum = 0, correct = 0;
  for (let n = 0; n < count; n++) {
    let h: Tensor = { data: Float64Array.from({ length: features }, (_, i) => inputs[n * features + i]), shape: [...model.inputShape] };
    for (const layer of model.layers) {
      switch (layer.kind) {
        case 'dense': h = dense(h, w(`${layer.name}.weight`), w(`${layer.name}.bias`), layer.inputs, layer.outputs); break;
        case 'conv': h = conv(h, w(`${layer.name}.weight`), w(`${layer.name}.bias`), layer.outChannels, layer.kernel, layer.pad); break;
        case 'relu': h = { data: h.data.map((v) => (v > 0 ? v : 0)), shape: h.shape }; break;
        case 'maxPool': h = maxPool(h, layer.size); break;
        case 'flatten': h = { data: h.data, shape: [h.data.length] }; break;
      }
    }
    const z = h.data;
    if (z.length !== k) throw new Error(`model produced ${z.length} logits, expected ${k}`);
    logits.set(z, n * k);
    let max = -Infinity, arg = 0;
    for (let c = 0; c < k; c++) if (z[c] > max) { max = z[c]; arg = c; }
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(z[c] - max);
    lossSum += Math.log(sum) + max - z[labels[n]];
    if (arg === labels[n]) correct++;
  }
  return { loss: lossSum / count, lossSum, correct, logits };
}

function dense(x: Tensor, w: Float64Array, b: Float64Array, inputs: number, outputs: number): Tensor {
  if (x.data.length !== inputs) throw new Error(`dense expects ${inputs} inputs, got ${x.data.length}`);
  const y = Float64Array.from(b);
  for (let i = 0; i < inputs; i++) {
    const xi = x.data[i];
    if (xi === 0) continue;
    for (let o = 0; o < outputs; o++) y[o] += xi * w[i * outputs + o];
  }
  return { data: y, shape: [outputs] };
}

function conv(x: Tensor, w: Float64Array, b: Float64Array, outChannels: number, k: number, pad: number): Tensor {
  const [c, h, wd] = x.shape;
  const oh = h + 2 * pad - k + 1, ow = wd + 2 * pad - k + 1;
  const y = new Float64Array(outChannels * oh * ow);
  for (let o = 0; o < outChannels; o++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let s = b[o];
        for (let ci = 0; ci < c; ci++) {
          for (let di = 0; di < k; di++) {
            const r = i + di - pad;
            if (r < 0 || r >= h) continue;
            for (let dj = 0; dj < k; dj++) {
              const q = j + dj - pad;
              if (q < 0 || q >= wd) continue;
              s += x.data[(ci * h + r) * wd + q] * w[((o * c + ci) * k + di) * k + dj];
            }
          }
        }
        y[(o * oh + i) * ow + j] = s;
      }
    }
  }
  return { data: y, shape: [outChannels, oh, ow] };
}

function maxPool(x: Tensor, size: number): Tensor {
  const [c, h, w] = x.shape;
  const oh = Math.floor(h / size), ow = Math.floor(w / size);
  const y = new Float64Array(c * oh * ow);
  for (let ci = 0; ci < c; ci++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let m = -Infinity;
        for (let di = 0; di < size; di++) for (let dj = 0; dj < size; dj++) m = Math.max(m, x.data[(ci * h + i * size + di) * w + j * size + dj]);
        y[(ci * oh + i) * ow + j] = m;
      }
    }
  }
  return { data: y, shape: [c, oh, ow] };
}
