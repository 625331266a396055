import type { SessionConfig } from '@signvote/core';
import { CliError, EXIT } from './exit';

/**
 * `--data PATH` against what the session trains on: the server's dataset (no --data) or each
 * peer's own files (--data needed). One sentence for `peer`, which checks it before joining, and
 * `start`, which checks it before it serves or creates anything. Null when they fit.
 */
export function dataFlagMismatch(config: Pick<SessionConfig, 'data' | 'dataset'>, data: string | undefined): CliError | null {
  if (!config.data) {
    return data === undefined ? null : new CliError(`--data: this session trains on the server's ${config.dataset} data; --data is for sessions whose peers bring their own (--data-spec)`, EXIT.usage);
  }
  if (data !== undefined) return null;
  const what =
    config.data.format === 'csv'
      ? `a CSV file (header row; label column ${config.data.labelColumn ? `"${config.data.labelColumn}"` : 'last'}; classes ${config.data.classes.join(', ')})`
      : `a folder with one sub-folder per class (${config.data.classes.join(', ')}) of PNG/JPEG images`;
  return new CliError(`this session trains on each peer's own data: pass --data PATH, ${what}`, EXIT.usage);
}
