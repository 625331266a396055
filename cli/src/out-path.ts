import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CliError, EXIT } from './exit';

/**
 * Files the CLI writes (`peer --checkpoint`, `peer --export`, `session download -o`), checked
 * before any work starts: a path that cannot be written must fail at once, not after a whole
 * session has trained the model it was meant to keep. Missing folders are fine (the writer
 * creates them, `mkdir -p`); what is refused is a path under a regular file, a path that is a
 * folder, and a place this user may not write.
 */

/**
 * The absolute path of `path`, or a usage error (exit 2) naming `flag`, the path and what to
 * change. Does not create anything.
 */
export function checkWritablePath(flag: string, path: string): string {
  const file = resolve(path);
  if (existsSync(file)) {
    if (statSync(file).isDirectory()) throw new CliError(`${flag} ${path}: is a folder; give a file path inside it (e.g. ${path.replace(/\/+$/, '')}/model.onnx)`, EXIT.usage);
    try {
      accessSync(file, constants.W_OK);
    } catch {
      throw new CliError(`${flag} ${path}: the file exists and this user may not write it; choose another path`, EXIT.usage);
    }
    return file;
  }
  // the nearest part of the path that exists must be a folder this user may write into
  let at = dirname(file);
  while (!existsSync(at)) at = dirname(at);
  if (!statSync(at).isDirectory()) throw new CliError(`${flag} ${path}: ${at} is a file, not a folder; choose a path in a folder`, EXIT.usage);
  try {
    accessSync(at, constants.W_OK);
  } catch {
    throw new CliError(`${flag} ${path}: this user may not write in ${at}; choose another folder`, EXIT.usage);
  }
  return file;
}

/** `--resume FILE` and other inputs: the file must exist and be a file (exit 2 otherwise) */
export function checkReadableFile(flag: string, path: string): string {
  const file = resolve(path);
  if (!existsSync(file)) throw new CliError(`${flag} ${path}: no such file (${file})`, EXIT.usage);
  if (!statSync(file).isFile()) throw new CliError(`${flag} ${path}: not a file`, EXIT.usage);
  return file;
}
