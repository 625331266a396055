import {
  createModel,
  decodeCheckpoint,
  exportOnnx,
  fetchModelFile,
  hashParams,
  sessionModelSpec,
  type Checkpoint,
  type LocalDataSpec,
  type Model,
  type SessionConfig,
} from '@signvote/core';
import { fetchSnapshot } from './api';

/**
 * A finished session's trained model, from the snapshot the server stores at its end (GET
 * /api/sessions/ID/snapshot): checked against the session record's end before anything is
 * offered, so a download is the final parameters or nothing.
 */

export interface FinalModel {
  /** rounds applied: the session's final round */
  readonly round: number;
  /** hashParams of the parameters, equal to the record's final hash */
  readonly hash: string;
  readonly model: Model;
  /** the parameters, in `model.layout` order (length model.d) */
  readonly x: Float32Array;
  /** the session's own-data spec (config.data): its preprocessing goes into the exported graph */
  readonly data: LocalDataSpec | undefined;
  /** the checkpoint as the server sent it (signvote-checkpoint, msgpack; `signvote peer --resume` takes it) */
  readonly checkpoint: Uint8Array;
}

/**
 * Decodes a stored snapshot and checks it is the end the record names. decodeCheckpoint checks
 * the format and the pair hash; here: the session, the round and the parameter hash.
 * @throws Error with a sentence for the page when any of them differs
 */
export function verifyFinalSnapshot(bytes: Uint8Array, session: string, finished: { readonly round: number; readonly hash: string }): Checkpoint {
  const cp = decodeCheckpoint(bytes);
  if (cp.session !== session) throw new Error(`the stored parameters are of session ${cp.session}, not ${session}`);
  if (cp.round !== finished.round) throw new Error(`the server holds the parameters of round ${cp.round}, not of the final round ${finished.round}`);
  const hash = hashParams(cp.x);
  if (hash !== finished.hash) throw new Error(`the stored parameters hash to ${hash}, but the session finished with ${finished.hash}`);
  return cp;
}

/** Fetches, checks and loads the final model (the session's own model file too, when it has one). */
export async function loadFinalModel(server: string, session: string, token: string, config: SessionConfig, finished: { readonly round: number; readonly hash: string }): Promise<FinalModel> {
  const bytes = await fetchSnapshot(server, session, token);
  const cp = verifyFinalSnapshot(bytes, session, finished);
  const file = config.modelFile ? await fetchModelFile(server, config.modelFile) : undefined;
  const model = createModel(sessionModelSpec(config, file));
  if (model.d !== cp.x.length) throw new Error(`the stored parameters are ${cp.x.length} numbers, the session's model has d = ${model.d}`);
  return { round: cp.round, hash: finished.hash, model, x: cp.x, data: config.data, checkpoint: bytes };
}

/** The final model as ONNX, built in the page (core exportOnnx), with the file name to save it as. */
export function finalOnnx(f: FinalModel): { bytes: Uint8Array; name: string } {
  return { bytes: exportOnnx(f.model, f.x, { data: f.data }), name: `${f.model.name.replace(/\.onnx$/i, '')}-round${f.round}.onnx` };
}
