import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
import { describeIssues } from '@signvote/core';
import { storeFullError, type ModelFiles, type ModelStoreLimits, type ModelSummary } from './model-files';

/**
 * Uploaded model files in Redis (model-files.ts has the rules), so a peer fetches its session's
 * model from whichever server process it reaches. Keys, under the store's prefix:
 *
 * - `model:SHA`: the file's bytes, written once (SET NX: the name is the content's hash);
 * - `model-summary:SHA`: what its import found (JSON, validated on every read);
 * - `models`: sorted set SHA -> last use (ms), the order files are forgotten in;
 * - `model-pins:SHA`: the sessions that name the file; it is kept while one of them exists.
 *
 * The cap on all files together is checked before each write; two uploads of different files
 * through two processes at the same instant may pass it together (it is not one transaction over
 * all files), as with snapshots.
 */

const summarySchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
  name: z.string(),
  d: z.number().int().positive(),
  inputShape: z.array(z.number().int().positive()),
  numClasses: z.number().int().positive(),
  tokens: z.number().int().positive().optional(),
});

export class RedisModelFiles implements ModelFiles {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limits: ModelStoreLimits,
    /** whether a session still exists (its files stay) */
    private readonly isLive: (sessionId: string) => Promise<boolean>,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  private key(kind: 'model' | 'model-summary' | 'model-pins', sha256: string): string {
    return `${this.prefix}${kind}:${sha256}`;
  }

  private get order(): string {
    return `${this.prefix}models`;
  }

  /** marks a file used, if it is still listed */
  private async touch(sha256: string): Promise<void> {
    await this.redis.zadd(this.order, 'XX', this.now(), sha256);
  }

  async summary(sha256: string): Promise<ModelSummary | undefined> {
    const json = await this.redis.get(this.key('model-summary', sha256));
    if (json === null) return undefined;
    let parsed;
    try {
      parsed = summarySchema.safeParse(JSON.parse(json));
    } catch (err) {
      throw new Error(`model file ${sha256}: its summary in Redis is not JSON: ${(err as Error).message}`);
    }
    if (!parsed.success) throw new Error(`model file ${sha256}: its summary in Redis is malformed: ${describeIssues(parsed.error)}`);
    await this.touch(sha256);
    return parsed.data;
  }

  async read(sha256: string): Promise<Uint8Array | undefined> {
    const bytes = await this.redis.getBuffer(this.key('model', sha256));
    if (bytes === null) return undefined;
    await this.touch(sha256);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async write(summary: ModelSummary, bytes: Uint8Array): Promise<void> {
    if ((await this.redis.exists(this.key('model', summary.sha256))) === 1) {
      await this.touch(summary.sha256);
      return;
    }
    await this.makeRoom(bytes.byteLength);
    await this.redis
      .multi()
      .set(this.key('model', summary.sha256), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'NX')
      .set(this.key('model-summary', summary.sha256), JSON.stringify(summary), 'NX')
      .zadd(this.order, this.now(), summary.sha256)
      .exec();
  }

  async pin(sha256: string, sessionId: string): Promise<void> {
    await this.redis.sadd(this.key('model-pins', sha256), sessionId);
  }

  /** whether a live session names the file; forgets the pins of sessions that are gone */
  private async pinned(sha256: string): Promise<boolean> {
    const key = this.key('model-pins', sha256);
    let live = false;
    for (const id of await this.redis.smembers(key)) {
      if (await this.isLive(id)) live = true;
      else await this.redis.srem(key, id);
    }
    return live;
  }

  private async makeRoom(size: number): Promise<void> {
    // least recently used first
    const shas = await this.redis.zrange(this.order, 0, -1);
    const p = this.redis.pipeline();
    for (const sha of shas) p.strlen(this.key('model', sha));
    const sizes = ((await p.exec()) ?? []).map(([, n]) => (typeof n === 'number' ? n : 0));
    let total = sizes.reduce((a, n) => a + n, 0);
    if (total + size <= this.limits.maxStoreBytes) return;
    const idle: { sha: string; size: number }[] = [];
    for (let i = 0; i < shas.length; i++) if (!(await this.pinned(shas[i]))) idle.push({ sha: shas[i], size: sizes[i] });
    const freeable = idle.reduce((a, e) => a + e.size, 0);
    // forget nothing unless forgetting makes room
    if (total - freeable + size > this.limits.maxStoreBytes) throw storeFullError(this.limits);
    for (const { sha, size: freed } of idle) {
      if (total + size <= this.limits.maxStoreBytes) break;
      await this.redis.multi().del(this.key('model', sha), this.key('model-summary', sha), this.key('model-pins', sha)).zrem(this.order, sha).exec();
      total -= freed;
      this.log.info({ sha256: sha }, 'model file forgotten (store full)');
    }
  }
}
