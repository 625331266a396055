import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * A throwaway redis-server (Debian's `redis-server`) on a free port (or `port`: a test restarts
 * Redis where its servers reconnect), for tests: no persistence, killed by `stop()`. Throws when
 * the binary is missing or the server does not come up in 10 s. redis-sentinel-server.ts builds
 * a Sentinel deployment from these.
 */
export interface RedisServer {
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export const REDIS_SERVER_BINARY = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    });
  });
}

/**
 * `args`: more redis-server arguments (`--replicaof HOST PORT`); `ready`: the log line that says
 * it serves (a replica: its first sync done)
 */
export async function startRedisServer(binary = REDIS_SERVER_BINARY, port?: number, args: string[] = [], ready = /Ready to accept connections/): Promise<RedisServer> {
  port ??= await freePort();
  const child = await spawnRedis(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], ready);
  return { url: `redis://127.0.0.1:${port}`, port, child, stop: () => kill(child) };
}

/** starts redis-server with `args` and resolves once its output matches `ready` (10 s at most) */
export async function spawnRedis(binary: string, args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output = (output + d).slice(-4000)));
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server ${args.join(' ')} did not come up in 10 s: ${output}`));
    }, 10_000);
    child.stdout!.on('data', (d: string) => {
      output = (output + d).slice(-4000);
      if (ready.test(output)) {
        clearTimeout(timer);
        resolveReady();
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${binary} (apt-get install redis-server): ${err.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}): ${output}`));
    });
  });
  return child;
}

/** SIGKILL, as a crash: resolves once the process is gone */
export function kill(child: ChildProcess): Promise<void> {
  return new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once('exit', () => done());
    child.kill('SIGKILL');
  });
}
