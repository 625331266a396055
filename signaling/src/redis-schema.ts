import { z } from 'zod';
import { recordEvalSchema } from '@signvote/core';

/**
 * A session as redis-store.ts keeps it in Redis (JSON under `session:ID`), validated on every read:
 * what comes back from Redis crosses a process boundary like any input.
 */

const seatSchema = z.object({
  id: z.string(),
  seq: z.number().int().nonnegative(),
  info: z.object({ backend: z.enum(['webgpu', 'wasm', 'node']), label: z.string().max(64).optional() }),
  resumeHash: z.string().regex(/^[0-9a-f]{64}$/),
  server: z.string(),
  socket: z.string(),
});

const pointsSchema = z.array(z.tuple([z.number(), z.string()]));
const ledgerStateSchema = z.object({
  status: z.enum(['waiting', 'running', 'finished']),
  round: z.number().int().nonnegative(),
  hash: z.string().nullable(),
  term: z.number().int().nonnegative(),
  shards: z.number().int().positive().nullable(),
  startedAt: z.number().nullable(),
  finished: z.object({ round: z.number(), hash: z.string(), at: z.number() }).nullable(),
  eval: recordEvalSchema.nullable(),
  snapshot: z.object({ round: z.number(), hash: z.string(), size: z.number().int().nonnegative() }).nullable(),
  evals: z.object({ points: z.array(recordEvalSchema), tail: recordEvalSchema.nullable(), stride: z.number().int().positive(), seen: z.number().int().nonnegative() }),
  resumable: z.boolean(),
  updatedAt: z.number(),
  members: z.array(z.string()),
  epoch: z.number().int().nonnegative(),
  leaders: pointsSchema,
  shardOf: z.array(z.tuple([z.string(), z.number().int().nonnegative()])),
  recent: pointsSchema,
  checkpoints: pointsSchema,
});

export const storedSessionSchema = z.object({
  id: z.string(),
  config: z.unknown(),
  createdAt: z.number(),
  tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
  adminHash: z.string().regex(/^[0-9a-f]{64}$/),
  seats: z.array(seatSchema),
  nextSeq: z.number().int().nonnegative(),
  epoch: z.number().int().nonnegative(),
  reports: z.array(z.tuple([z.string(), z.array(z.string())])),
  idleSince: z.number().nullable(),
  ledger: ledgerStateSchema,
});
export type StoredSession = z.infer<typeof storedSessionSchema>;

