import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** `npm run simulate` / `npm run experiment` on bad input exit 2, as `signvote` does (docs/cli.md). */

const script = (name: string) => fileURLToPath(new URL(`./${name}.ts`, import.meta.url));

function run(name: string, args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script(name), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

describe('usage errors of simulate and experiment', () => {
  it('simulate: an unknown flag, a bad value and a flag that needs --model exit 2', async () => {
    expect((await run('simulate', ['--bogus'])).status).toBe(2);
    expect((await run('simulate', ['--peers', 'x'])).status).toBe(2);
    const needs = await run('simulate', ['--limit', '3']);
    expect(needs.status).toBe(2);
    expect(needs.stderr).toContain('--limit needs --model');
  });

  it('experiment: a missing --config and a config with unknown keys exit 2', async () => {
    expect((await run('experiment', [])).status).toBe(2);
    const file = join(mkdtempSync(join(tmpdir(), 'signvote-exp-')), 'typo.json');
    writeFileSync(file, JSON.stringify({ expectedPeer: 2 }));
    const r = await run('experiment', ['--config', file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Unrecognized key: "expectedPeer"/);
  });
});
