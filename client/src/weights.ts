/**
 * First-layer weights as pictures: for an MLP on 28x28 digits, each hidden unit's 784 input
 * weights form an image of the stroke pattern it responds to, which sharpens as training goes;
 * for a CNN, each first-layer filter is a small image of the edge it detects.
 */

export interface LayoutEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
}

/**
 * The first layer's weight, with which side is the input, when it is a dense layer reading the
 * raw pixels (layouts list tensors in graph order). A CNN's first layer is a convolution, and
 * its later dense layer reads feature maps, whose weights are no picture: null then.
 */
export function findFirstLayer(layout: readonly LayoutEntry[], inputSize: number): { entry: LayoutEntry; unitsFirst: boolean } | null {
  const entry = layout[0];
  if (!entry || entry.shape.length !== 2) return null;
  const [a, b] = entry.shape;
  if (a === inputSize) return { entry, unitsFirst: false }; // [inputs, units]: x @ W
  if (b === inputSize) return { entry, unitsFirst: true }; // [units, inputs]: Gemm with transB
  return null;
}

/** Copies `units` hidden units out of the flat parameters, each as `inputSize` contiguous floats. */
export function extractUnits(
  params: Float32Array,
  layer: { entry: LayoutEntry; unitsFirst: boolean },
  inputSize: number,
  units: number,
): Float32Array {
  const { entry, unitsFirst } = layer;
  const total = unitsFirst ? entry.shape[0] : entry.shape[1];
  const n = Math.min(units, total);
  const out = new Float32Array(n * inputSize);
  for (let u = 0; u < n; u++) {
    if (unitsFirst) {
      out.set(params.subarray(entry.offset + u * inputSize, entry.offset + (u + 1) * inputSize), u * inputSize);
    } else {
      for (let i = 0; i < inputSize; i++) out[u * inputSize + i] = params[entry.offset + i * total + u];
    }
  }
  return out;
}

/**
 * One unit as RGBA grayscale: each image is scaled by its own largest |w| so small early
 * weights are visible; zero is mid-gray, positive light, negative dark.
 */
export function unitToRgba(weights: Float32Array, out = new Uint8ClampedArray(weights.length * 4)): Uint8ClampedArray {
  let peak = 0;
  for (const w of weights) peak = Math.max(peak, Math.abs(w));
  const scale = peak > 0 ? 127.5 / peak : 0;
  for (let i = 0; i < weights.length; i++) {
    const v = 127.5 + weights[i] * scale;
    out[4 * i] = v;
    out[4 * i + 1] = v;
    out[4 * i + 2] = v;
    out[4 * i + 3] = 255;
  }
  return out;
}

export interface Pictures {
  readonly units: number;
  readonly width: number;
  readonly height: number;
  /** `units` images of width*height floats, row-major */
  readonly data: Float32Array;
}

/**
 * How to draw a model's first layer, or null when it is no picture: a dense layer on square
 * single-channel images (one image per hidden unit), or a convolution on one input channel
 * (one image per filter).
 */
export function firstLayerPictures(
  layout: readonly LayoutEntry[],
  inputShape: readonly number[],
  maxUnits: number,
): ((params: Float32Array) => Pictures) | null {
  const first = layout[0];
  if (!first) return null;
  if (first.shape.length === 4 && first.shape[1] === 1) {
    const [filters, , kh, kw] = first.shape;
    const units = Math.min(filters, maxUnits);
    return (params) => ({ units, width: kw, height: kh, data: params.slice(first.offset, first.offset + units * kh * kw) });
  }
  const features = inputShape.reduce((a, b) => a * b, 1);
  const side = Math.round(Math.sqrt(features));
  const channels = inputShape.length === 3 ? inputShape[0] : 1;
  if (side * side !== features || channels !== 1) return null;
  const layer = findFirstLayer(layout, features);
  if (!layer) return null;
  return (params) => {
    const data = extractUnits(params, layer, features, maxUnits);
    return { units: data.length / features, width: side, height: side, data };
  };
}
