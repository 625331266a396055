import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { algorithmConfigSchema, algorithmNames, partitionSchema, scheduleSchema } from '../../config';
import { adversaryKinds } from '../../optim/adversary';

/**
 * An experiment file (experiments/*.json) describes a grid of sessions:
 * algorithms x batch sizes x partitions x peer counts x seeds. Every cell is turned into a
 * full SessionConfig (core/src/config.ts) and run through the real session state
 * machine, so the schema here only adds the grid axes and how to plot and judge them.
 */

/**
 * One algorithm of the grid: the session's algorithm fields, all optional and WITHOUT the
 * session defaults (so the grid can tell "not given" from "given", e.g. for lr scaling).
 */
const a = algorithmConfigSchema.shape;
const algorithmEntrySchema = z
  .object({
    /** legend label, e.g. the paper's name */
    label: z.string().min(1).max(64),
    name: z.enum(algorithmNames),
    lr: a.lr.unwrap().optional(),
    schedule: a.schedule.unwrap().optional(),
    weightDecay: a.weightDecay.unwrap().optional(),
    theta: a.theta.unwrap().optional(),
    R: a.R.unwrap().optional(),
    alpha: a.alpha.unwrap().optional(),
    K: a.K.unwrap().optional(),
    eta: a.eta.unwrap().optional(),
    /** default 'zero' here (the paper's Sign(0) = 0), unlike a session's 'coin' */
    ties: a.ties.unwrap().optional(),
    /** tell the plot this one is the reference (drawn dashed) */
    reference: z.boolean().optional(),
  })
  .strict();
export type AlgorithmEntry = z.infer<typeof algorithmEntrySchema>;

/**
 * Learning rate scaled with batch size (paper section 4.1, after Goyal et al. 2017):
 * lr(b) = lr * b / referenceBatch. 'none' keeps each algorithm's lr as given.
 */
const lrScalingSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }).strict(),
  z.object({ kind: z.literal('linear'), referenceBatch: z.number().int().min(1).max(4096) }).strict(),
]);

/**
 * FOR RESEARCH: adversarial peers (optim/adversary.ts), a seeded choice of round(fraction n) peers
 * per seed. One setting, or a grid axis: every kind at every fraction, where fraction 0 is one
 * clean cell (not one per kind).
 */
const fractionSchema = z.number().min(0).max(0.9);
const adversariesSchema = z.union([
  z.object({ kind: z.enum(adversaryKinds), fraction: fractionSchema }).strict(),
  z.object({ kinds: z.array(z.enum(adversaryKinds)).min(1).max(adversaryKinds.length), fractions: z.array(fractionSchema).min(1).max(8) }).strict(),
]);
export type AdversariesConfig = z.infer<typeof adversariesSchema>;
const adversarySelector = z.object({ kind: z.enum(adversaryKinds), fraction: fractionSchema }).strict();

/** Selects grid cells; omitted axes match everything. */
const selectorSchema = z
  .object({
    batchSize: z.number().int().positive().optional(),
    partition: z.enum(['iid', 'dirichlet']).optional(),
    peers: z.number().int().positive().optional(),
    dataset: z.enum(['mnist', 'fashion-mnist', 'synthetic']).optional(),
  })
  .strict();
export type Selector = z.infer<typeof selectorSchema>;

/** keyed by batch size, e.g. { "8": 10000, "128": 625 } */
const byBatchSchema = z.record(z.string().regex(/^[0-9]+$/, 'keys are batch sizes'), z.number().int().min(1).max(1_000_000));

const metricSchema = z.enum(['final', 'best']).default('final');

/**
 * A claim of the paper, judged from our numbers by the report (never hand-written verdicts):
 * - gap: algorithm `a` beats `b` in every selected cell (mean accuracy over seeds);
 * - close: `a` is within `tolerance` points of `b` in every selected cell;
 * - drop: going from batch `from` to batch `to`, `a` loses fewer points than `b`;
 * - trend: for algorithm `a`, accuracy does not decrease as `axis` grows (within `tolerance` points).
 */
const claimSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('gap'),
      text: z.string().min(1).max(400),
      a: z.string().min(1),
      b: z.string().min(1),
      where: selectorSchema.default({}),
      metric: metricSchema,
    })
    .strict(),
  z
    .object({
      kind: z.literal('close'),
      text: z.string().min(1).max(400),
      a: z.string().min(1),
      b: z.string().min(1),
      /** points of test accuracy */
      tolerance: z.number().nonnegative(),
      where: selectorSchema.default({}),
      metric: metricSchema,
    })
    .strict(),
  z
    .object({
      kind: z.literal('drop'),
      text: z.string().min(1).max(400),
      a: z.string().min(1),
      b: z.string().min(1),
      from: z.number().int().positive(),
      to: z.number().int().positive(),
      where: selectorSchema.default({}),
      metric: metricSchema,
    })
    .strict(),
  // adversaries: `a` under `adversary` against `a` clean (same other axes)
  z
    .object({
      kind: z.literal('robust'),
      text: z.string().min(1).max(400),
      a: z.string().min(1),
      adversary: adversarySelector,
      /** at most this many points below clean in every selected cell */
      tolerance: z.number().nonnegative(),
      where: selectorSchema.default({}),
      metric: metricSchema,
    })
    .strict(),
  z
    .object({
      kind: z.literal('breaks'),
      text: z.string().min(1).max(400),
      a: z.string().min(1),
      adversary: adversarySelector,
      /** more than this many points below clean in every selected cell */
      by: z.number().nonnegative(),
      where: selectorSchema.default({}),
      metric: metricSchema,
    })
    .strict(),
  z
    .object({
      kind: z.literal('trend'),
      text: z.string().min(1).max(400),
      a: z.string().min(1),
      axis: z.enum(['peers', 'batchSize']),
      where: selectorSchema.default({}),
      tolerance: z.number().nonnegative().default(0.5),
      metric: metricSchema,
    })
    .strict(),
]);
export type Claim = z.infer<typeof claimSchema>;

const experimentConfigSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lower-case letters, digits, . _ - only'),
    title: z.string().min(1).max(200),
    /** where in the paper this comes from, and how we differ */
    paper: z.string().max(2000).default(''),
    /** true when seeds/rounds are cut below the paper's setting to fit the machine */
    reduced: z.boolean().default(false),
    reducedNote: z.string().max(2000).optional(),
    model: z.enum(['mlp', 'cnn']).default('mlp'),
    datasets: z.array(z.enum(['mnist', 'fashion-mnist', 'synthetic'])).min(1).max(3).default(['mnist']),
    /** per dataset overrides: model and rounds (e.g. the CNN on Fashion-MNIST) */
    datasetOverrides: z
      .record(
        z.string(),
        z.object({
          model: z.enum(['mlp', 'cnn']).optional(),
          rounds: z.number().int().min(1).optional(),
          evalEvery: z.number().int().min(1).optional(),
          roundsByBatch: byBatchSchema.optional(),
          evalEveryByBatch: byBatchSchema.optional(),
        }).strict(),
      )
      .default({}),
    /** keep at most this many samples of the train and of the test split (0: all); for quick checks */
    dataLimit: z.number().int().min(0).default(0),
    rounds: z.number().int().min(1).max(1_000_000),
    evalEvery: z.number().int().min(1).max(1_000_000),
    /** rounds per batch size (a fixed number of epochs: smaller batches take more steps) */
    roundsByBatch: byBatchSchema.optional(),
    evalEveryByBatch: byBatchSchema.optional(),
    algorithms: z.array(algorithmEntrySchema).min(1).max(16),
    batchSizes: z.array(z.number().int().min(1).max(4096)).min(1).max(8),
    partitions: z.array(partitionSchema).min(1).max(4).default([{ kind: 'iid' }]),
    adversaries: adversariesSchema.optional(),
    peers: z.array(z.number().int().min(1).max(1000)).min(1).max(8),
    seeds: z.number().int().min(1).max(100),
    /** first seed; run k uses seed firstSeed + k */
    firstSeed: z.number().int().min(0).default(1),
    lrScaling: lrScalingSchema.default({ kind: 'none' }),
    schedule: scheduleSchema.optional(),
    /**
     * step decay at fractions of each run's rounds (section 4.1: /10 at 50% and 75% of training);
     * turned into a 'step' schedule per run, since runs of different batch sizes differ in rounds
     */
    stepDecay: z.object({ at: z.array(z.number().gt(0).lt(1)).min(1).max(8), factor: z.number().positive().max(1) }).strict().optional(),
    weightDecay: z.number().nonnegative().max(1).optional(),
    /** straggler deadline for the in-memory sessions; large, since one oracle serves all peers in turn */
    deadlineMs: z.number().int().min(50).max(600_000).default(600_000),
    /** figure layout: one figure per (dataset, partition, [peers | algorithm]), one panel per batch size,
     *  one line per algorithm (default) or per peer count (the workers experiment) */
    lines: z.enum(['algorithm', 'peers']).default('algorithm'),
    claims: z.array(claimSchema).max(32).default([]),
    /** what --smoke shrinks to (rounds, seeds, peers are capped) */
    smoke: z
      .object({ rounds: z.number().int().min(1), seeds: z.number().int().min(1), evalEvery: z.number().int().min(1) })
      .strict()
      .default({ rounds: 10, seeds: 1, evalEvery: 5 }),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const labels = new Set<string>();
    for (const a of cfg.algorithms) {
      if (labels.has(a.label)) ctx.addIssue({ code: 'custom', path: ['algorithms'], message: `duplicate label "${a.label}"` });
      labels.add(a.label);
    }
    cfg.claims.forEach((c, i) => {
      const names = c.kind === 'trend' || c.kind === 'robust' || c.kind === 'breaks' ? [c.a] : [c.a, c.b];
      for (const n of names) {
        if (!labels.has(n)) ctx.addIssue({ code: 'custom', path: ['claims', i], message: `unknown algorithm label "${n}" (known: ${[...labels].join(', ')})` });
      }
    });
  });
export type ExperimentConfig = z.infer<typeof experimentConfigSchema>;

export function parseExperimentConfig(input: unknown, source = 'experiment config'): ExperimentConfig {
  const result = experimentConfigSchema.safeParse(input);
  if (!result.success) {
    const detail = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n');
    throw new Error(`invalid ${source}:\n${detail}`);
  }
  return result.data;
}

export async function loadExperimentConfig(file: string): Promise<ExperimentConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read experiment config ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`experiment config ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseExperimentConfig(json, `experiment config ${file}`);
}
