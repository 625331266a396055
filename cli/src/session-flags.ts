import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { algorithmNames, createdSessionSchema, datasetNames, modelNames, parseSessionConfig, sessionConfigSchema, sha256Hex, type CreatedSession, type SessionConfigInput } from '@signvote/core';
import { describeUnknownKeys, unknownKeys } from './config-keys';
import { CliError, EXIT, httpExitCode } from './exit';
import { fetchFailure } from './net-errors';

/**
 * The session flags of `signvote session create` and `signvote start`, turned into a session
 * config (over an optional JSON file) and sent to a signaling server. `--model` is a preset, a
 * layer list (.json) or an ONNX file, which is uploaded to the server before the session is
 * created (the session then names it by SHA-256; docs/models.md).
 */

export const int = (name: string, min = 0) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
  return n;
};
export const num = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
  return n;
};

export interface SessionFlags {
  config?: string;
  model?: string;
  dataset?: string;
  dataSpec?: string;
  algo?: string;
  peers?: number;
  batch?: number;
  rounds?: number;
  lr?: number;
  theta?: number;
  R?: number;
  alpha?: number;
  K?: number;
  eta?: number;
  weightDecay?: number;
  ties?: string;
  dirichlet?: number;
  seed?: number;
  deadlineMs?: number;
  evalEvery?: number;
  checkpointEvery?: number;
  voteShards?: number;
  ice?: string[];
}

export function addSessionFlags(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'JSON session config (flags override its fields)')
    .option('--model <preset|file>', `built-in model (${modelNames.join(', ')}), a layer list (.json) or an ONNX file (uploaded with the session)`)
    .addOption(new Option('--dataset <name>', 'server-hosted dataset (demos)').choices([...datasetNames]))
    .option('--data-spec <file>', 'JSON: peers bring their own data, as this says (format, classes, preprocessing; docs/data.md)')
    .addOption(new Option('--algo <name>', 'algorithm').choices([...algorithmNames]))
    .option('--peers <n>', 'expected peers: training starts when this many have joined', int('peers', 1))
    .option('--batch <n>', 'batch size per peer', int('batch', 1))
    .option('--rounds <n>', 'rounds', int('rounds', 1))
    .option('--lr <x>', 'learning rate gamma', num('lr'))
    .option('--theta <x>', 'momentum theta in [0, 1)', num('theta'))
    .option('--R <x>', 'stochastic-sign scale R > 0', num('R'))
    .option('--alpha <x>', 'extrapolation alpha >= 0', num('alpha'))
    .option('--K <n>', 'federated local steps', int('K', 1))
    .option('--eta <x>', 'federated local learning rate', num('eta'))
    .option('--weight-decay <x>', 'weight decay', num('weight-decay'))
    .addOption(new Option('--ties <rule>', 'tied votes (even peers): coin (default) = seeded coin flip, verdicts stay d/8 bytes; zero = Sign(0) = 0, the paper\'s rule').choices(['zero', 'coin']))
    .option('--dirichlet <alpha>', 'non-IID shards: Dirichlet(alpha) by label (default: IID)', num('dirichlet'))
    .option('--seed <n>', 'seed', int('seed'))
    .option('--deadline-ms <n>', 'straggler deadline per round', int('deadline-ms', 50))
    .option('--eval-every <n>', 'evaluate test accuracy every n rounds', int('eval-every'))
    .option('--checkpoint-every <n>', 'checkpoint every n rounds', int('checkpoint-every'))
    .option('--vote-shards <k>', 'cut the vote into k ranges of the coordinates, each tallied by its own peer (at most one per peer; 1 = one aggregator)', int('vote-shards', 1))
    .option('--ice <url...>', 'STUN/TURN server URLs for peers on other networks');
}

/** what `--model` names: a preset, a layer list, or an ONNX file to upload */
export type ModelChoice = { kind: 'preset'; name: string } | { kind: 'network'; network: unknown } | { kind: 'file'; name: string; bytes: Uint8Array };

export function resolveModelFlag(value: string): ModelChoice {
  if ((modelNames as readonly string[]).includes(value)) return { kind: 'preset', name: value };
  if (!existsSync(value) || !statSync(value).isFile()) {
    throw new CliError(`--model ${value}: neither a built-in model (${modelNames.join(', ')}) nor a file`, EXIT.usage);
  }
  if (value.endsWith('.json')) return { kind: 'network', network: readJson(value, '--model') };
  const bytes = new Uint8Array(readFileSync(value));
  // the words `model check` uses, not the schema's "modelFile.bytes: Too small"
  if (bytes.length === 0) throw new CliError(`--model ${value}: the model file is empty (0 bytes); export it again (docs/models.md)`, EXIT.usage);
  return { kind: 'file', name: basename(value), bytes };
}

function readJson(path: string, flag: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder, not a JSON file' : (err as Error).message;
    throw new CliError(`${flag} ${path}: ${why}`, EXIT.usage);
  }
}

/**
 * Flags over an optional config file; validated by the same schema as the server's. An ONNX
 * `--model` fills `modelFile` (its SHA-256 and size); `uploadModelFile` must send the bytes
 * before the session is created.
 */
