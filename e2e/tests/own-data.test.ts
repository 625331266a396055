import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as encodePng } from 'fast-png';
import { encode as encodeJpeg } from 'jpeg-js';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng, localDataSchema, prepareLocalData, sha256Hex } from '@signvote/core';
import { loadOrtNode } from '@signvote/core/node';
import type { SignalingServer } from '@signvote/signaling';
import { hasChromium, launchChromium, watchErrors } from '../src/browser';
import { repoRoot } from '../src/build';
import { startNodePeer, type NodePeer } from '../src/node-peer';
import { startServer } from '../src/server';
import { readFacts, waitUntil } from '../src/session-page';

/**
 * A tab brings its own CSV: the session trains an uploaded ONNX file on each peer's own rows.
 * The tab is shown a malformed file's line and column, then picks a good file, sees the
 * samples per class, joins the vote, trains with a headless Node peer (its own CSV), tries the
 * model on a pasted row, and downloads it; onnxruntime-node runs the download on raw rows (the
 * spec's standardize is in the file): the pasted row to the panel's probabilities, the tab's
 * held-out rows to exactly the accuracy it reported.
 */

const classes = ['north', 'east', 'south'];
// per-feature shifts and scales: the tab standardizes what it reads, the download takes raw rows
const standardize = { mean: Array.from({ length: 12 }, (_, i) => (i % 3) - 1), std: Array.from({ length: 12 }, (_, i) => 0.5 + 0.25 * (i % 4)) };
const spec = { format: 'csv', labelColumn: 'region', classes, standardize, testFraction: 0.25 } as const;
const header = [...Array.from({ length: 12 }, (_, i) => `f${i}`), 'region'].join(',');

