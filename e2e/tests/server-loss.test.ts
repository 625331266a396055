import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '@signvote/signaling';
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
  let redis: RedisServer | undefined;
  afterAll(async () => {
    await browser?.close();
    if (serve && serve.exitCode === null && serve.signalCode === null) serve.kill('SIGKILL');
    await redis?.stop();
  });

  /** `signvote serve` as a person starts it; resolves with its URL once it listens */
  const startServe = async (args: string[]): Promise<{ child: ChildProcess; base: string }> => {
    const child = spawn(process.execPath, [join(repoRoot, 'cli', 'bin', 'signvote.mjs'), 'serve', '--json', '--quiet', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
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
    return { child, base };
  };

  it('stops its peer, says it lost the server, and offers to start again (aggregator and worker)', async () => {
    const { child, base } = await startServe(['--port', '0']);
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

  it('with the session kept in Redis, Start after the server is back goes on from the round the tab reached', async () => {
    redis = await startRedisServer();
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as { port: number };
        probe.close(() => resolve(p));
      });
    });
    const args = ['--port', String(port), '--redis', redis.url];
    const first = await startServe(args);
    const res = await fetch(`${first.base}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...config, expectedPeers: 1 }) });
    expect(res.status).toBe(201);
    const link = ((await res.json()) as { url: string }).url;
    const page = await (await browser!.newContext()).newPage();
    await page.goto(`${link}&backend=wasm`);
    await waitUntil('the tab to train', 120_000, async () => {
      const f = await readFacts(page);
      return f.state === 'training' && f.rounds >= 20;
    });
    // killed, as a crash or a machine going down does: its seats stay in Redis for a while
    first.child.kill('SIGKILL');
    const held = await waitUntil('the tab to stop', 60_000, async () => {
      const f = await readFacts(page);
      return f.state === 'error' ? f : null;
    });
    await startServe(args);
    await page.getByTestId('start').click();
    // before, the tab rejoined with round-0 parameters, and the record (at its last committed
    // round, behind the tab) refused it: "which no member holds ... the stored snapshot does not exist"
    const resumed = await waitUntil('the tab to train again', 120_000, async () => {
      const f = await readFacts(page);
      if (f.state === 'error') throw new Error(`${await page.getByTestId('state').textContent()}`);
      return f.state === 'training' && f.rounds > held.rounds ? f : null;
    });
    expect(resumed.rounds).toBeGreaterThan(held.rounds);
  }, 300_000);
});