export function sessionConfigFromFlags(flags: SessionFlags): SessionConfigInput {
  const file: unknown = flags.config ? readJson(flags.config, '--config') : {};
  if (typeof file !== 'object' || file === null || Array.isArray(file)) {
    throw new CliError(`--config ${flags.config}: a session config is one JSON object, e.g. {"expectedPeers": 4, "rounds": 100}, not ${Array.isArray(file) ? 'an array' : JSON.stringify(file)}`, EXIT.usage);
  }
  const base = file as Record<string, unknown>;
  const dataset = flags.dataset ?? base.dataset;
  const ownData = flags.dataSpec ?? (base.data === undefined ? undefined : `--config's "data"`);
  if (dataset !== undefined && ownData !== undefined) {
    throw new CliError(
      `${flags.dataset !== undefined ? `--dataset ${flags.dataset}` : `--config's "dataset"`} and ${flags.dataSpec !== undefined ? `--data-spec ${flags.dataSpec}` : ownData} ask for both the server's data and each peer's own: give one of them`,
      EXIT.usage,
    );
  }
  const algorithm = { ...((base.algorithm as Record<string, unknown> | undefined) ?? {}) };
  const set = (target: Record<string, unknown>, key: string, value: unknown) => {
    if (value !== undefined) target[key] = value;
  };
  set(algorithm, 'name', flags.algo);
  set(algorithm, 'lr', flags.lr);
  set(algorithm, 'theta', flags.theta);
  set(algorithm, 'R', flags.R);
  set(algorithm, 'alpha', flags.alpha);
  set(algorithm, 'K', flags.K);
  set(algorithm, 'eta', flags.eta);
  set(algorithm, 'weightDecay', flags.weightDecay);
  set(algorithm, 'ties', flags.ties);
  const config: Record<string, unknown> = { ...base, algorithm };
  if (flags.model !== undefined) {
    const choice = resolveModelFlag(flags.model);
    delete config.network;
    delete config.modelFile;
    if (choice.kind === 'preset') config.model = choice.name;
    else if (choice.kind === 'network') config.network = choice.network;
    else config.modelFile = { sha256: sha256Hex(choice.bytes), bytes: choice.bytes.length, name: choice.name };
  }
  set(config, 'dataset', flags.dataset);
  if (flags.dataSpec !== undefined) config.data = readJson(flags.dataSpec, '--data-spec');
  set(config, 'expectedPeers', flags.peers);
  set(config, 'batchSize', flags.batch);
  set(config, 'rounds', flags.rounds);
  set(config, 'seed', flags.seed);
  set(config, 'deadlineMs', flags.deadlineMs);
  set(config, 'evalEvery', flags.evalEvery);
  set(config, 'checkpointEvery', flags.checkpointEvery);
  set(config, 'voteShards', flags.voteShards);
  if (flags.dirichlet !== undefined) config.partition = { kind: 'dirichlet', alpha: flags.dirichlet };
  if (flags.ice) config.iceServers = flags.ice.map((urls) => ({ urls }));
  // validate here too, so a typo fails before anything reaches the server
  const parsed = parseSessionConfig(config);
  // the schema drops keys it does not know; in a person's file they are typos
  const unknown = unknownKeys(base, parsed, Object.keys(sessionConfigSchema.shape));
  if (unknown.length > 0) throw new CliError(`--config ${flags.config}: unknown key${unknown.length === 1 ? '' : 's'} ${describeUnknownKeys(unknown)} (the keys: docs/cli.md, "signvote session create")`, EXIT.usage);
  const unknownInSpec = flags.dataSpec === undefined ? [] : unknownKeys(config.data, parsed.data);
  if (unknownInSpec.length > 0) throw new CliError(`--data-spec ${flags.dataSpec}: unknown key${unknownInSpec.length === 1 ? '' : 's'} ${describeUnknownKeys(unknownInSpec)} (docs/data.md)`, EXIT.usage);
  return parsed;
}

async function post(server: string, path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(new URL(path, server), { method: 'POST', ...init });
  } catch (e) {
    throw fetchFailure(server, e);
  }
}

/**
 * Uploads `--model FILE` (POST /api/models): the server imports it and keeps it under its
 * SHA-256. Refusals (not a model it can train, over its size cap) are usage errors naming why.
 */
export async function uploadModelFile(server: string, file: { name: string; bytes: Uint8Array }): Promise<{ sha256: string; d: number }> {
  const res = await post(server, `/api/models?name=${encodeURIComponent(file.name)}`, {
    headers: { 'content-type': 'application/octet-stream' },
    body: file.bytes as Uint8Array<ArrayBuffer>,
  });
  const body = (await res.json().catch(() => ({}))) as { sha256?: unknown; d?: unknown; error?: unknown };
  if (!res.ok || typeof body.sha256 !== 'string' || typeof body.d !== 'number') {
    throw new CliError(`${server} refused the model file ${file.name}: ${typeof body.error === 'string' ? body.error : `HTTP ${res.status}`}`, httpExitCode(res.status, res.status === 400 || res.status === 413 ? EXIT.usage : EXIT.refused));
  }
  return { sha256: body.sha256, d: body.d };
}

/**
 * Uploads the `--model` file when there is one, then creates the session. `listed`: the
 * server's home page shows the session to anyone who opens it.
 */
export async function createSessionOnServer(
  server: string,
  config: SessionConfigInput,
  { model, listed = false }: { model?: string; listed?: boolean } = {},
): Promise<CreatedSession> {
  if (config.modelFile && model !== undefined) {
    const choice = resolveModelFlag(model);
    if (choice.kind === 'file') await uploadModelFile(server, choice);
  }
  const res = await post(server, `/api/sessions?listed=${listed}`, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
  const body = (await res.json().catch(() => ({}))) as { error?: unknown };
  const created = createdSessionSchema.safeParse(body);
  if (!res.ok || !created.success) {
    throw new CliError(`could not create a session on ${server}: ${typeof body.error === 'string' ? body.error : `HTTP ${res.status}`}`, httpExitCode(res.status, res.status === 400 ? EXIT.usage : EXIT.refused));
  }
  return created.data;
}
