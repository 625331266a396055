import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { decodeCheckpoint, hashParams, parseSessionConfig, sessionStatusSchema, startAnswerSchema, type SessionRecordView, type SessionStatus } from '@signvote/core';
import { CliError, EXIT, httpExitCode } from './exit';
import { fetchFailure } from './net-errors';
import { checkWritablePath } from './out-path';
import { serverList } from './servers';
import { addSessionFlags, createSessionOnServer, sessionConfigFromFlags, type SessionFlags } from './session-flags';
import { voteShardsAtCreation } from './vote-split';

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;

/**
 * `signvote session ...`: create a session, start it with the peers present, read its record,
 * download its parameters. All over the signaling server's HTTP routes (docs/signaling.md).
 */

/** fetch, with a dead server as exit code 3 */
async function call(server: string, path: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(new URL(path, server), init);
  } catch (e) {
    throw fetchFailure(server, e);
  }
}

function errorOf(body: unknown, res: Response): string {
  const error = (body as { error?: unknown } | null)?.error;
  return typeof error === 'string' ? error : `HTTP ${res.status}`;
}

/** a refusal of the record routes: 404/403 are refusals (exit 4), 409 a state conflict (exit 1) */
function refused(what: string, body: unknown, res: Response): CliError {
  return new CliError(`${what}: ${errorOf(body, res)}`, httpExitCode(res.status, res.status === 404 || res.status === 403 ? EXIT.refused : EXIT.error));
}

export async function sessionStatus(server: string, id: string, token: string): Promise<SessionStatus> {
  const res = await call(server, `/api/sessions/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${token}` } });
  const body: unknown = await res.json().catch(() => ({}));
  if (!res.ok) throw refused(`cannot read session ${id}`, body, res);
  const parsed = sessionStatusSchema.safeParse(body);
  if (!parsed.success) throw new CliError(`unreadable answer from ${server}`, EXIT.error);
  return parsed.data;
}

/** One line per fact, for people: where the session stands and what it ended with. */
export function describeRecord(id: string, rounds: number, record: SessionRecordView, members?: number, expectedPeers?: number): string[] {
  const lines: string[] = [];
  // "of N" while the session waits: how many more it needs to start
  const of = expectedPeers !== undefined && record.status === 'waiting' ? ` of ${expectedPeers}` : '';
  const who = members === undefined ? '' : `, ${members}${of} peer${(of ? expectedPeers : members) === 1 ? '' : 's'} present`;
  if (record.status === 'finished' && record.finished) {
    lines.push(`session ${id} finished at round ${record.finished.round} with parameters ${record.finished.hash}${who}`);
  } else if (record.status === 'running') {
    lines.push(`session ${id} is running: round ${record.round}/${rounds} committed${record.hash ? ` (parameters ${record.hash}, term ${record.term})` : ''}, ${record.shards} shards${who}`);
  } else {
    lines.push(`session ${id} is waiting for peers${record.round > 0 ? ` (round ${record.round}/${rounds} committed; it resumes when enough peers are back)` : ''}${who}`);
  }
  if (record.eval) lines.push(`test accuracy ${(100 * record.eval.accuracy).toFixed(1)}% after round ${record.eval.round}`);
  if (record.snapshot) lines.push(`stored parameters: round ${record.snapshot.round} (${record.snapshot.bytes} bytes): signvote session download ${id} ...`);
  return lines;
}

/** why there is nothing to download yet, and when there will be (the session's checkpointEvery) */
async function noSnapshotYet(server: string, id: string, token: string): Promise<string> {
  const status = await sessionStatus(server, id, token).catch(() => null);
  const every = status?.config.checkpointEvery ?? 0;
  const next = every > 0 ? (Math.floor((status?.record.round ?? 0) / every) + 1) * every : 0;
  const when =
    every > 0
      ? `the session stores one every ${every} rounds (the next at round ${next}) and its final parameters when it finishes`
      : 'the final parameters are stored when the session finishes; for one every N rounds before that, create the session with --checkpoint-every N';
  return `session ${id} has no stored snapshot yet: ${when}`;
}

/** `--server URL1,URL2`: the first of them that answers (a usage error when one is not a URL) */
async function firstServer(flag: string): Promise<string> {
  const [server] = await serverList(flag);
  return server;
}

