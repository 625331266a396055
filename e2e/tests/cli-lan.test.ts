import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lanAddresses } from '@signvote/signaling';
import { ensureClientBuild, repoRoot } from '../src/build';

/**
 * `signvote start` / `serve` for other machines: join links on the LAN address or --public-url,
 * HTTPS with a self-signed certificate the local Node peers trust. Only loopback is ever
 * connected to here; the LAN address is read from the output, not dialled.
 */

const bin = join(repoRoot, 'cli', 'bin', 'signvote.mjs');
const config = mkdtempSync(join(tmpdir(), 'signvote-tls-'));
afterAll(() => rmSync(config, { recursive: true, force: true }));
// start prints the join links only with a built client (a fresh clone, as in CI, has none)
beforeAll(() => ensureClientBuild(), 180_000);

function runCli(args: string[], until?: RegExp): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // the self-signed certificate goes to a temporary config folder, not the user's
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_CONFIG_HOME: config } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      // a server that runs until stopped: stop it once it printed what the test reads
      if (until?.test(stdout)) child.kill('SIGTERM');
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('join links for other machines', () => {
  const lan = lanAddresses()[0];

  it('start --host 0.0.0.0 --https prints a LAN join link, and its Node peers train over HTTPS', async () => {
    const run = await runCli(['start', '--port', '0', '--host', '0.0.0.0', '--https', '--peers', '2', '--rounds', '4', '--eval-every', '2', '--exit']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/more peers can join from a browser tab: https:\/\/127\.0\.0\.1:\d+\/\?session=\S+&token=\S+/);
    if (lan) {
      const escaped = lan.replace(/\./g, '\\.');
      expect(run.stdout).toMatch(new RegExp(`join from other computers and phones: https://${escaped}:\\d+/\\?session=\\S+&token=\\S+`));
    } else {
      expect(run.stdout).toContain('no LAN address found');
    }
    const certPath = /self-signed certificate (\S+);/.exec(run.stdout)?.[1];
    expect(certPath).toBe(join(config, 'signvote', 'tls', 'cert.pem'));
    expect(readFileSync(certPath!, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(run.stderr).toMatch(/finished: 4 rounds, parameters [0-9a-f]{16}/);
  }, 120_000);

  it('start --public-url puts the given base in the join link', async () => {
    const run = await runCli(['start', '--port', '0', '--public-url', 'https://signvote.example:9443/'], /join from other computers/);
    expect(run.stdout).toMatch(/join from other computers and phones: https:\/\/signvote\.example:9443\/\?session=\S+&token=\S+/);
  }, 60_000);

  it('serve --json reports the share URL', async () => {
    const run = await runCli(['serve', '--port', '0', '--host', '0.0.0.0', '--quiet', '--json'], /\}\n/);
    const printed = JSON.parse(run.stdout.trim()) as { url: string; shareUrl: string; port: number };
    expect(printed.url).toBe(`http://127.0.0.1:${printed.port}`);
    expect(printed.shareUrl).toBe(`http://${lan ?? '127.0.0.1'}:${printed.port}`);
  }, 60_000);

  it('refuses --cert without --key with a usage error', async () => {
    const run = await runCli(['serve', '--port', '0', '--cert', 'cert.pem']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--cert and --key go together');
  }, 60_000);
});
