import { DecodeError } from '../decode-error';
import { checkDataset, featureSize, inputsToPixels, pixelsToInputs, type Dataset } from './dataset';

/**
 * Compact binary form of a Dataset, how browsers receive their data from the signaling server.
 * Pixels travel as u8 (every dataset here is 8-bit imagery, so this is lossless and 4x smaller
 * than f32; JSON would be ~15x larger). Little-endian layout:
 *
 *   0  magic "SVDS"          4  version u16 (=1)     6  numClasses u16
 *   8  count u32            12  rank u8             13  name length u8 (bytes of UTF-8)
 *  14  reserved u16 (=0)    16  dims u32 x rank, then name, then count*features pixel u8,
 *                               then count label u8, then CRC-32 (IEEE) of all preceding bytes u32
 *
 * The CRC catches corruption the size checks cannot (a flipped pixel).
 */
const MAGIC = [0x53, 0x56, 0x44, 0x53]; // "SVDS"
export const DATASET_CODEC_VERSION = 1;
const FIXED_HEADER = 16;
const MAX_RANK = 4;

export function encodedDatasetBytes(data: Pick<Dataset, 'name' | 'count' | 'inputShape'>): number {
  const nameBytes = new TextEncoder().encode(data.name).length;
  return FIXED_HEADER + 4 * data.inputShape.length + nameBytes + data.count * (featureSize(data) + 1) + 4;
}

export function encodeDataset(data: Dataset): Uint8Array {
  checkDataset(data);
  const name = new TextEncoder().encode(data.name);
  if (name.length > 255) throw new RangeError(`dataset name is ${name.length} bytes of UTF-8, at most 255`);
  if (data.inputShape.length < 1 || data.inputShape.length > MAX_RANK) throw new RangeError(`input rank ${data.inputShape.length} outside 1..${MAX_RANK}`);
  if (data.numClasses > 0xffff) throw new RangeError(`numClasses ${data.numClasses} too large`);
  const out = new Uint8Array(encodedDatasetBytes(data));
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint16(4, DATASET_CODEC_VERSION, true);
  view.setUint16(6, data.numClasses, true);
  view.setUint32(8, data.count, true);
  out[12] = data.inputShape.length;
  out[13] = name.length;
  let at = FIXED_HEADER;
  for (const s of data.inputShape) { view.setUint32(at, s, true); at += 4; }
  out.set(name, at); at += name.length;
  out.set(inputsToPixels(data.inputs), at); at += data.inputs.length;
  out.set(data.labels, at); at += data.count;
  view.setUint32(at, crc32(out.subarray(0, at)), true);
  return out;
}

/** Inverse of encodeDataset; throws a DecodeError naming the problem on any malformed input. */
export function decodeDataset(bytes: Uint8Array): Dataset {
  const fail = (why: string): never => { throw new DecodeError(`bad dataset bytes: ${why}`); };
  if (!(bytes instanceof Uint8Array)) fail('not a byte array');
  if (bytes.length < FIXED_HEADER + 4) fail(`${bytes.length} bytes, shorter than the header`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) fail('magic is not "SVDS"');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (version !== DATASET_CODEC_VERSION) fail(`version ${version}, this build reads ${DATASET_CODEC_VERSION}`);
  const numClasses = view.getUint16(6, true);
  const count = view.getUint32(8, true);
  const rank = bytes[12], nameLength = bytes[13];
  if (rank < 1 || rank > MAX_RANK) fail(`rank ${rank} outside 1..${MAX_RANK}`);
  if (numClasses < 1 || numClasses > 256) fail(`numClasses ${numClasses} outside 1..256`);
  if (view.getUint16(14, true) !== 0) fail('reserved header bytes are not zero');
  if (bytes.length < FIXED_HEADER + 4 * rank + nameLength + 4) fail('truncated header');
  const inputShape: number[] = [];
  let at = FIXED_HEADER;
  for (let k = 0; k < rank; k++) {
    const s = view.getUint32(at, true); at += 4;
    if (s === 0) fail(`dimension ${k} is zero`);
    inputShape.push(s);
  }
  const features = inputShape.reduce((a, b) => a * b, 1);
  const expected = FIXED_HEADER + 4 * rank + nameLength + count * (features + 1) + 4;
  if (bytes.length !== expected) fail(`${count} samples of shape [${inputShape.join(', ')}] need ${expected} bytes, got ${bytes.length}`);
  const crcAt = bytes.length - 4;
  if (crc32(bytes.subarray(0, crcAt)) !== view.getUint32(crcAt, true)) fail('checksum mismatch (corrupted)');
  let name: string;
  try {
    name = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(at, at + nameLength));
  } catch {
    return fail('name is not UTF-8');
  }
  at += nameLength;
  const inputs = pixelsToInputs(bytes.subarray(at, at + count * features)); at += count * features;
  const labels = bytes.slice(at, at + count);
  try {
    return checkDataset({ name, inputs, labels, count, inputShape, numClasses });
  } catch (e) {
    if (e instanceof RangeError) return fail(e.message);
    throw e;
  }
}

/**
 * CRC-32 (IEEE 802.3, as zlib/gzip), slicing-by-4: four table lookups per 4 bytes instead of
 * one per byte, ~3x faster on the 47 MB Fashion-MNIST training set.
 */
const CRC_TABLES = (() => {
  const t = new Uint32Array(4 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let s = 1; s < 4; s++) t[s * 256 + n] = (t[(s - 1) * 256 + n] >>> 8) ^ t[t[(s - 1) * 256 + n] & 0xff];
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  const t = CRC_TABLES;
  let c = 0xffffffff;
  let i = 0;
  const end4 = bytes.length & ~3;
  for (; i < end4; i += 4) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c = t[768 + (c & 0xff)] ^ t[512 + ((c >>> 8) & 0xff)] ^ t[256 + ((c >>> 16) & 0xff)] ^ t[c >>> 24];
  }
  for (; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
