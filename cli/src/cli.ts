import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { adversaryKinds, parseSessionConfig, sessionModelName } from '@signvote/core';
import { dataFlagMismatch } from './data-flag';
import { CliError, EXIT, exitCodeOf } from './exit';
import { registerModelCommands } from './model-check';
import { runPeer } from './peer';
import { addServerFlags, startServer, type ServerFlags } from './server-flags';
import { addSessionCommands } from './session';
import { addSessionFlags, createSessionOnServer, int, resolveModelFlag, sessionConfigFromFlags, type SessionFlags } from './session-flags';
import { voteShardsAtCreation } from './vote-split';
import { peerNodeArgs } from './node-flags';
import { tabLines } from './tab-lines';

/**
 * `signvote`: serve, create sessions, run headless peers, or all three at once (`start`).
 * The commands' parts: exit codes (exit.ts), session flags (session-flags.ts), server flags
 * (server-flags.ts) and the headless peer (peer.ts).
 */

/** the version in cli/package.json (the package `npx signvote` runs) */
function cliVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '../package.json'), 'utf8'));
  const version = (pkg as { version?: unknown }).version;
  return typeof version === 'string' ? version : 'unknown';
}

const binPath = resolve(dirname(fileURLToPath(import.meta.url)), '../bin/signvote.mjs');

const program = new Command()
  .name('signvote')
  .description('peer-to-peer training on one bit per parameter, over WebRTC')
  .version(cliVersion(), '-V, --version', 'print the version')
  .showHelpAfterError('(add --help for usage)')
  .exitOverride((err) => {
    // --help is not a failure; a usage error is exit code 2
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  });

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;

addServerFlags(program.command('serve').description('run the signaling server (sessions, membership, WebRTC signal relay, datasets, the client)'))
  .option('--json', 'print one JSON object {"url","shareUrl","port"} on stdout once listening; logs go to stderr')
  .option('--quiet', 'no request logs')
  .addHelpText(
    'after',
    examples([
      'signvote serve --port 8080',
      'signvote serve --host 0.0.0.0 --https   # phones on the LAN, with WebGPU',
      'signvote serve --port 0 --json   # {"url":"http://127.0.0.1:40123","shareUrl":"http://127.0.0.1:40123","port":40123}',
    ]),
  )
  .action(async (opts: ServerFlags & { json?: boolean; quiet?: boolean }) => {
    const { pino } = await import('pino');
    // logs on stderr: stdout is for the URL, which scripts read
    const { server, lines } = await startServer(opts, opts.quiet ? false : pino({ name: 'signaling' }, pino.destination(2)));
    if (opts.json) console.log(JSON.stringify({ url: server.url, shareUrl: server.shareUrl, port: server.port }));
    else console.log(lines.join('\n'));
    const close = () => void server.close().finally(() => process.exit(0));
    process.once('SIGINT', close);
    process.once('SIGTERM', close);
  });

addSessionCommands(program);

program
  .command('peer')
  .description('run a headless Node peer in a session until its last round')
  .requiredOption('--server <urls>', 'signaling server URL; several server processes on one Redis: URL1,URL2 (the peer moves to the next when its server goes away)')
  .requiredOption('--session <id>', 'session id')
  .requiredOption('--token <token>', 'session token')
  .addOption(new Option('--backend <name>', 'gradient engine (node: onnxruntime-node, if installed)').choices(['wasm', 'node']).default('wasm'))
  .option('--label <text>', 'a name shown to the other peers')
  .option('--checkpoint <file>', 'save checkpoints here (every checkpointEvery rounds); on start, continue from it when it belongs to this session')
  .option('--resume <file>', "start from this checkpoint although it was saved in another session (e.g. after a server restart)")
  .option('--data <path>', "this peer's own data, for sessions that say so: a CSV file or a folder with one sub-folder of PNG/JPEG images per class (never uploaded)")
  .option('--export <file>', 'when the session finishes, write the trained model here as ONNX (it takes raw samples, as this peer reads them from --data; outputs logits and probabilities)')
  .option('--json', 'stdout: one JSON object per round {"round","term","role","split","voteShard","loss","accuracy","hash","bytesUp","bytesDown","agreement","lowAgreement"}; stderr: other events as JSON lines')
  .option('--timings', 'with --json: add "ms", "computeMs", "cpuMs", "counted", "at", "wireUp"/"wireDown" (bytes over the data channels since the previous round, framing included) and "rss"/"heap"/"arrayBuffers" (bytes) to each round object')
  .addOption(new Option('--adversary <kind>', 'FOR TESTS AND RESEARCH: vote as an adversary (sign-flip, random, collude, label-flip, silent; docs/algorithms.md)').choices([...adversaryKinds]))
  .addHelpText(
    'after',
    examples([
      'signvote peer --server http://127.0.0.1:8080 --session SESSION --token TOKEN',
      'signvote peer --server http://127.0.0.1:8080 --session SESSION --token TOKEN --json --checkpoint ckpt/peer1.bin',
      'signvote peer --server http://127.0.0.1:8080 --session SESSION --token TOKEN --data iris.csv --export iris.onnx',
      'signvote peer --server http://10.0.0.1:8080,http://10.0.0.2:8080 --session SESSION --token TOKEN   # servers on one Redis',
    ]) + '\nExit codes: 0 finished, 1 error or lost the server, 2 usage (a bad flag, a path that cannot be written or read, a server certificate not trusted here: NODE_EXTRA_CA_CERTS), 3 server unreachable or its Redis down (try again), 4 refused (unknown session, wrong token, session full), 5 the session had already finished (its final numbers are printed), 6 this peer cannot reach the state the session record holds, 7 removed from the session: the others could not reach it over WebRTC (check the firewall and the session ICE servers, --ice).\n',
  )
  .action(runPeer);

