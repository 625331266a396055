import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { ModelFile } from '../config';

/**
 * A session's uploaded ONNX file, as a peer gets it: fetched from the signaling server
 * (GET /models/<sha256>.onnx) and checked against the SHA-256 and size the session config
 * names before anything is built from it. SHA-256 by @noble/hashes, so pages served over
 * plain http on a LAN (no crypto.subtle there) check the same way as Node.
 */

/** 64 lowercase hex digits */
export function sha256Hex(bytes: Uint8Array): string {
  return bytesToHex(sha256(bytes));
}

/** the file does not hash to what the session declares: the peer refuses to train on it */
export class ModelFileMismatchError extends Error {
  override readonly name = 'ModelFileMismatchError';
}

/** the path the signaling server serves a model file under */
export function modelFilePath(file: Pick<ModelFile, 'sha256'>): string {
  return `models/${file.sha256}.onnx`;
}

/** Throws ModelFileMismatchError unless `bytes` are the session's file (size, then SHA-256). */
export function verifyModelFile(bytes: Uint8Array, file: ModelFile, from = 'the server'): Uint8Array {
  if (bytes.byteLength !== file.bytes) {
    throw new ModelFileMismatchError(
      `the model file from ${from} has ${bytes.byteLength} bytes, the session's ${file.name} has ${file.bytes}: refusing to train on a different model`,
    );
  }
  const got = sha256Hex(bytes);
  if (got !== file.sha256) {
    throw new ModelFileMismatchError(
      `the model file from ${from} has SHA-256 ${got}, the session's ${file.name} has ${file.sha256}: refusing to train on a different model`,
    );
  }
  return bytes;
}

/** GET the session's model file from the signaling server and verify it. */
export async function fetchModelFile(serverUrl: string, file: ModelFile): Promise<Uint8Array> {
  const url = new URL(modelFilePath(file), serverUrl.endsWith('/') ? serverUrl : `${serverUrl}/`);
  let response: Response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new Error(`cannot fetch the session's model file ${file.name} from ${url.origin}: ${(err as Error).message}`);
  }
  if (!response.ok) throw new Error(`cannot fetch the session's model file ${file.name}: ${url.origin} answered ${response.status}`);
  return verifyModelFile(new Uint8Array(await response.arrayBuffer()), file, url.origin);
}
