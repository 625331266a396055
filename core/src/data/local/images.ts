import { decode as decodePng, convertIndexedToRgb, hasPngSignature } from 'fast-png';
import { decode as decodeJpeg } from 'jpeg-js';
import { checkDataset, type Dataset } from '../dataset';
import { DataError } from './errors';
import type { ImageDataSpec } from './spec';

/**
 * A peer's folder of images (one sub-folder per class) as a Dataset. PNG is decoded by
 * fast-png, JPEG by jpeg-js: both pure JavaScript, so Node and the page's worker decode the
 * same bytes to the same pixels. Each image becomes the session's [channels, height, width]:
 * alpha composited onto black, luminance or RGB, area-averaged to the size, scaled to [0, 1],
 * optionally inverted and standardized.
 */

/** one file of the folder: its path relative to the folder ("cat/001.png") and its bytes */
export interface ImageFile {
  readonly path: string;
  readonly bytes: Uint8Array;
}

/** decoded pixels, 8-bit RGBA, row-major */
export interface Rgba {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** refuse images over this many pixels before decoding them (a 16 MP photo is 64 MB of RGBA) */
const MAX_PIXELS = 16_000_000;
const IMAGE_EXTENSIONS = /\.(png|jpe?g)$/i;

/** PNG or JPEG bytes to RGBA, by the bytes' signature (not the name); DataError naming `file` otherwise */
export function decodeImage(file: string, bytes: Uint8Array): Rgba {
  try {
    if (hasPngSignature(bytes)) return pngToRgba(decodePng(bytes));
    if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
      const img = decodeJpeg(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 512 });
      return { width: img.width, height: img.height, data: img.data };
    }
  } catch (err) {
    throw new DataError(`${file}: cannot decode the image (${(err as Error).message})`, file);
  }
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new DataError(`${file}: not a PNG or JPEG file (it starts with ${head || 'nothing: the file is empty'})`, file);
}

function pngToRgba(png: ReturnType<typeof decodePng>): Rgba {
  const { width, height } = png;
  if (width * height > MAX_PIXELS) throw new Error(`${width}x${height} is over ${MAX_PIXELS} pixels`);
  let data = png.data;
  let channels = png.channels;
  if (png.palette) {
    data = convertIndexedToRgb(png);
    channels = png.palette[0]?.length ?? 3;
  }
  // 16-bit samples keep their high byte; 1/2/4-bit grey is unpacked by fast-png to 8 bits
  const shift = png.depth === 16 && !png.palette ? 8 : 0;
  const out = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const s = i * channels;
    const v = (k: number) => data[s + k] >> shift;
    const [r, g, b, a] = channels >= 3 ? [v(0), v(1), v(2), channels === 4 ? v(3) : 255] : [v(0), v(0), v(0), channels === 2 ? v(1) : 255];
    out.set([r, g, b, a], i * 4);
  }
  return { width, height, data: out };
}

/**
 * One sample: alpha onto black, luminance (channels 1) or RGB (3), area-averaged to height x
 * width, in [0, 1] (then inverted and standardized as the session says). Channel-major, as
 * Conv takes it.
 */
export function imageToSample(img: Rgba, spec: Pick<ImageDataSpec, 'channels' | 'height' | 'width' | 'invert' | 'standardize'>): Float32Array {
  const { width: W, height: H, data } = img;
  const C = spec.channels;
  const planes = new Float32Array(C * W * H);
  for (let i = 0; i < W * H; i++) {
    const a = data[i * 4 + 3] / 255;
    const [r, g, b] = [data[i * 4] * a, data[i * 4 + 1] * a, data[i * 4 + 2] * a];
    if (C === 1) planes[i] = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
    else {
      planes[i] = r / 255;
      planes[W * H + i] = g / 255;
      planes[2 * W * H + i] = b / 255;
    }
  }
  const out = new Float32Array(C * spec.height * spec.width);
  for (let c = 0; c < C; c++) {
    resizeArea(planes.subarray(c * W * H, (c + 1) * W * H), W, H, out.subarray(c * spec.width * spec.height, (c + 1) * spec.width * spec.height), spec.width, spec.height);
  }
  const plane = spec.width * spec.height;
  for (let i = 0; i < out.length; i++) {
    let v = spec.invert ? 1 - out[i] : out[i];
    if (spec.standardize) {
      const c = Math.floor(i / plane);
      v = (v - spec.standardize.mean[c]) / spec.standardize.std[c];
    }
    out[i] = v;
  }
  return out;
}