addSessionFlags(
  addServerFlags(program.command('start').description('serve, create a demo session, print its URL, and optionally start local Node peers'))
    .option('--listed', "list the demo session on the server's home page: anyone who opens the server can join")
    .option('--local <n>', 'local headless Node peers to start (default: --peers when given, else 0)', int('local'), 0)
    .addOption(new Option('--node-peers <n>', 'alias of --local').argParser(int('node-peers')).hideHelp())
    .option('--exit', 'stop when the local peers finish (exit code 0 when all finished)')
    .option('--data <path>', "the local peers' own data (sessions with --data-spec): a CSV file or an image folder")
    .option('--wait-for-tab', 'start the local peers only once a browser tab has joined, so the whole run can be watched'),
)
  .addHelpText(
    'after',
    examples([
      'signvote start                                   # server + a 3-peer demo session; open the URL in 3 tabs',
      'signvote start --peers 3                         # 3 local Node peers train; the URL shows them in a tab',
      'signvote start --peers 4 --local 2               # 2 Node peers + 2 browser tabs',
      'signvote start --host 0.0.0.0 --https            # tabs on phones and other computers of the LAN',
      'signvote start --port 0 --peers 4 --rounds 60 --exit   # 4 Node peers train, then everything stops',
      'signvote start --peers 3 --wait-for-tab          # the Node peers start once the URL is open in a tab',
    ]) + '\nPeer 1 reports its progress on stderr; the others are quiet. Defaults here: 100 rounds, evaluation every 5.\n' +
      'The server keeps running after the session finished (until Ctrl-C, or --exit): the URL then shows the finished session.\n',
  )
  .action(async (opts: SessionFlags & ServerFlags & { listed?: boolean; local: number; nodePeers?: number; exit?: boolean; data?: string; waitForTab?: boolean }, cmd: Command) => {
  if (opts.nodePeers !== undefined) opts.local = opts.nodePeers;
  // `start --peers N` starts all N peers here, unless --local says how many of them
  const localGiven = cmd.getOptionValueSource('local') === 'cli' || opts.nodePeers !== undefined;
  if (!localGiven && opts.peers !== undefined) opts.local = opts.peers;
  // sessionConfigFromFlags reads the session's own flags only
  const { nodePeers: _alias, listed, data: localData, waitForTab, ...sessionOpts } = opts;
  const config = parseSessionConfig(sessionConfigFromFlags({ peers: Math.max(opts.local, 1) > 1 ? opts.local : 3, rounds: 100, evalEvery: 5, ...stripUndefined(sessionOpts) }));
  // the local peers' --data against the session, before anything is served or created
  if (opts.local > 0) {
    const mismatch = dataFlagMismatch(config, localData);
    if (mismatch !== null) throw mismatch;
  } else if (localData !== undefined) throw new CliError('--data is for the local peers, and none start here: add --local N (or --peers N)', EXIT.usage);
  const { server, tls, lines, clientBuilt, buildClient } = await startServer(opts, false);
  const model = opts.model === undefined ? undefined : resolveModelFlag(opts.model);
  if (config.modelFile && model?.kind === 'file') await server.storeModel(model.bytes, model.name);
  const created = await server.createSession(config, { listed: listed ?? false });
  // this machine's tabs open the loopback link: localhost is a secure context, a LAN address is not
  const localLink = `${server.url}/${new URL(created.url).search}`;
  for (const line of lines) console.log(line);
  console.log(`demo session ${created.id}: ${config.expectedPeers} peers, ${config.algorithm.name}, ${sessionModelName(config)} on ${config.data ? "each peer's own data" : config.dataset}${listed ? ', listed on the home page' : ''}`);
  const shardsNote = voteShardsAtCreation(config);
  if (shardsNote !== null) console.log(shardsNote);
  const tabs = config.expectedPeers - opts.local;
  for (const line of tabLines({ clientBuilt, tabs, localLink, shareUrl: created.url, buildClient })) console.log(line);
  const children: ChildProcess[] = [];
  if (waitForTab && opts.local > 0) {
    console.log('the local peers start once a browser tab has joined');
    while ((await server.members(created.id)) === 0) await new Promise((r) => setTimeout(r, 500));
  }
  // with --redis the local peers also know the other live server processes, to move to if this one goes away
  const peerServers = [server.url, ...(await server.servers()).slice(1)].join(',');
  for (let i = 0; i < opts.local; i++) {
    const child = spawn(process.execPath, peerNodeArgs(binPath, ['peer', '--server', peerServers, '--session', created.id, '--token', created.token, '--label', `node-${i + 1}`, ...(localData ? ['--data', localData] : [])]), {
      stdio: ['ignore', 'inherit', i === 0 ? 'inherit' : 'ignore'],
      // the local peers trust the certificate this server presents, self-signed or not
      env: tls ? { ...process.env, NODE_EXTRA_CA_CERTS: tls.certPath } : process.env,
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
