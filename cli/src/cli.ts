import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { adversaryKinds } from '@signvote/core';
import { EXIT, exitCodeOf } from './exit';
import { registerModelCommands } from './model-check';
import { runPeer } from './peer';
import { addSessionFlags, createSessionOnServer, int, sessionConfigFromFlags, type SessionFlags } from './session-flags';

/**
 * `signvote`: serve, create sessions, run headless peers, or all three at once (`start`).
 * The commands' parts: exit codes (exit.ts), session flags (session-flags.ts) and the headless
 * peer (peer.ts).
 */

const binPath = resolve(dirname(fileURLToPath(import.meta.url)), '../bin/signvote.mjs');

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
    const { createSignalingServer, builtClientDir } = await import('@signvote/signaling');
    const clientDist = builtClientDir();
    const { pino } = await import('pino');
    const server = await createSignalingServer({
      port: opts.port,
      host: opts.host,
      publicUrl: opts.publicUrl,
      staticDir: clientDist,
      // logs on stderr: stdout is for the URL, which scripts read
      logger: opts.quiet ? false : pino({ name: 'signaling' }, pino.destination(2)),
    });
    if (opts.json) console.log(JSON.stringify({ url: server.url, port: server.port }));
    else console.log(`signaling server on ${server.url}${clientDist ? '' : ' (client not built: npm run build -w @signvote/client)'}`);
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
  .option('--json', 'stdout: one JSON object per round {"round","term","role","loss","accuracy","hash","bytesUp","bytesDown","agreement","lowAgreement"}; stderr: other events as JSON lines')
  .option('--timings', 'with --json: add "ms", "computeMs", "cpuMs", "counted" and "at" to each round object')
  .addOption(new Option('--adversary <kind>', 'FOR TESTS AND RESEARCH: vote as an adversary (sign-flip, random, collude, label-flip, silent; docs/algorithms.md)').choices([...adversaryKinds]))
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
  const { createSignalingServer, builtClientDir } = await import('@signvote/signaling');
    const clientDist = builtClientDir();
  const server = await createSignalingServer({
    port: opts.port,
    host: opts.host,
    staticDir: clientDist,
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