describe.skipIf(!hasChromium())('a tab trains on a local CSV with a Node peer and downloads the model', () => {
  let server: SignalingServer;
  let browser: Browser;
  let node: NodePeer | undefined;
  let dir: string;

  beforeAll(async () => {
    server = await startServer();
    browser = await launchChromium();
    dir = mkdtempSync(join(tmpdir(), 'signvote-e2e-csv-'));
    const rng = createRng(31);
    const centres = classes.map(() => Array.from({ length: 12 }, () => rng.normal()));
    for (const [name, seed] of [['tab.csv', 1], ['node.csv', 2]] as const) {
      const r = rng.fork(seed);
      const lines = [header];
      for (let i = 0; i < 500; i++) {
        const c = r.int(3);
        lines.push([...centres[c].map((m) => (m + 1.2 * r.normal()).toFixed(5)), classes[c]].join(','));
      }
      writeFileSync(join(dir, name), `${lines.join('\n')}\n`);
    }
    const bad = readFileSync(join(dir, 'tab.csv'), 'utf8').split('\n');
    bad[4] = bad[4].replace(/^((?:[^,]*,){3})[^,]*/, '$1oops');
    writeFileSync(join(dir, 'bad.csv'), bad.join('\n'));
  }, 180_000);

  afterAll(async () => {
    node?.stop();
    await browser?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('picks, joins, trains, predicts and downloads', async () => {
    const onnx = new Uint8Array(readFileSync(join(repoRoot, 'core/fixtures/onnx/tabular-layernorm.onnx')));
    const up = await fetch(`${server.url}/api/models?name=tabular.onnx`, { method: 'POST', body: onnx as Uint8Array<ArrayBuffer> });
    expect(up.status).toBe(201);
    const config = {
      modelFile: { sha256: sha256Hex(onnx), bytes: onnx.length, name: 'tabular.onnx' },
      data: spec,
      algorithm: { name: 'mv-sto-signsgd-sim', lr: 0.003 },
      expectedPeers: 2,
      batchSize: 32,
      rounds: 80,
      evalEvery: 20,
      deadlineMs: 3000,
      seed: 9,
    };
    const res = await fetch(`${server.url}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
    expect(res.status).toBe(201);
    const { id, token, url } = (await res.json()) as { id: string; token: string; url: string };

    node = startNodePeer(server.url, id, token, ['--data', join(dir, 'node.csv')]);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const errors = watchErrors(page, 'tab');
    await page.goto(`${url}&backend=wasm`);

    // a malformed row: its line and column, and no way to join
    await page.getByTestId('data-file').setInputFiles(join(dir, 'bad.csv'));
    await expect.poll(() => page.getByTestId('data-error').textContent(), { timeout: 30_000 }).toMatch(/bad\.csv line 5, column "f3": "oops" is not a number/);
    expect(await page.getByTestId('join-vote').count()).toBe(0);

    await page.getByTestId('data-file').setInputFiles(join(dir, 'tab.csv'));
    await page.getByTestId('data-counts').waitFor({ timeout: 30_000 });
    const counts = await page.getByTestId('data-count').evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-class'), Number(r.getAttribute('data-count'))]));
    expect(counts.map(([c]) => c)).toEqual(classes);
    expect(counts.reduce((a, [, n]) => a + (n as number), 0)).toBe(500);
    await page.getByTestId('join-vote').click();

    const done = await waitUntil(`the tab to finish (node: ${node.output.slice(-3).join(' | ')})`, 150_000, async () => {
      const f = await readFacts(page);
      return f.state === 'finished' ? f : null;
    });
    expect(done.rounds).toBe(80);
    expect(done.accuracy).toBeGreaterThanOrEqual(0.8);
    expect(await node.exited).toBe(0);
    expect(node.rounds.at(-1)?.hash).toBe(done.hash);

    // try it: a row of class "east"'s centre is classified with probabilities that sum to 1
    const row = Array.from({ length: 12 }, (_, i) => 0.1 + 0.2 * i);
    await page.getByTestId('csv-row').fill(row.join(','));
    await page.getByTestId('predict-row').click();
    const p = await page.getByTestId('prediction').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-p'))));
    expect(p).toHaveLength(3);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    // a row that is not one says why, and the previous row's answer goes with it
    await page.getByTestId('csv-row').fill(['x', ...Array.from({ length: 11 }, () => '0.1')].join(','));
    await page.getByTestId('predict-row').click();
    expect(await page.getByTestId('try-problem').textContent()).toBe('value 1 ("x") is not a number');
    expect(await page.getByTestId('prediction').count()).toBe(0);

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-model').click()]);
    const file = join(dir, 'downloaded.onnx');
    await download.saveAs(file);
    const ort = await loadOrtNode();
    if (!ort) throw new Error('onnxruntime-node does not load here');
    const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(file)));
    // the pasted row, raw: the probabilities the panel showed (it standardizes, the file does too)
    const tried = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(row), [1, 12]) });
    const triedP = Array.from(tried.probabilities.data as Float32Array);
    for (let c = 0; c < 3; c++) expect(Math.abs(triedP[c] - p[c]), `class ${c}: file ${triedP[c]}, panel ${p[c]}`).toBeLessThan(1e-5);
    // the tab's held-out rows as written, split as the tab split them (by label and session seed)
    const raw = localDataSchema.parse({ ...spec, standardize: undefined });
    const local = prepareLocalData(raw, { kind: 'csv', file: 'tab.csv', bytes: new Uint8Array(readFileSync(join(dir, 'tab.csv'))) }, { inputShape: [12], numClasses: 3 }, config.seed);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', local.test.inputs, [local.test.count, 12]) });
    const probs = out.probabilities.data as Float32Array;
    let correct = 0;
    for (let i = 0; i < local.test.count; i++) {
      const row = Array.from(probs.subarray(i * 3, i * 3 + 3));
      if (row.indexOf(Math.max(...row)) === local.test.labels[i]) correct++;
    }
    await session.release();
    expect(correct / local.test.count).toBe(done.accuracy);
    expect(errors).toEqual([]);
  }, 300_000);

  it('decodes a picked image folder (PNG and JPEG) in the page, names a broken file, and trains on it', async () => {
    // 8x8 pictures: class "dark" mostly black, class "bright" mostly white, with noise
    const rng = createRng(41);
    const make = (root: string, broken: boolean) => {
      for (const c of ['dark', 'bright']) mkdirSync(join(root, c), { recursive: true });
      for (let i = 0; i < 30; i++) {
        const grey = (base: number) => Uint8Array.from({ length: 64 }, () => Math.max(0, Math.min(255, base + Math.round(60 * rng.normal()))));
        writeFileSync(join(root, 'dark', `${i}.png`), encodePng({ width: 8, height: 8, channels: 1, depth: 8, data: grey(60) }));
        const rgba = new Uint8Array(64 * 4);
        grey(190).forEach((v, k) => rgba.set([v, v, v, 255], k * 4));
        writeFileSync(join(root, 'bright', `${i}.jpg`), encodeJpeg({ width: 8, height: 8, data: rgba }, 90).data);
      }
      if (broken) writeFileSync(join(root, 'bright', 'half.jpg'), readFileSync(join(root, 'bright', '0.jpg')).subarray(0, 40));
    };
    make(join(dir, 'broken-pics'), true);
    make(join(dir, 'pics'), false);
    const res = await fetch(`${server.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        network: { name: 'tiny', inputShape: [1, 8, 8], numClasses: 2, layers: [{ type: 'flatten' }, { type: 'dense', units: 2 }] },
        data: { format: 'images', classes: ['dark', 'bright'], channels: 1, height: 8, width: 8, standardize: { mean: [0.5], std: [0.25] }, testFraction: 0.2 },
        algorithm: { name: 'mv-sto-signsgd-sim', lr: 0.01 },
        expectedPeers: 1,
        rounds: 30,
        evalEvery: 10,
        batchSize: 16,
      }),
    });
    const { url } = (await res.json()) as { url: string };
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = watchErrors(page, 'images');
    await page.goto(`${url}&backend=wasm`);
    await page.getByTestId('data-folder').setInputFiles(join(dir, 'broken-pics'));
    await expect.poll(() => page.getByTestId('data-error').textContent(), { timeout: 30_000 }).toMatch(/broken-pics\/bright\/half\.jpg: cannot decode the image/);
    await page.getByTestId('data-folder').setInputFiles(join(dir, 'pics'));
    await page.getByTestId('data-counts').waitFor({ timeout: 30_000 });
    const counts = await page.getByTestId('data-count').evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-class'), Number(r.getAttribute('data-count'))]));
    expect(counts).toEqual([['dark', 30], ['bright', 30]]);
    await page.getByTestId('join-vote').click();
    const done = await waitUntil('the tab to finish', 120_000, async () => {
      const f = await readFacts(page);
      return f.state === 'finished' ? f : null;
    });
    expect(done.accuracy).toBeGreaterThanOrEqual(0.9);
    // the drawing pad takes the session's 8x8 grey input
    expect(await page.getByTestId('draw-pad').count()).toBe(1);
    expect(errors).toEqual([]);
  }, 180_000);
});
