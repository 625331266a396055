import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './build';

/** One line of `signvote peer --json`. */
export interface NodeRound {
  readonly round: number;
  readonly term: number;
  readonly role: string;
  readonly accuracy: number | null;
  readonly hash: string;
}

/** One event line of `signvote peer --json` on stderr (`{"event": ...}`). */
export interface NodeEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

export interface NodePeer {
  readonly rounds: NodeRound[];
  readonly events: NodeEvent[];
  /** stderr and unparsed stdout, for failure messages */
  readonly output: string[];
  readonly exited: Promise<number | null>;
  stop(): void;
}

/** A headless Node peer through the real CLI (`cli/bin/signvote.mjs peer --json`). */
export function startNodePeer(server: string, session: string, token: string, extra: readonly string[] = []): NodePeer {
  const child: ChildProcess = spawn(
    process.execPath,
    [join(repoRoot, 'cli', 'bin', 'signvote.mjs'), 'peer', '--server', server, '--session', session, '--token', token, '--json', '--label', 'e2e-node', ...extra],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const rounds: NodeRound[] = [];
  const events: NodeEvent[] = [];
  const output: string[] = [];
  // stdout carries one JSON row per applied round, stderr one JSON object per other event
  const lines = (stream: NodeJS.ReadableStream, onLine: (line: string) => void) => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line.trim() !== '') onLine(line);
    });
  };
  const parse = (line: string): Record<string, unknown> | null => {
    try {
      const v: unknown = JSON.parse(line);
      return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  };
  lines(child.stdout!, (line) => {
    const r = parse(line);
    if (r && typeof r.round === 'number' && typeof r.hash === 'string') rounds.push(r as unknown as NodeRound);
    else output.push(line);
  });
  lines(child.stderr!, (line) => {
    const e = parse(line);
    if (e && typeof e.event === 'string') events.push(e as NodeEvent);
    output.push(line);
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => {
      // a peer killed by a signal (a crash in a native addon) says which in the test's message
      if (signal !== null) output.push(`exited on ${signal}`);
      resolve(code);
    }),
  );
  return {
    rounds,
    events,
    output,
    exited,
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
