import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from '../src/browser';
import { ensureClientBuild, repoRoot } from '../src/build';
import { readFacts, waitUntil } from '../src/session-page';

/**
 * The signaling server process dies mid-session (SIGTERM to `signvote serve`, as a person
 * stopping it does). Two tabs train; with no other server in their link, both must stop their
 * peer and say they lost the signaling server, as the CLI's peer does: the aggregator's tab
 * must not train on alone, nor keep the departed worker in its peers table.
 */

const config = {
  model: 'mlp',
  dataset: 'synthetic',
  expectedPeers: 2,
  batchSize: 16,
  rounds: 100_000,
  evalEvery: 0,
  deadlineMs: 2000,
  seed: 3,
};

describe.skipIf(!hasChromium())('a tab whose signaling server goes away', () => {
  let serve: ChildProcess | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    await ensureClientBuild();
    browser = await launchChromium();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    if (serve && serve.exitCode === null && serve.signalCode === null) serve.kill('SIGKILL');
  });

  it('stops its peer, says it lost the server, and offers to start again (aggregator and worker)', async () => {
    const child = spawn(process.execPath, [join(repoRoot, 'cli', 'bin', 'signvote.mjs'), 'serve', '--port', '0', '--json', '--quiet'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    serve = child;
    let out = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const base = await new Promise<string>((resolve, reject) => {
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const line = /\{.*"url".*\}/.exec(out)?.[0];
        if (line) resolve((JSON.parse(line) as { url: string }).url);
      });
      child.once('exit', (code) => reject(new Error(`signvote serve exited (${code}): ${out}`)));
    });
    const res = await fetch(`${base}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
    expect(res.status).toBe(201);
    const link = ((await res.json()) as { url: string }).url;

    const tabs: Page[] = [];
    for (let i = 0; i < 2; i++) {
      const page = await (await browser!.newContext()).newPage();
      await page.goto(`${link}&backend=wasm`);
      tabs.push(page);
    }
    await waitUntil('both tabs to train', 120_000, async () => (await Promise.all(tabs.map(readFacts))).every((f) => f.state === 'training' && f.rounds >= 3));

    child.kill('SIGTERM');
    const stopped = await waitUntil('both tabs to stop', 60_000, async () => {
      const facts = await Promise.all(tabs.map(readFacts));
      return facts.every((f) => f.state === 'error') ? facts : null;
    });
    expect(new Set(stopped.map((f) => f.role))).toEqual(new Set(['aggregator', 'worker']));
    for (const page of tabs) {
      expect(await page.getByTestId('state').textContent()).toMatch(/^Error: lost the signaling server \(/);
      // the peer is stopped: no more rounds, only this tab in its table, Start to try again
      const before = (await readFacts(page)).rounds;
      await new Promise((r) => setTimeout(r, 3000));
      expect((await readFacts(page)).rounds).toBe(before);
      expect(await page.getByTestId('peer-row').count()).toBe(1);
      expect(await page.getByTestId('peer-row').getAttribute('data-self')).toBe('true');
      expect(await page.getByTestId('start').isEnabled()).toBe(true);
      expect(await page.getByTestId('leave').isDisabled()).toBe(true);
      expect(await page.getByTestId('pause').isDisabled()).toBe(true);
    }
  }, 300_000);
});
