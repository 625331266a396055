import type { Logger } from 'pino';
import { MODEL_CAPS } from '@signvote/core';
import { HttpError } from './http';

/**
 * Where uploaded model files are kept (models.ts serves them): in this process's memory (the
 * default), or in Redis (redis-model-files.ts) so every server process on one Redis serves the
 * same files. A file is named by the SHA-256 of its bytes, written once, at most `maxModelBytes`;
 * all files together at most `maxStoreBytes`: a file that does not fit makes room by forgetting
 * the least recently used files no live session names, or is refused (507).
 */

export interface ModelStoreLimits {
  /** one file (default MODEL_CAPS.bytes, 64 MiB) */
  maxModelBytes: number;
  /** all files together (default 256 MiB) */
  maxStoreBytes: number;
}

export const defaultModelStoreLimits: ModelStoreLimits = { maxModelBytes: MODEL_CAPS.bytes, maxStoreBytes: 256 * 1024 * 1024 };

/** what POST /api/models answers; `name` is the uploader's */
export interface ModelSummary {
  readonly sha256: string;
  readonly bytes: number;
  readonly name: string;
  readonly d: number;
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  /** the model takes token ids in [0, tokens) (an integer input), not features; absent otherwise */
  readonly tokens?: number;
}

export interface ModelFiles {
  /** the stored file's summary (as first uploaded), or undefined; counts as a use */
  summary(sha256: string): Promise<ModelSummary | undefined>;
  /** the stored file's bytes, or undefined; counts as a use */
  read(sha256: string): Promise<Uint8Array | undefined>;
  /**
   * Keeps a file under `summary.sha256` (nothing changes when it is there already). Throws
   * HttpError 507 when it does not fit even after forgetting every file no live session names.
   */
  write(summary: ModelSummary, bytes: Uint8Array): Promise<void>;
  /** a session names the file: it is not forgotten while the session lives */
  pin(sha256: string, sessionId: string): Promise<void>;
}

export const storeFullError = (limits: ModelStoreLimits): HttpError =>
  new HttpError(507, `the model store is full (${limits.maxStoreBytes} bytes, mostly files that live sessions name); try again when sessions end`);

interface Stored {
  readonly bytes: Uint8Array;
  readonly summary: ModelSummary;
  lastUsed: number;
}

/** One process's files, in a map. */
export class MemoryModelFiles implements ModelFiles {
  private readonly files = new Map<string, Stored>();
  /** sha256 -> sessions created with it */
  private readonly pins = new Map<string, Set<string>>();
  private total = 0;

  constructor(
    private readonly limits: ModelStoreLimits,
    /** whether a session still lives (its file stays) */
    private readonly isLive: (sessionId: string) => boolean,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  private use(sha256: string): Stored | undefined {
    const entry = this.files.get(sha256);
    if (entry) entry.lastUsed = this.now();
    return entry;
  }

  async summary(sha256: string) {
    return this.use(sha256)?.summary;
  }

  async read(sha256: string) {
    return this.use(sha256)?.bytes;
  }

  private pinned(sha256: string): boolean {
    const sessions = this.pins.get(sha256);
    if (!sessions) return false;
    for (const id of sessions) if (!this.isLive(id)) sessions.delete(id);
    return sessions.size > 0;
  }

  async write(summary: ModelSummary, bytes: Uint8Array) {
    if (this.use(summary.sha256)) return;
    const size = bytes.byteLength;
    if (this.total + size > this.limits.maxStoreBytes) {
      const idle = [...this.files.entries()].filter(([sha]) => !this.pinned(sha)).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
      const freeable = idle.reduce((a, [, e]) => a + e.bytes.byteLength, 0);
      // forget nothing unless forgetting makes room
      if (this.total - freeable + size > this.limits.maxStoreBytes) throw storeFullError(this.limits);
      for (const [sha, entry] of idle) {
        if (this.total + size <= this.limits.maxStoreBytes) break;
        this.files.delete(sha);
        this.pins.delete(sha);
        this.total -= entry.bytes.byteLength;
        this.log.info({ sha256: sha }, 'model file forgotten (store full)');
      }
    }
    this.files.set(summary.sha256, { bytes: bytes.slice(), summary, lastUsed: this.now() });
    this.total += size;
  }

  async pin(sha256: string, sessionId: string) {
    let sessions = this.pins.get(sha256);
    if (!sessions) this.pins.set(sha256, (sessions = new Set()));
    sessions.add(sessionId);
  }
}
