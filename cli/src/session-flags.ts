import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { algorithmNames, createdSessionSchema, modelNames, parseSessionConfig, type CreatedSession, type SessionConfigInput } from '@signvote/core';
import { CliError, EXIT } from './exit';

/**
 * The session flags of `signvote session create` and `signvote start`, turned into a session
 * config (over an optional JSON file) and sent to a signaling server.
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
  ice?: string[];
}

export function addSessionFlags(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'JSON session config (flags override its fields)')
    .addOption(new Option('--model <name>', 'built-in model (a layer list: the config file\'s "network" field)').choices([...modelNames]))
    .addOption(new Option('--dataset <name>', 'dataset').choices(['mnist', 'fashion-mnist', 'synthetic']))
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
    .option('--ice <url...>', 'STUN/TURN server URLs for peers on other networks');
}

/** Flags over an optional config file; validated by the same schema as the server's. */
export function sessionConfigFromFlags(flags: SessionFlags): SessionConfigInput {
  const base = (flags.config ? JSON.parse(readFileSync(flags.config, 'utf8')) : {}) as Record<string, unknown>;
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
  set(config, 'model', flags.model);
  set(config, 'dataset', flags.dataset);
  set(config, 'expectedPeers', flags.peers);
  set(config, 'batchSize', flags.batch);
  set(config, 'rounds', flags.rounds);
  set(config, 'seed', flags.seed);
  set(config, 'deadlineMs', flags.deadlineMs);
  set(config, 'evalEvery', flags.evalEvery);
  set(config, 'checkpointEvery', flags.checkpointEvery);
  if (flags.dirichlet !== undefined) config.partition = { kind: 'dirichlet', alpha: flags.dirichlet };
  if (flags.ice) config.iceServers = flags.ice.map((urls) => ({ urls }));
  // validate here too, so a typo fails before anything reaches the server
  return parseSessionConfig(config);
}

/** `listed`: the server's home page shows the session to anyone who opens it */
export async function createSessionOnServer(server: string, config: SessionConfigInput, listed = false): Promise<CreatedSession> {
  let res: Response;
  try {
    res = await fetch(new URL(`/api/sessions?listed=${listed}`, server), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(config),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(`cannot reach signaling server ${server}: ${cause?.code ?? cause?.message ?? String(e)}`, EXIT.unreachable);
  }
  const body = (await res.json().catch(() => ({}))) as { error?: unknown };
  const created = createdSessionSchema.safeParse(body);
  if (!res.ok || !created.success) {
    throw new CliError(`could not create a session on ${server}: ${typeof body.error === 'string' ? body.error : `HTTP ${res.status}`}`, res.status === 400 ? EXIT.usage : EXIT.refused);
  }
  return created.data;
}
