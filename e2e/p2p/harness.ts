import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { SessionConfigInput } from '@signvote/core';
import { PEER_NODE_FLAGS } from '@signvote/cli/node-flags';

/**
 * Real processes for the P2P tests: the signaling server and headless peers run as
 * `node cli/bin/signvote.mjs ...` exactly as a user would start them, and the tests read their
 * `--json` output (rounds on stdout, other events on stderr).
 */

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const bin = resolve(repoRoot, 'cli/bin/signvote.mjs');

export interface RoundLine {
  readonly round: number;
  readonly term: number;
  readonly role: 'aggregator' | 'worker';
  /** how the term splits the vote, and the range this peer tallies (docs/session.md "Vote shards") */
  readonly split: { readonly k: number; readonly asked: number; readonly limit: 'members' | 'coordinates' | null };
  readonly voteShard: { readonly index: number; readonly of: number; readonly start: number; readonly end: number } | null;
  readonly loss: number | null;
  readonly accuracy: number | null;
  readonly hash: string;
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** per voter of the round's verdict, its moving-average vote agreement; peers flagged far below the rest */
  readonly agreement: Readonly<Record<string, number>>;
  readonly lowAgreement: readonly string[];
  /** with --timings */
  readonly ms?: number;
  readonly computeMs?: number;
  readonly counted?: number;
  /** when the line was read here (ms since the epoch) */
  readonly seenAt: number;
}

export interface EventLine {
  readonly event: string;
  readonly [key: string]: unknown;
}

export interface PeerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly rounds: RoundLine[];
  readonly events: EventLine[];
  /** stderr lines that are not JSON (warnings, crashes) */
  readonly stderr: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForRound(round: number, timeoutMs?: number): Promise<RoundLine>;
  waitForEvent(predicate: (e: EventLine) => boolean, timeoutMs?: number): Promise<EventLine>;
  kill(signal?: NodeJS.Signals): void;
  describe(): string;
}

const children = new Set<ChildProcess>();

/** Kills whatever a test left running (afterAll), so no process outlives the test file. */
export function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
}

function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** `extra`: more `signvote serve` flags (e.g. --redis URL) */
export async function startServer(extra: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--json', '--quiet', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  const errors: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (d: string) => errors.push(d));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not print its URL in 30 s: ${errors.join('')}`)), 30_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      try {
        resolveUrl((JSON.parse(line) as { url: string }).url);
      } catch {
        reject(new Error(`server printed ${line}`));
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${errors.join('')}`)));
  });
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r();
        child.once('exit', () => r());
        child.kill('SIGTERM');
      }),
  };
}

export interface CreatedSession {
  readonly id: string;
  readonly token: string;
  /** the creator's key (starts the session early) */
  readonly admin?: string;
}

/** Over HTTP, as the client does; the CLI's `session create` has its own test. */
export async function createSession(server: string, config: SessionConfigInput): Promise<CreatedSession> {
  const res = await fetch(`${server}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
  const body = (await res.json()) as { id: string; token: string; admin: string; error?: string };
  if (!res.ok) throw new Error(`create session: ${res.status} ${body.error}`);
  return { id: body.id, token: body.token, admin: body.admin };
}

export function startPeerProcess(name: string, server: string, session: CreatedSession, extra: string[] = []): PeerProcess {
  const args = [bin, 'peer', '--server', server, '--session', session.id, '--token', session.token, '--json', '--label', name, ...extra];
  // as the bin runs it (its shebang's flags)
  const child = spawn(process.execPath, [...PEER_NODE_FLAGS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  const rounds: RoundLine[] = [];
  const events: EventLine[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      rounds.push({ ...(JSON.parse(line) as Omit<RoundLine, 'seenAt'>), seenAt: Date.now() });
    } catch {
      stderr.push(`(stdout, not JSON) ${line}`);
    }
    wake();
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    try {
      const e = JSON.parse(line) as EventLine;
      if (typeof e.event === 'string') events.push({ ...e, seenAt: Date.now() });
      else stderr.push(line);
    } catch {
      stderr.push(line);
    }
    wake();
  });
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      r(exitInfo);
      wake();
    }),
  );
  const describe = () =>
    `${name}: ${rounds.length} rounds (last ${rounds.at(-1)?.round ?? '-'}), exit ${JSON.stringify(exitInfo)}, ` +
    `stderr tail: ${stderr.slice(-5).join(' | ')}, events tail: ${JSON.stringify(events.filter((e) => e.event !== 'drop').slice(-3))}`;
  const waitUntil = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolveWait, reject) => {
      const done = (err?: Error, value?: T) => {
        clearTimeout(timer);
        waiters.delete(poll);
        if (err) reject(err);
        else resolveWait(value as T);
      };
      const poll = () => {
        const v = check();
        if (v !== undefined) return done(undefined, v);
        if (exitInfo !== null) done(new Error(`${what}: peer exited first. ${describe()}`));
      };
      const timer = setTimeout(() => done(new Error(`${what}: timed out after ${timeoutMs} ms. ${describe()}`)), timeoutMs);
      waiters.add(poll);
      poll();
    });
  return {
    name,
    child,
    rounds,
    events,
    stderr,
    exited,
    waitForRound: (round, timeoutMs = 120_000) => waitUntil(() => rounds.find((r) => r.round >= round), timeoutMs, `${name} round ${round}`),
    waitForEvent: (predicate, timeoutMs = 60_000) => waitUntil(() => events.find(predicate), timeoutMs, `${name} event`),
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    describe,
  };
}

/** Exit code 0 within the time limit, or a failure that says what the peer was doing. */
export async function expectClean(peer: PeerProcess, timeoutMs = 120_000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const result = await Promise.race([
    peer.exited,
    new Promise<null>((r) => {
      timer = setTimeout(() => r(null), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (result === null) throw new Error(`${peer.name} did not exit within ${timeoutMs} ms. ${peer.describe()}`);
  if (result.code !== 0) throw new Error(`${peer.name} exited with ${JSON.stringify(result)}. ${peer.describe()}`);
}

/** Round numbers of one peer's output: each exactly once, in order, no gaps. */
export function checkContinuous(rounds: readonly RoundLine[], from: number, to: number): string | null {
  const seen = rounds.map((r) => r.round);
  for (let i = 0; i < seen.length; i++) {
    const expected = from + i;
    if (seen[i] !== expected) return `expected round ${expected} at line ${i}, got ${seen[i]} (rounds ${seen.slice(Math.max(0, i - 3), i + 3).join(',')})`;
  }
  if (seen.length !== to - from) return `expected ${to - from} rounds from ${from}, got ${seen.length}`;
  return null;
}

export function finalHash(peer: PeerProcess): string | undefined {
  return peer.rounds.at(-1)?.hash;
}

export function drops(peer: PeerProcess): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of peer.events) if (e.event === 'drop') out[String(e.reason)] = (out[String(e.reason)] ?? 0) + 1;
  return out;
}

/** One `signvote ...` command to its end: exit code and output. */
export function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    let stdout = '', stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('exit', (code) => resolveRun({ code, stdout, stderr }));
  });
}