export function addSessionCommands(program: Command): void {
  const session = program.command('session').description('manage sessions on a signaling server: create, start, status, download');
  addSessionFlags(
    session
      .command('create')
      .description('create a session; prints its id, token, join URL and the creator key')
      .requiredOption('--server <url>', 'signaling server URL (or several on one Redis, comma-separated: the first that answers)')
      .option('--listed', "list the session on the server's home page: anyone who opens the server can join")
      .option('--json', 'print one JSON object {"id","token","url","admin"}'),
  )
    .addHelpText(
      'after',
      examples([
        'signvote session create --server http://127.0.0.1:8080 --peers 4 --rounds 150 --lr 3e-3',
        'signvote session create --server http://127.0.0.1:8080 --config run.json --checkpoint-every 10 --json',
        'signvote session create --server http://127.0.0.1:8080 --model model.onnx --data-spec iris.json --peers 2',
      ]),
    )
    .action(async (opts: SessionFlags & { server: string; listed?: boolean; json?: boolean }) => {
      // the config first: a typo in it is found without a server
      const config = sessionConfigFromFlags(opts);
      const server = await firstServer(opts.server);
      const created = await createSessionOnServer(server, config, { model: opts.model, listed: opts.listed ?? false });
      // stderr: with --json stdout stays one JSON object
      const shardsNote = voteShardsAtCreation(parseSessionConfig(config));
      if (shardsNote !== null) console.error(shardsNote);
      if (opts.json) console.log(JSON.stringify(created));
      else console.log(`session ${created.id}\ntoken   ${created.token}\njoin    ${created.url}\nadmin   ${created.admin}   (start it early: signvote session start ${created.id} --server ${server} --admin ${created.admin})`);
    });

  session
    .command('start <id>')
    .description('start a session with the peers present, before expectedPeers have joined; the data is split over them')
    .requiredOption('--server <url>', 'signaling server URL (or several on one Redis, comma-separated: the first that answers)')
    .requiredOption('--admin <key>', "the creator key printed by 'session create'")
    .option('--json', 'print the answer as one JSON object {"ok","record","members"}')
    .addHelpText('after', examples(['signvote session start Ab3dE_x9 --server http://127.0.0.1:8080 --admin KEY']))
    .action(async (id: string, opts: { server: string; admin: string; json?: boolean }) => {
      const server = await firstServer(opts.server);
      const res = await call(server, `/api/sessions/${encodeURIComponent(id)}/start`, { method: 'POST', headers: { authorization: `Bearer ${opts.admin}` } });
      const body: unknown = await res.json().catch(() => ({}));
      if (!res.ok) throw refused(`cannot start session ${id}`, body, res);
      const parsed = startAnswerSchema.safeParse(body);
      if (!parsed.success) throw new CliError(`unreadable answer from ${server}`, EXIT.error);
      if (opts.json) console.log(JSON.stringify(body));
      else console.log(`session ${id} started with ${parsed.data.members} peer${parsed.data.members === 1 ? '' : 's'}: the data is split into ${parsed.data.record.shards} shards`);
    });

  session
    .command('status <id>')
    .description("where a session stands: waiting, running (committed round, hash, term) or finished (final round, hash, accuracy)")
    .requiredOption('--server <url>', 'signaling server URL (or several on one Redis, comma-separated: the first that answers)')
    .requiredOption('--token <token>', 'session token')
    .option('--json', 'print one JSON object {"ok","id","config","record","members"}')
    .addHelpText('after', examples(['signvote session status Ab3dE_x9 --server http://127.0.0.1:8080 --token TOKEN']))
    .action(async (id: string, opts: { server: string; token: string; json?: boolean }) => {
      const status = await sessionStatus(await firstServer(opts.server), id, opts.token);
      if (opts.json) console.log(JSON.stringify(status));
      else console.log(describeRecord(id, status.config.rounds, status.record, status.members, status.config.expectedPeers).join('\n'));
    });

  session
    .command('download <id>')
    .description("save the session's stored parameters (its final ones once finished) as a checkpoint file")
    .requiredOption('--server <url>', 'signaling server URL (or several on one Redis, comma-separated: the first that answers)')
    .requiredOption('--token <token>', 'session token')
    .option('-o, --out <file>', 'where to write it (default: signvote-ID-round-R.ckpt)')
    .addHelpText(
      'after',
      examples([
        'signvote session download Ab3dE_x9 --server http://127.0.0.1:8080 --token TOKEN -o final.ckpt',
        'signvote peer --server ... --session NEW --token T --resume final.ckpt   # train on from it in a new session',
      ]),
    )
    .action(async (id: string, opts: { server: string; token: string; out?: string }) => {
      // a path that cannot be written fails before anything is downloaded
      const out = opts.out === undefined ? undefined : checkWritablePath('--out', opts.out);
      const server = await firstServer(opts.server);
      const res = await call(server, `/api/sessions/${encodeURIComponent(id)}/snapshot`, { headers: { authorization: `Bearer ${opts.token}` } });
      if (!res.ok) {
        const body: unknown = await res.json().catch(() => ({}));
        if ((body as { code?: unknown }).code === 'no-snapshot') throw new CliError(await noSnapshotYet(server, id, opts.token), EXIT.refused);
        throw refused(`cannot download session ${id}`, body, res);
      }
      const bytes = new Uint8Array(await res.arrayBuffer());
      // checked here too: a file that does not decode or hash must not be written as if it did
      const cp = decodeCheckpoint(bytes);
      const file = out ?? resolve(`signvote-${id}-round-${cp.round}.ckpt`);
      try {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, bytes);
      } catch (err) {
        throw new CliError(`--out ${opts.out ?? file}: cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, EXIT.error);
      }
      console.log(`${file}: session ${id}, round ${cp.round}, parameters ${hashParams(cp.x)} (${bytes.byteLength} bytes)`);
    });
}
