import { checkDataset, pixelsToInputs, type Dataset } from './dataset';

/**
 * IDX files (LeCun's MNIST format, also Fashion-MNIST): magic = 0x00 0x00 <type> <rank>, then
 * rank big-endian u32 dimensions, then the data row-major. Only unsigned bytes (type 0x08) occur
 * in image datasets, so that is all this reader accepts. Works on bytes so browsers and Node share
 * it; decompression is the caller's (zlib in Node, DecompressionStream here for browsers).
 */
export interface IdxArray {
  readonly dims: readonly number[];
  /** a view into the input bytes, not a copy */
  readonly data: Uint8Array;
}

const IDX_TYPE_NAMES: Record<number, string> = { 0x08: 'u8', 0x09: 'i8', 0x0b: 'i16', 0x0c: 'i32', 0x0d: 'f32', 0x0e: 'f64' };

export function parseIdx(bytes: Uint8Array, what = 'IDX file'): IdxArray {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) throw new Error(`${what}: gzip data, decompress it first`);
  if (bytes.length < 4) throw new Error(`${what}: ${bytes.length} bytes, too short for an IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new Error(`${what}: bad magic ${hex(bytes.subarray(0, 4))}, expected 00 00 08 <rank>`);
  const type = bytes[2], rank = bytes[3];
  if (type !== 0x08) throw new Error(`${what}: element type 0x${type.toString(16)} (${IDX_TYPE_NAMES[type] ?? 'unknown'}) unsupported, only u8`);
  if (rank < 1 || rank > 4) throw new Error(`${what}: rank ${rank} unsupported (1..4)`);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) throw new Error(`${what}: truncated header (${bytes.length} < ${headerBytes} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let size = 1;
  for (let k = 0; k < rank; k++) {
    const n = view.getUint32(4 + 4 * k, false);
    dims.push(n);
    size *= n;
  }
  if (bytes.length !== headerBytes + size) {
    throw new Error(`${what}: dims [${dims.join(', ')}] need ${headerBytes + size} bytes, got ${bytes.length}`);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** Build an IDX u8 file (tests, tools). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new RangeError(`dims [${dims.join(', ')}] hold ${size} bytes, data has ${data.length}`);
  const out = new Uint8Array(4 + 4 * dims.length + size);
  out[2] = 0x08;
  out[3] = dims.length;
  const view = new DataView(out.buffer);
  dims.forEach((n, k) => view.setUint32(4 + 4 * k, n, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Pair an images file ([n, h, w]) with a labels file ([n]) into a Dataset. */
export function idxToDataset(name: string, images: IdxArray, labels: IdxArray, numClasses = 10): Dataset {
  if (images.dims.length !== 3) throw new Error(`${name}: images have rank ${images.dims.length}, expected 3 ([n, h, w])`);
  if (labels.dims.length !== 1) throw new Error(`${name}: labels have rank ${labels.dims.length}, expected 1`);
  const [count, h, w] = images.dims;
  if (labels.dims[0] !== count) throw new Error(`${name}: ${count} images but ${labels.dims[0]} labels`);
  return checkDataset({
    name,
    inputs: pixelsToInputs(images.data),
    labels: labels.data.slice(),
    count,
    inputShape: [1, h, w],
    numClasses,
  });
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** gunzip with the web platform's DecompressionStream (browsers, workers; also Node >= 18). */
export async function gunzipWeb(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Parse, decompressing first when the bytes are gzip (browser path). */
export async function parseIdxMaybeGzip(bytes: Uint8Array, what?: string): Promise<IdxArray> {
  return parseIdx(isGzip(bytes) ? await gunzipWeb(bytes) : bytes, what);
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}
