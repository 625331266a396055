import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { algorithmNames, parseSessionConfig, type SessionConfigInput } from '../config';
import type { CheckpointStore } from '../session/checkpoint';
import { createFileCheckpointStore } from './checkpoint-file';
import { createNodeOracle } from './ort-node';
import { loadDataset } from './datasets';
import { modelNames } from '../models/model';
import { registerModelCommands } from './model-check';
import { nodeWrtc } from './wrtc';
import { startPeer, type PeerEvent } from '../runtime/peer';

/** `signvote`: serve, create sessions, run headless peers, or all three at once (`start`). */

/** Exit codes, so scripts can tell a typo from a dead server (docs/cli.md). */
export const EXIT = { ok: 0, error: 1, usage: 2, unreachable: 3, refused: 4, interrupted: 130, terminated: 143 } as const;

class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** Signaling refusals (unknown session, wrong token, full) vs. a server that is not there. */
function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.code;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : '';
  if (code === 'connect' || code === 'timeout' || /cannot reach signaling server/.test(message)) return EXIT.unreachable;
  if (typeof code === 'string' && ['unknown-session', 'bad-token', 'session-full', 'invalid'].includes(code)) return EXIT.refused;
  if (/^(unknown session|wrong token)/.test(message)) return EXIT.refused;
  if (/^invalid session config/.test(message)) return EXIT.usage;
  return EXIT.error;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const clientDist = resolve(repoRoot, 'client/dist');
const binPath = resolve(repoRoot, 'core/bin/signvote.mjs');

const int = (name: string, min = 0) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
  return n;
};
const num = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
  return n;
};

