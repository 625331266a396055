import { mkdir, readFile, rename, writeFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DecodeError } from '../decode-error';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointStore } from '../session/checkpoint';

/**
 * Checkpoints in one file. Saves are atomic (write a temporary file beside it, then rename
 * over it), so a crash mid-save leaves the previous checkpoint intact; loads are validated
 * (format, sizes, parameter hash), so a torn or foreign file is a DecodeError naming the file,
 * never bad params. A file that cannot be read at all is the file system's error.
 */
export function createFileCheckpointStore(path: string): CheckpointStore {
  let seq = 0;
  // saves land in call order: an older save must never rename over a newer one
  let last: Promise<void> = Promise.resolve();
  const write = async (cp: Parameters<CheckpointStore['save']>[0]): Promise<void> => {
      const bytes = encodeCheckpoint(cp);
      await mkdir(dirname(path), { recursive: true });
      const tmp = `${path}.${process.pid}.${++seq}.tmp`;
      try {
        await writeFile(tmp, bytes, { flush: true });
        await rename(tmp, path);
      } catch (e) {
        await rm(tmp, { force: true });
        throw e;
      }
  };
  return {
    save(cp) {
      const run = last.then(() => write(cp));
      last = run.catch(() => {});
      return run;
    },
    async load() {
      let bytes: Uint8Array;
      try {
        bytes = await readFile(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
      try {
        return decodeCheckpoint(bytes);
      } catch (e) {
        if (e instanceof DecodeError) throw new DecodeError(`checkpoint ${path}: ${e.message}`, { cause: e });
        throw e;
      }
    },
  };
}
