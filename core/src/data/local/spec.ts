import { z } from 'zod';

/**
 * What a session says about the data each peer brings (never uploaded): the file format, the
 * classes, the preprocessing, and the held-out fraction a peer keeps for the accuracy it
 * reports. The input shape is the model's. Zod only: config.ts, the bottom layer, imports it.
 */

const name = z.string().min(1).max(128);
const classes = z.array(name).min(2).max(256).refine((c) => new Set(c).size === c.length, 'class names must be distinct');
/** fraction of each peer's own samples held out as its test split (stratified by class) */
const testFraction = z.number().min(0.01).max(0.9).default(0.2);

/** (value - mean) / std per feature (CSV) or per channel (images) */
const standardize = z.object({
  mean: z.array(z.number()).min(1).max(4096),
  std: z.array(z.number().positive()).min(1).max(4096),
}).refine((s) => s.mean.length === s.std.length, 'mean and std must have the same length');

export const csvDataSchema = z.object({
  format: z.literal('csv'),
  /** the label column's header name; default the last column */
  labelColumn: name.optional(),
  /** label values as written in the label column, in class-index order */
  classes,
  /** feature columns in the model's input order; default every column but the label, in file order */
  features: z.array(name).min(1).max(65_536).refine((f) => new Set(f).size === f.length, 'feature columns must be distinct').optional(),
  standardize: standardize.optional(),
  testFraction,
}).refine((s) => s.labelColumn === undefined || !s.features?.includes(s.labelColumn), {
  message: 'the label column cannot also be a feature column',
  path: ['features'],
});
export type CsvDataSpec = z.infer<typeof csvDataSchema>;

export const imageDataSchema = z.object({
  format: z.literal('images'),
  /** sub-folder names, one per class, in class-index order */
  classes,
  /** 1: luminance (0.299 R + 0.587 G + 0.114 B); 3: RGB. Alpha is composited onto black. */
  channels: z.union([z.literal(1), z.literal(3)]).default(1),
  /** every image is resized to height x width (area average) */
  height: z.number().int().min(1).max(512),
  width: z.number().int().min(1).max(512),
  /** 1 - value: dark strokes on light paper become MNIST's light strokes on black */
  invert: z.boolean().default(false),
  /** after scaling pixels to [0, 1]; one entry per channel */
  standardize: standardize.optional(),
  testFraction,
});
export type ImageDataSpec = z.infer<typeof imageDataSchema>;

export const localDataSchema = z.discriminatedUnion('format', [csvDataSchema, imageDataSchema]);
export type LocalDataSpec = z.infer<typeof localDataSchema>;
export type LocalDataSpecInput = z.input<typeof localDataSchema>;