/**
 * Area-average resampling: each output pixel is the mean of the source area it covers
 * (fractional pixels weighted by coverage). Shrinking averages, growing repeats; an image of
 * the target size is copied unchanged.
 */
export function resizeArea(src: Float32Array, sw: number, sh: number, dst: Float32Array, dw: number, dh: number): void {
  const xs = coverage(sw, dw), ys = coverage(sh, dh);
  for (let oy = 0; oy < dh; oy++) {
    for (let ox = 0; ox < dw; ox++) {
      let sum = 0, weight = 0;
      for (const [sy, wy] of ys[oy]) {
        for (const [sx, wx] of xs[ox]) {
          sum += src[sy * sw + sx] * wx * wy;
          weight += wx * wy;
        }
      }
      dst[oy * dw + ox] = sum / weight;
    }
  }
}

/** per output index, the source indices it covers and how much of each */
function coverage(from: number, to: number): [number, number][][] {
  const scale = from / to;
  return Array.from({ length: to }, (_, o) => {
    const start = o * scale, end = (o + 1) * scale;
    const parts: [number, number][] = [];
    for (let s = Math.floor(start); s < Math.min(from, Math.ceil(end)); s++) {
      const w = Math.min(end, s + 1) - Math.max(start, s);
      if (w > 1e-9) parts.push([s, w]);
    }
    return parts;
  });
}

/**
 * The folder as a Dataset. `files` are paths relative to the folder. A file in a class folder
 * must be a PNG or JPEG; a folder that is not one of the session's classes, or an image that
 * cannot be decoded, is a DataError naming it. Hidden files (".DS_Store") and files beside the
 * class folders (a README) are skipped. Samples are in path order, so every run reads alike.
 */
export function imageFolderDataset(folder: string, files: readonly ImageFile[], spec: ImageDataSpec, inputShape: readonly number[]): Dataset {
  const classIndex = new Map(spec.classes.map((c, i) => [c, i]));
  const features = spec.channels * spec.height * spec.width;
  const expected = inputShape.reduce((a, b) => a * b, 1);
  if (features !== expected) {
    // the spec and the model disagree, whatever the folder holds: no folder name in the sentence
    throw new DataError(`the session makes ${spec.channels}x${spec.height}x${spec.width} = ${features} inputs per image, its model takes ${expected}`, folder);
  }
  if (spec.standardize && spec.standardize.mean.length !== spec.channels) {
    throw new DataError(`the session standardizes ${spec.standardize.mean.length} channel${spec.standardize.mean.length === 1 ? '' : 's'}, its images have ${spec.channels}`, folder);
  }
  const samples = files
    .map((f) => ({ ...f, parts: f.path.split('/').filter((p) => p !== '') }))
    .filter((f) => f.parts.length >= 2 && !f.parts.some((p) => p.startsWith('.')))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const inputs = new Float32Array(samples.length * features);
  const labels = new Uint8Array(samples.length);
  samples.forEach((f, i) => {
    const where = `${folder}/${f.path}`;
    const label = classIndex.get(f.parts[0]);
    if (label === undefined) throw new DataError(`${folder}/${f.parts[0]}: folder "${f.parts[0]}" is not one of the session's classes (${spec.classes.join(', ')})`, `${folder}/${f.parts[0]}`);
    if (f.parts.length > 2) throw new DataError(`${where}: images go directly in a class folder (${folder}/<class>/<image>), not in sub-folders`, where);
    if (!IMAGE_EXTENSIONS.test(f.path)) throw new DataError(`${where}: not a .png, .jpg or .jpeg file`, where);
    inputs.set(imageToSample(decodeImage(where, f.bytes), spec), i * features);
    labels[i] = label;
  });
  if (samples.length === 0) {
    throw new DataError(`${folder}: no images; expected one sub-folder per class (${spec.classes.join(', ')}) holding PNG or JPEG files`, folder);
  }
  return checkDataset({ name: folder, inputs, labels, count: samples.length, inputShape, numClasses: spec.classes.length });
}