interface SessionFlags {
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

function addSessionFlags(cmd: Command): Command {
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

export async function createSessionOnServer(server: string, config: SessionConfigInput): Promise<{ id: string; token: string; url: string }> {
  let res: Response;
  try {
    res = await fetch(new URL('/api/sessions', server), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(config),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(`cannot reach signaling server ${server}: ${cause?.code ?? cause?.message ?? String(e)}`, EXIT.unreachable);
  }
  const body = (await res.json().catch(() => ({}))) as { id?: unknown; token?: unknown; url?: unknown; error?: unknown };
  if (!res.ok || typeof body.id !== 'string' || typeof body.token !== 'string' || typeof body.url !== 'string') {
    throw new CliError(`could not create a session on ${server}: ${typeof body.error === 'string' ? body.error : `HTTP ${res.status}`}`, res.status === 400 ? EXIT.usage : EXIT.refused);
  }
  return { id: body.id, token: body.token, url: body.url };
}

function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)}MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)}KiB` : `${n}B`;
}

interface PeerFlags {
  server: string;
  session: string;
  token: string;
  backend: 'wasm' | 'node';
  json?: boolean;
  timings?: boolean;
  label?: string;
  checkpoint?: string;
  resume?: string;
}

/**
 * `--json`: stdout carries exactly one JSON object per applied round (for scripts and tests);
 * everything else (terms, resyncs, dropped messages, errors) goes to stderr, one JSON object a
 * line with an "event" key, so stdout stays a clean stream of rounds.
 */
async function runPeer(flags: PeerFlags): Promise<void> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const tty = !flags.json && process.stderr.isTTY;
  const note = (line: string) => process.stderr.write(tty ? `\r\x1b[K${line}\n` : `${line}\n`);
  const progress = (line: string) => process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
  const event = (e: object) => process.stderr.write(`${JSON.stringify(e)}\n`);
  let pendingSaves: Promise<unknown> = Promise.resolve();
  const savesDone = () => pendingSaves;
  const trackSaves = (store: CheckpointStore): CheckpointStore => ({
    load: () => store.load(),
    save: (cp) => {
      const saving = store.save(cp);
      pendingSaves = Promise.all([pendingSaves, saving.catch(() => undefined)]);
      return saving;
    },
  });
  let rounds = 0;
  let lastAccuracy: number | undefined;
  let lastCpu = process.cpuUsage();
  // without the signaling server the transport closes, so the session cannot go on here
  let leave: (reason: string) => void = () => {};
  const lost = new Promise<string>((r) => (leave = r));
  const onEvent = (e: PeerEvent) => {
    switch (e.type) {
      case 'joined':
        rounds = e.config.rounds;
        if (flags.json) event({ event: 'joined', peerId: e.peerId, backend: e.backend, shard: e.shard, shardSize: e.shardSize, d: e.d, rounds });
        else note(`joined ${flags.session} as ${e.peerId} (${e.backend}, shard ${e.shard}: ${e.shardSize} samples, d = ${e.d})`);
        break;
      case 'round': {
        if (e.accuracy !== undefined) lastAccuracy = e.accuracy;
        if (flags.json) {
          const row: Record<string, unknown> = {
            round: e.round,
            term: e.term,
            role: e.role,
            loss: Number.isFinite(e.loss) ? e.loss : null,
            accuracy: e.accuracy ?? null,
            hash: e.hash,
            bytesUp: e.bytesUp,
            bytesDown: e.bytesDown,
          };
          if (flags.timings) {
            // CPU of the whole process (all threads: ORT, wrtc) since the previous round: tells
            // work from waiting when the wall time of a round is mostly scheduling
            const cpu = process.cpuUsage(lastCpu);
            lastCpu = process.cpuUsage();
            Object.assign(row, { ms: e.ms, computeMs: e.computeMs, cpuMs: (cpu.user + cpu.system) / 1000, counted: e.counted, at: Date.now() });
          }
          out(JSON.stringify(row));
        } else {
          const acc = lastAccuracy === undefined ? '' : ` acc ${(100 * lastAccuracy).toFixed(1)}%`;
          const loss = Number.isFinite(e.loss) ? ` loss ${e.loss.toFixed(4)}` : '';
          progress(
            `round ${e.round + 1}/${rounds} term ${e.term} ${e.role}${loss}${acc} ` +
              `up ${formatBytes(e.bytesUp)} down ${formatBytes(e.bytesDown)} ${e.ms.toFixed(0)} ms (compute ${e.computeMs.toFixed(0)} ms)`,
          );
        }
        break;
      }
      case 'term':
        if (flags.json) event({ event: 'term', term: e.term, peers: e.peers, aggregator: e.aggregator, at: Date.now() });
        break;
      case 'aggregator':
        if (flags.json) event({ event: 'aggregator', term: e.term, aggregator: e.aggregator, previous: e.previous });
        else note(`term ${e.term}: aggregator is ${e.aggregator}${e.previous ? ` (was ${e.previous})` : ''}`);
        break;
      case 'waiting':
        if (flags.json) event({ event: 'waiting', term: e.term, have: e.have, need: e.need });
        else progress(`waiting for peers: ${e.have}/${e.need}`);
        break;
      case 'resume':
        if (flags.json) event({ event: 'resume', round: e.round, hash: e.hash, fromSession: e.fromSession });
        else note(`resuming at round ${e.round} (parameters ${e.hash}) from a checkpoint of session ${e.fromSession}`);
        break;
      case 'resync':
        if (flags.json) event({ event: 'resync', round: e.round, from: e.from, hash: e.hash });
        else note(`synced to round ${e.round} from ${e.from}`);
        break;
      case 'drop':
        // refused messages are expected under attack or churn; only scripts want each one
        if (flags.json) event({ event: 'drop', reason: e.reason, from: e.from, detail: e.detail });
        break;
      case 'disconnected':
        if (flags.json) event({ event: 'disconnected', reason: e.reason });
        leave(`disconnected from the signaling server (${e.reason})`);
        break;
      case 'error':
        if (flags.json) event({ event: 'error', error: e.error });
        else note(`error: ${e.error}`);
        break;
      case 'finished':
        if (flags.json) event({ event: 'finished', rounds: e.round, hash: e.hash });
        else note(`finished: ${e.round} rounds, parameters ${e.hash}`);
        break;
      default:
        break;
    }
  };
  const peer = await startPeer({
    serverUrl: flags.server,
    sessionId: flags.session,
    token: flags.token,
    backend: flags.backend,
    label: flags.label,
    wrtc: nodeWrtc(),
    loadData: (config) => loadDataset(config.dataset, { seed: config.seed }),
    createOracle: (model, backend) => createNodeOracle(model, backend === 'node' ? 'node' : 'wasm'),
    checkpoints: flags.checkpoint ? trackSaves(createFileCheckpointStore(resolve(flags.checkpoint))) : undefined,
    resumeFrom: flags.resume ? createFileCheckpointStore(resolve(flags.resume)) : undefined,
    onEvent,
  });
  let exiting = false;
  const exit = (code: number | NodeJS.Signals) => {
    // the first reason wins: our own stop() also closes the signaling socket, which is no error
    if (exiting) return;
    exiting = true;
    const end = (): void => {
      if (typeof code === 'number') return process.exit(code);
      // dying by the signal itself runs no exit teardown of native objects (@roamhq/wrtc has
      // crashed with SIGSEGV around exit), and the shell still sees 130 / 143
      process.removeAllListeners(code);
      process.kill(process.pid, code);
    };
    // a stuck native teardown (wrtc, ORT) must not keep a finished peer alive
    setTimeout(end, 2000).unref();
    // a checkpoint being written when Ctrl-C comes is finished, not torn off
    void peer
      .leave()
      .then(() => savesDone())
      .finally(end);
  };
  process.once('SIGINT', () => exit('SIGINT'));
  process.once('SIGTERM', () => exit('SIGTERM'));
  const outcome = await Promise.race([peer.finished.then(() => null), lost]);
  if (outcome !== null) {
    if (flags.json) event({ event: 'left', reason: outcome });
    else note(`left the session: ${outcome}`);
    return exit(EXIT.error);
  }
  // the aggregator's last verdict must leave before its channels close
  await new Promise((r) => setTimeout(r, 200));
  exit(EXIT.ok);
}
const program = new Command()
  .name('signvote')
  .description('peer-to-peer training on one bit per parameter, over WebRTC')
  .showHelpAfterError('(add --help for usage)')
  .exitOverride((err) => {
    // --help is not a failure; a usage error is exit code 2
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  });

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;

program
  .command('serve')
  .description('run the signaling server (sessions, membership, WebRTC signal relay, datasets, the client)')
  .option('-p, --port <port>', 'port (0: any free port; the chosen URL is printed)', int('port'), 8080)
  .option('-H, --host <host>', 'interface; 0.0.0.0 accepts phones and other computers on the LAN', '127.0.0.1')
  .option('--public-url <url>', 'base URL of join links')
  .option('--json', 'print one JSON object {"url","port"} on stdout once listening; logs go to stderr')
  .option('--quiet', 'no request logs')
  .addHelpText('after', examples(['signvote serve --port 8080', 'signvote serve --port 0 --json   # {"url":"http://127.0.0.1:40123","port":40123}']))
  .action(async (opts: { port: number; host: string; publicUrl?: string; json?: boolean; quiet?: boolean }) => {
    const { createSignalingServer } = await import('../../../signaling/src/server');
    const { pino } = await import('pino');
    const server = await createSignalingServer({
      port: opts.port,
      host: opts.host,
      publicUrl: opts.publicUrl,
      staticDir: existsSync(clientDist) ? clientDist : undefined,
      // logs on stderr: stdout is for the URL, which scripts read
      logger: opts.quiet ? false : pino({ name: 'signaling' }, pino.destination(2)),
    });
    if (opts.json) console.log(JSON.stringify({ url: server.url, port: server.port }));
    else console.log(`signaling server on ${server.url}${existsSync(clientDist) ? '' : ' (client not built: npm run build -w client)'}`);
    const close = () => void server.close().finally(() => process.exit(0));
    process.once('SIGINT', close);
    process.once('SIGTERM', close);
  });

const session = program.command('session').description('manage sessions on a signaling server');
addSessionFlags(
  session
    .command('create')
    .description('create a session; prints its id, token and join URL')
    .requiredOption('--server <url>', 'signaling server URL')
    .option('--json', 'print one JSON object {"id","token","url"}'),
)
  .addHelpText(
    'after',
    examples([
      'signvote session create --server http://127.0.0.1:8080 --peers 4 --rounds 150 --lr 3e-3',
      'signvote session create --server http://127.0.0.1:8080 --config run.json --checkpoint-every 10 --json',
    ]),
  )
  .action(async (opts: SessionFlags & { server: string; json?: boolean }) => {
    const created = await createSessionOnServer(opts.server, sessionConfigFromFlags(opts));
    if (opts.json) console.log(JSON.stringify(created));
    else console.log(`session ${created.id}\ntoken   ${created.token}\njoin    ${created.url}`);
  });

program
  .command('peer')
  .description('run a headless Node peer in a session until its last round')
  .requiredOption('--server <url>', 'signaling server URL')
  .requiredOption('--session <id>', 'session id')
  .requiredOption('--token <token>', 'session token')
  .addOption(new Option('--backend <name>', 'gradient engine (node: onnxruntime-node, if installed)').choices(['wasm', 'node']).default('wasm'))
  .option('--label <text>', 'a name shown to the other peers')
  .option('--checkpoint <file>', 'save checkpoints here (every checkpointEvery rounds); on start, continue from it when it belongs to this session')
  .option('--resume <file>', "start from this checkpoint although it was saved in another session (e.g. after a server restart)")
  .option('--json', 'stdout: one JSON object per round {"round","term","role","loss","accuracy","hash","bytesUp","bytesDown"}; stderr: other events as JSON lines')
  .option('--timings', 'with --json: add "ms", "computeMs", "cpuMs", "counted" and "at" to each round object')
  .addHelpText(
    'after',
    examples([
      'signvote peer --server http://127.0.0.1:8080 --session SESSION --token TOKEN',
      'signvote peer --server http://127.0.0.1:8080 --session SESSION --token TOKEN --json --checkpoint ckpt/peer1.bin',
    ]) + '\nExit codes: 0 finished, 1 error or lost the server, 2 usage, 3 server unreachable, 4 refused (unknown session, wrong token, session full).\n',
  )
  .action(runPeer);

addSessionFlags(
  program
    .command('start')
    .description('serve, create a demo session, print its URL, and optionally start local Node peers')
    .option('-p, --port <port>', 'port', int('port'), 8080)
    .option('-H, --host <host>', 'interface', '127.0.0.1')
    .option('--local <n>', 'local headless Node peers to start (default: --peers when given, else 0)', int('local'), 0)
    .addOption(new Option('--node-peers <n>', 'alias of --local').argParser(int('node-peers')).hideHelp())
    .option('--exit', 'stop when the local peers finish (exit code 0 when all finished)'),
)
  .addHelpText(
    'after',
    examples([
      'signvote start                                   # server + a 3-peer demo session; open the URL in 3 tabs',
      'signvote start --peers 3                         # 3 local Node peers train; the URL shows them in a tab',
      'signvote start --peers 4 --local 2               # 2 Node peers + 2 browser tabs',
      'signvote start --port 0 --peers 4 --rounds 60 --exit   # 4 Node peers train, then everything stops',
    ]) + '\nPeer 1 reports its progress on stderr; the others are quiet. Defaults here: 100 rounds, evaluation every 5.\n',
  )
  .action(async (opts: SessionFlags & { port: number; host: string; local: number; nodePeers?: number; exit?: boolean }, cmd: Command) => {
  if (opts.nodePeers !== undefined) opts.local = opts.nodePeers;
  // `start --peers N` starts all N peers here, unless --local says how many of them
  const localGiven = cmd.getOptionValueSource('local') === 'cli' || opts.nodePeers !== undefined;
  if (!localGiven && opts.peers !== undefined) opts.local = opts.peers;
  const { nodePeers: _alias, ...sessionOpts } = opts;
  const { createSignalingServer } = await import('../../../signaling/src/server');
  const server = await createSignalingServer({
    port: opts.port,
    host: opts.host,
    staticDir: existsSync(clientDist) ? clientDist : undefined,
    logger: false,
  });
  const config = sessionConfigFromFlags({ peers: Math.max(opts.local, 1) > 1 ? opts.local : 3, rounds: 100, evalEvery: 5, ...stripUndefined(sessionOpts) });
  const created = await createSessionOnServer(server.url, config);
  console.log(`signaling server on ${server.url}`);
  console.log(`demo session ${created.id}: ${config.expectedPeers} peers, ${config.algorithm?.name}, ${config.model} on ${config.dataset}`);
  const tabs = (config.expectedPeers ?? 0) - opts.local;
  console.log(tabs > 0 ? `open in ${tabs} browser tab${tabs === 1 ? '' : 's'}: ${created.url}` : `more peers can join from a browser tab: ${created.url}`);
  const children: ChildProcess[] = [];
  for (let i = 0; i < opts.local; i++) {
    const child = spawn(process.execPath, [binPath, 'peer', '--server', server.url, '--session', created.id, '--token', created.token, '--label', `node-${i + 1}`], {
      stdio: ['ignore', 'inherit', i === 0 ? 'inherit' : 'ignore'],
    });
    children.push(child);
  }
  const shutdown = (code: number) => {
    for (const c of children) c.kill('SIGTERM');
    void server.close().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => shutdown(EXIT.interrupted));
  process.once('SIGTERM', () => shutdown(EXIT.terminated));
  if (opts.exit && children.length > 0) {
    const codes = await Promise.all(children.map((c) => new Promise<number>((r) => c.once('exit', (code) => r(code ?? 1)))));
    shutdown(codes.every((c) => c === 0) ? 0 : 1);
  }
});

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

registerModelCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`signvote: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(exitCodeOf(err));
});
