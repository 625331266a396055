import type { SessionConfig } from '@signvote/core';

/**
 * Messages between the page and the data worker (data-worker.ts), which reads and decodes a
 * peer's own files (a CSV, or a folder of PNG/JPEG images) off the page's thread before the
 * peer joins.
 */

/** a picked file and its path inside the picked folder ("zero/001.png"; the file name for a CSV) */
export interface PickedFile {
  readonly path: string;
  readonly file: File;
}

export interface PrepareRequest {
  readonly server: string;
  readonly config: SessionConfig;
  /** what the user picked: one CSV file, or a folder (its name, its files) */
  readonly source: { readonly kind: 'csv'; readonly file: PickedFile } | { readonly kind: 'images'; readonly folder: string; readonly files: readonly PickedFile[] };
}

export interface PreparedSplit {
  readonly name: string;
  readonly inputs: Float32Array;
  readonly labels: Uint8Array;
  readonly count: number;
  readonly inputShape: readonly number[];
  readonly numClasses: number;
}

export type DataAnswer =
  | { readonly ok: true; readonly train: PreparedSplit; readonly test: PreparedSplit; readonly counts: readonly { readonly name: string; readonly count: number }[] }
  /** `file`: the file (and line, column) a DataError names */
  | { readonly ok: false; readonly error: string; readonly file?: string };
