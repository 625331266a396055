import { z } from 'zod';

/**
 * Built-in models as data: a network is an input shape, a class count and a layer list, the
 * form a session config carries (config.ts). The presets are such lists. A list becomes a
 * forward ONNX graph (layers.ts) and goes through the same importer as a user's file, so
 * presets and files are one mechanism. This module is zod only: config.ts, the bottom layer,
 * imports it.
 */

const init = z.enum(['he', 'glorot']).optional();
const size = (max: number) => z.number().int().min(1).max(max);

export const layerSchema = z.discriminatedUnion('type', [
  /** fully connected: x @ W + b, W [in, units]; needs a flat input */
  z.object({ type: z.literal('dense'), units: size(65_536), init }),
  /** 2-D convolution on [channels, height, width], square kernel, zero padding `pad` on every side */
  z.object({ type: z.literal('conv2d'), filters: size(4096), kernel: size(15), stride: size(8).default(1), pad: z.number().int().min(0).max(15).default(0), groups: size(4096).default(1), init }),
  /** max / average over size x size windows, stride defaults to the size */
  z.object({ type: z.literal('maxpool'), size: size(16), stride: size(16).optional() }),
  z.object({ type: z.literal('avgpool'), size: size(16), stride: size(16).optional() }),
  /** mean over height and width: [C, H, W] -> [C, 1, 1] */
  z.object({ type: z.literal('globalavgpool') }),
  z.object({ type: z.literal('flatten') }),
  z.object({ type: z.literal('relu') }),
  z.object({ type: z.literal('tanh') }),
  z.object({ type: z.literal('sigmoid') }),
  /** x * 0.5 * (1 + erf(x / sqrt 2)), as PyTorch exports nn.GELU */
  z.object({ type: z.literal('gelu') }),
  z.object({ type: z.literal('leakyrelu'), alpha: z.number().min(0).max(1).default(0.01) }),
  /** normalizes the last axis; learned scale (ones) and bias (zeros) */
  z.object({ type: z.literal('layernorm'), eps: z.number().positive().max(1).default(1e-5) }),
]);
export type LayerSpec = z.infer<typeof layerSchema>;

export const networkSchema = z.object({
  name: z.string().min(1).max(64).optional(),
  /** per-sample input: [features] or [channels, height, width] */
  inputShape: z.array(size(4096)).min(1).max(3),
  numClasses: z.number().int().min(2).max(256),
  layers: z.array(layerSchema).min(1).max(64),
});
export type NetworkSpec = z.infer<typeof networkSchema>;
export type NetworkSpecInput = z.input<typeof networkSchema>;

export const presetNames = ['mlp', 'cnn', 'lenet5', 'mlp-wide', 'mlp-10m'] as const;
export type PresetName = (typeof presetNames)[number];

const dense = (units: number): LayerSpec => ({ type: 'dense', units });
const conv = (filters: number, kernel: number, pad: number): LayerSpec => ({ type: 'conv2d', filters, kernel, pad, stride: 1, groups: 1 });
const relu: LayerSpec = { type: 'relu' };
const pool: LayerSpec = { type: 'maxpool', size: 2 };
const flatten: LayerSpec = { type: 'flatten' };

export const presets: Record<PresetName, NetworkSpec> = {
  // The paper's MNIST network: 784-64-64-10 ReLU, d = 55,050.
  mlp: { name: 'mlp', inputShape: [784], numClasses: 10, layers: [dense(64), relu, dense(64), relu, dense(10)] },
  // 28x28 -> conv5 (8) -> pool -> 14x14 -> conv5 (16) -> pool -> 7x7x16 = 784 -> 64 -> 10, d = 54,314.
  cnn: { name: 'cnn', inputShape: [1, 28, 28], numClasses: 10, layers: [conv(8, 5, 2), relu, pool, conv(16, 5, 2), relu, pool, flatten, dense(64), relu, dense(10)] },
  // LeCun et al. 1998 with ReLU and max pooling; the first conv pads 28x28 to the original 32x32 field. d = 61,706.
  lenet5: {
    name: 'lenet5',
    inputShape: [1, 28, 28],
    numClasses: 10,
    layers: [conv(6, 5, 2), relu, pool, conv(16, 5, 0), relu, pool, flatten, dense(120), relu, dense(84), relu, dense(10)],
  },
  // A wide MLP for the cost of signs and votes at d > 1M: 784-1024-512-10, d = 1,333,770.
  'mlp-wide': { name: 'mlp-wide', inputShape: [784], numClasses: 10, layers: [dense(1024), relu, dense(512), relu, dense(10)] },
  // The largest the protocol is tested with over WebRTC (snapshots of 80 MB, verdicts of 1.25 MB):
  // 784-2048-4096-10, d = 10,041,354.
  'mlp-10m': { name: 'mlp-10m', inputShape: [784], numClasses: 10, layers: [dense(2048), relu, dense(4096), relu, dense(10)] },
};
