import { z } from 'zod';
import { localDataSchema } from './data/local/spec';
import { networkSchema, presetNames, type NetworkSpec, type PresetName } from './models/network';

/**
 * The session config: everything that fixes a training run. It crosses the network (client ->
 * signaling server -> peers), so it is a zod schema; defaults are the paper's MNIST setting
 * (section 4.2: MLP 784-64-64-10, 50 peers, 250 rounds, lr 1e-3, R = 1e-3, theta = 0.9,
 * alpha = 0, K = 5).
 */
export const algorithmNames = [
  'sgd-m',
  'signsgd',
  'signsgd-sim',
  'double-momentum',
  'mv-signsgd',
  'mv-sto-signsgd',
  'mv-sto-signsgd-sim',
  'fed-mv-sto-signsgd-sim',
  'ef-signsgd',
] as const;
export type AlgorithmName = (typeof algorithmNames)[number];

export const scheduleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('constant') }),
  /** multiply the rate by `factor` at each milestone round (section 4.1: /10 twice) */
  z.object({
    kind: z.literal('step'),
    milestones: z.array(z.number().int().nonnegative()).max(64),
    factor: z.number().positive().max(1),
  }),
  /** gamma_t = lr * rate^t (section 4.2, CIFAR: 0.999 per round) */
  z.object({ kind: z.literal('exponential'), rate: z.number().positive().max(1) }),
]);
export type Schedule = z.infer<typeof scheduleSchema>;

export const algorithmConfigSchema = z.object({
  name: z.enum(algorithmNames).default('mv-sto-signsgd-sim'),
  /** gamma */
  lr: z.number().positive().max(10).default(1e-3),
  schedule: scheduleSchema.default({ kind: 'constant' }),
  weightDecay: z.number().nonnegative().max(1).default(0),
  /** momentum theta in [0, 1) */
  theta: z.number().min(0).lt(1).default(0.9),
  /** stochastic-sign scale R > 0 */
  R: z.number().positive().default(1e-3),
  /** extrapolation alpha >= 0 (0: single momentum; theta/(1-theta): double momentum) */
  alpha: z.number().min(0).max(1000).default(0),
  /** federated local steps K and local rate eta */
  K: z.number().int().min(1).max(100).default(5),
  eta: z.number().positive().max(10).default(1e-3),
  /**
   * What a tied majority vote (even number of ballots) means. 'coin' (default for sessions): a
   * seeded fair coin picks +1 or -1, so the verdict stays at one bit per coordinate (d/8 bytes)
   * and its expectation is still the paper's 0. 'zero': Sign(0) = 0, the paper's literal rule;
   * the verdict then carries a tie bitmap (up to d/8 more bytes down). The paper-reproduction
   * tools (experiments, simulate) use 'zero' unless told otherwise.
   */
  ties: z.enum(['zero', 'coin']).default('coin'),
});
export type AlgorithmConfig = z.infer<typeof algorithmConfigSchema>;

// RFC 7064 (stun:, stuns:) and RFC 7065 (turn:, turns:): scheme, host (a name, an IPv4 address
// or a bracketed IPv6 one), optional port; only TURN takes `?transport=udp|tcp`
const ICE_HOST = String.raw`(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252}))`;
const ICE_URL = new RegExp(String.raw`^(?:(?:stuns?):${ICE_HOST}(?::\d{1,5})?|(?:turns?):${ICE_HOST}(?::\d{1,5})?(?:\?transport=(?:udp|tcp))?)$`);

/** Why `url` is not a STUN/TURN URL (RFC 7064/7065), or null when it is one. */
export function iceUrlProblem(url: string): string | null {
  const port = /:(\d+)(?:\?|$)/.exec(url);
  if (!ICE_URL.test(url) || (port && (Number(port[1]) < 1 || Number(port[1]) > 65535))) {
    return `"${url}" is not a STUN or TURN URL: write stun:host[:port], stuns:host[:port], turn:host[:port][?transport=udp|tcp] or turns:host[:port][?transport=udp|tcp] (RFC 7064, 7065)`;
  }
  return null;
}

const iceUrl = z.string().min(1).max(512).superRefine((url, ctx) => {
  const problem = iceUrlProblem(url);
  if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

const iceServerSchema = z.object({
  urls: z.union([iceUrl, z.array(iceUrl).min(1).max(8)]),
  username: z.string().max(256).optional(),
  credential: z.string().max(256).optional(),
});
export type IceServer = z.infer<typeof iceServerSchema>;

export const partitionSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('iid') }),
  z.object({ kind: z.literal('dirichlet'), alpha: z.number().positive().max(1e6) }),
]);
export type Partition = z.infer<typeof partitionSchema>;

