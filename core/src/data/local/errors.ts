/**
 * A peer's own data does not fit the session. The message names the file and, where there is
 * one, the line and column (CSV) so the user can fix the very cell; the peer does not join.
 */
export class DataError extends Error {
  override readonly name = 'DataError';
  constructor(
    message: string,
    /** the file (a CSV, or an image's path under the data folder) */
    readonly file: string,
    readonly where: { readonly line?: number; readonly column?: string } = {},
  ) {
    super(message);
  }
}
