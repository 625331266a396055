import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const clientDir = join(repoRoot, 'client');
export const clientDist = join(clientDir, 'dist');
/** where the browser tests save screenshots (git-ignored) */
export const screenshots = join(repoRoot, 'e2e', 'screenshots');

/** Newest modification time under `path` (files only), skipping tests and Node-only code. */
function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const info = statSync(path);
  if (info.isFile()) return info.mtimeMs;
  let latest = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name === 'node') continue;
    if (entry.isFile() && entry.name.endsWith('.test.ts')) continue;
    latest = Math.max(latest, newest(join(path, entry.name)));
  }
  return latest;
}

/** The page bundles client/ and the isomorphic core, so either changing makes the build stale. */
export function clientBuildIsStale(): boolean {
  const built = join(clientDist, 'index.html');
  if (!existsSync(built)) return true;
  const sources = Math.max(
    newest(join(clientDir, 'src')),
    newest(join(clientDir, 'index.html')),
    newest(join(clientDir, 'vite.config.ts')),
    newest(join(repoRoot, 'core', 'src')),
  );
  return sources > statSync(built).mtimeMs;
}

/**
 * Builds client/dist when it is missing or older than its sources. Test files may run in
 * parallel, so a lock directory makes one of them build while the others wait for it.
 */
export async function ensureClientBuild(): Promise<string> {
  const lock = join(tmpdir(), `signvote-client-build-${createHash('sha1').update(repoRoot).digest('hex').slice(0, 12)}`);
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // a lock older than the slowest build is left over from a killed run
      const held = statSync(lock, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > 180_000) rmdirSync(lock);
      else await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    if (clientBuildIsStale()) {
      const vite = join(repoRoot, 'node_modules', 'vite', 'bin', 'vite.js');
      // vitest sets NODE_ENV=test, which would make vite bundle React's development build
      const env = { ...process.env, NODE_ENV: 'production' };
      const run = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: clientDir, env, encoding: 'utf8', timeout: 170_000 });
      if (run.status !== 0) throw new Error(`vite build failed (${run.status ?? run.signal}):\n${run.stdout}\n${run.stderr}`);
    }
  } finally {
    rmdirSync(lock);
  }
  return clientDist;
}