/**
 * An ONNX file uploaded with the session (signaling server: POST /api/models, then GET
 * /models/<sha256>.onnx). Peers fetch it and refuse to train when its bytes do not hash to this.
 */
export const modelFileSchema = z.object({
  /** SHA-256 of the file, 64 lowercase hex digits */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
  bytes: z.number().int().min(1).max(1 << 30),
  /** the file's name, for logs and the session view */
  name: z.string().min(1).max(128),
});
export type ModelFile = z.infer<typeof modelFileSchema>;

export const datasetNames = ['mnist', 'mnist-full', 'fashion-mnist', 'synthetic'] as const;
export type DatasetName = (typeof datasetNames)[number];

export const sessionConfigSchema = z.object({
  /** a built-in model (models/network.ts: mlp, cnn, lenet5, mlp-wide, mlp-10m); see `network` */
  model: z.enum(presetNames).default('mlp'),
  /**
   * a layer list { inputShape, numClasses, layers: [{ type: 'dense', units: 64 }, { type:
   * 'relu' }, ...] }; when given, it is the session's model and `model` is not used
   */
  network: networkSchema.optional(),
  /** an uploaded ONNX file; when given, it is the session's model (over `network` and `model`) */
  modelFile: modelFileSchema.optional(),
  /** server-hosted data for demos (`mnist` = 10k digits, `mnist-full` = 60k/10k); see `data` */
  dataset: z.enum(datasetNames).default('mnist'),
  /**
   * each peer brings its own data (CSV or an image folder), never uploaded; when given, peers
   * train on it and `dataset` is not used (data/local/spec.ts)
   */
  data: localDataSchema.optional(),
  algorithm: algorithmConfigSchema.default(algorithmConfigSchema.parse({})),
  partition: partitionSchema.default({ kind: 'iid' }),
  batchSize: z.number().int().min(1).max(4096).default(32),
  rounds: z.number().int().min(1).max(1_000_000).default(250),
  /** training starts when this many peers have joined */
  expectedPeers: z.number().int().min(1).max(1000).default(4),
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(1),
  /** straggler deadline: the aggregator tallies what it has this long after opening a round */
  deadlineMs: z.number().int().min(50).max(600_000).default(5_000),
  /** evaluate test accuracy every this many rounds (0: never) */
  evalEvery: z.number().int().min(0).max(1_000_000).default(10),
  /** checkpoint every this many rounds (0: never) */
  checkpointEvery: z.number().int().min(0).max(1_000_000).default(0),
  /**
   * vote shards k: the coordinates are cut into k contiguous ranges, each tallied by its own
   * aggregator (member j of the term in join order tallies range j), so no peer's link carries
   * every ballot (docs/session.md, "Vote shards"). A term has min(voteShards, its members,
   * ceil(d/8)); 1 is the star (one aggregator for everything). Ends on the same parameters as 1.
   */
  voteShards: z.number().int().min(1).max(1000).default(1),
  /** STUN/TURN servers for peers on other networks; none works on one machine and a LAN */
  iceServers: z.array(iceServerSchema).max(8).default([]),
});
export type SessionConfig = z.infer<typeof sessionConfigSchema>;
export type SessionConfigInput = z.input<typeof sessionConfigSchema>;

/**
 * What the session trains, as createModel takes it: the uploaded file (its bytes, which the
 * caller fetched and checked: runtime/model-file.ts), else the layer list, else the preset.
 * Throws when the session has a file and `onnx` is missing.
 */
export function sessionModelSpec(
  config: Pick<SessionConfig, 'model' | 'network' | 'modelFile'>,
  onnx?: Uint8Array,
): PresetName | NetworkSpec | { readonly onnx: Uint8Array; readonly name: string } {
  if (config.modelFile) {
    if (!onnx) throw new Error(`the session trains the uploaded file ${config.modelFile.name}; fetch its bytes first`);
    return { onnx, name: config.modelFile.name };
  }
  return config.network ?? config.model;
}

/** the model's name as people see it: the file's, the layer list's, or the preset's */
export function sessionModelName(config: Pick<SessionConfig, 'model' | 'network' | 'modelFile'>): string {
  return config.modelFile?.name ?? (config.network ? (config.network.name ?? 'network') : config.model);
}

/** Parse with a readable error that names the offending fields. */
export function parseSessionConfig(input: unknown): SessionConfig {
  const result = sessionConfigSchema.safeParse(input ?? {});
  if (!result.success) {
    const detail = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`invalid session config: ${detail}`);
  }
  return result.data;
}
