/**
 * Evaluation beside training (issue 16): the rounds computed while a test-set evaluation runs,
 * against the other rounds of the same session, for the MLP on MNIST and the CNN on
 * Fashion-MNIST, in two Chromium tabs and in two Node peers (`signvote peer --json --timings`,
 * wasm). Value: median ms of the rounds beside an evaluation; baseline: median ms of the others;
 * a ratio >= 0.67 keeps evaluation rounds within 1.5x of the rest. `EVAL_BENCH_ROUNDS` (default
 * 60) sizes the runs; evaluations every 10 rounds.
 */
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseSessionConfig } from '@signvote/core';
import { createSignalingServer } from '@signvote/signaling';
import { PEER_NODE_FLAGS } from '../cli/src/node-flags';
import { hasChromium, launchChromium } from '../e2e/src/browser';
import { ensureClientBuild } from '../e2e/src/build';
import { besideEvaluation, median, recordRoundTimes, roundMs } from '../e2e/src/round-times';
import { latency, type Bench, type BenchResult } from './harness';

const ROUNDS = Number(process.env.EVAL_BENCH_ROUNDS ?? 60);
const EVAL_EVERY = 10;
const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../cli/bin/signvote.mjs');
const tasks = [
  { model: 'mlp', dataset: 'mnist' },
  { model: 'cnn', dataset: 'fashion-mnist' },
] as const;

const configOf = (task: (typeof tasks)[number]) =>
  parseSessionConfig({ ...task, algorithm: { name: 'mv-sto-signsgd-sim', lr: 0.003 }, expectedPeers: 2, batchSize: 32, rounds: ROUNDS, evalEvery: EVAL_EVERY, deadlineMs: 10_000, seed: 5 });

function row(where: string, task: (typeof tasks)[number], ms: ReadonlyMap<number, number>): BenchResult {
  const { beside, others } = besideEvaluation(ms, EVAL_EVERY, ROUNDS);
  return latency(`round beside an evaluation, ${task.model} on ${task.dataset}, 2 ${where}`, 'ms', median(beside), median(others), `median of ${beside.length} rounds vs the other ${others.length}`);
}

async function nodePeers(task: (typeof tasks)[number]): Promise<BenchResult> {
  const server = await createSignalingServer({ port: 0, logger: false });
  try {
    const { id, token } = await server.createSession(configOf(task));
    const rows: { round: number; ms: number }[] = [];
    await Promise.all(
      [0, 1].map(
        (i) =>
          new Promise<void>((done, fail) => {
            const child = spawn(process.execPath, [...PEER_NODE_FLAGS, bin, 'peer', '--server', server.url, '--session', id, '--token', token, '--json', '--timings', '--label', `bench-${i}`], {
              stdio: ['ignore', 'pipe', 'pipe'],
            });
            let errors = '';
            child.stderr.setEncoding('utf8').on('data', (d: string) => (errors = (errors + d).slice(-2000)));
            // one peer's rows are the session's rounds as that peer saw them
            if (i === 0) createInterface({ input: child.stdout }).on('line', (line) => rows.push(JSON.parse(line) as { round: number; ms: number }));
            else child.stdout.resume();
            child.once('exit', (code) => (code === 0 ? done() : fail(new Error(`bench peer ${i} exited with ${code}: ${errors}`))));
          }),
      ),
    );
    return row('Node peers', task, new Map(rows.map((r) => [r.round, r.ms])));
  } finally {
    await server.close();
  }
}

async function browserTabs(task: (typeof tasks)[number]): Promise<BenchResult> {
  const server = await createSignalingServer({ port: 0, logger: false, staticDir: await ensureClientBuild() });
  const browser = await launchChromium();
  try {
    const { url } = await server.createSession(configOf(task));
    const tabs = await Promise.all(
      [0, 1].map(async () => {
        const page = await browser.newPage();
        await page.goto(`${url}&backend=wasm`);
        await recordRoundTimes(page);
        return page;
      }),
    );
    await tabs[0].waitForFunction(() => document.querySelector('[data-testid="state"]')?.getAttribute('data-state') === 'finished', null, { timeout: 600_000 });
    return row('Chromium tabs', task, await roundMs(tabs[0]));
  } finally {
    await browser.close();
    await server.close();
  }
}

export const benches: Bench[] = [
  {
    name: 'evaluation beside training (Node peers)',
    run: async () => {
      const out: BenchResult[] = [];
      for (const task of tasks) out.push(await nodePeers(task));
      return out;
    },
  },
  {
    name: 'evaluation beside training (Chromium tabs)',
    run: async () => {
      if (!hasChromium()) return [];
      const out: BenchResult[] = [];
      for (const task of tasks) out.push(await browserTabs(task));
      return out;
    },
  },
];
