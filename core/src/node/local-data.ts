import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { DataError, prepareLocalData, type ImageFile, type LocalData, type LocalSource } from '../data/local';
import type { LocalDataSpec } from '../data/local/spec';

/**
 * `signvote peer --data PATH`: a CSV file or a folder of images read from disk, then prepared
 * as the session says (data/local). Paths in messages are the ones the user gave.
 */

/** at most this many files under a data folder (a wrong path such as / must not walk the disk) */
const MAX_FILES = 200_000;

export async function readLocalSource(path: string): Promise<LocalSource> {
  const info = await stat(path).catch(() => null);
  if (!info) throw new DataError(`${path}: no such file or folder`, path);
  if (info.isFile()) return { kind: 'csv', file: path, bytes: new Uint8Array(await readFile(path)) };
  if (!info.isDirectory()) throw new DataError(`${path}: neither a file nor a folder`, path);
  const files: ImageFile[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        const rel = relative(path, full).split(sep).join('/');
        // files beside the class folders (a README) are not samples: skip them unread
        if (!rel.includes('/')) continue;
        if (files.length >= MAX_FILES) throw new DataError(`${path}: more than ${MAX_FILES} files`, path);
        files.push({ path: rel, bytes: new Uint8Array(await readFile(full)) });
      }
    }
  };
  await walk(path);
  return { kind: 'images', folder: path.replace(/[\\/]+$/, '') || path, files };
}

export async function loadLocalData(
  path: string,
  spec: LocalDataSpec,
  model: { readonly inputShape: readonly number[]; readonly numClasses: number },
  seed: number,
): Promise<LocalData> {
  return prepareLocalData(spec, await readLocalSource(path), model, seed);
}
