import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createModel, decodeCheckpoint, decodeDataset, decodeModel, hashParams, sessionStatusSchema } from '@signvote/core';
import { loadOrtNode } from '@signvote/core/node';
import { hasChromium, watchErrors } from '../src/browser';
import { screenshots } from '../src/build';
import { useServerAndBrowser } from '../src/fixture';
import { startNodePeer } from '../src/node-peer';

/**
 * Issue 12, finding 3 in a tab: the join link of a finished session opens its finished view
 * (final round, accuracy, loss, parameter hash) instead of waiting for peers to train it again,
 * and offers the final parameters: an ONNX file built in the page from the snapshot the server
 * kept, and that checkpoint. onnxruntime-node runs the download; its weights hash to the
 * session's final hash and it classifies the test set exactly as the peer's final evaluation did.
 */
describe.skipIf(!hasChromium())('a finished session in the browser', () => {
  const fixture = useServerAndBrowser();
  const dir = mkdtempSync(join(tmpdir(), 'signvote-e2e-finished-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('shows how it ended, trains nothing, and downloads the final model', async () => {
    const server = fixture.server().url;
    const res = await fetch(`${server}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ expectedPeers: 1, rounds: 6, evalEvery: 6, batchSize: 16, deadlineMs: 5000, seed: 11 }),
    });
    const { id, token, url } = (await res.json()) as { id: string; token: string; url: string };
    const peer = startNodePeer(server, id, token);
    expect(await peer.exited, peer.output.join('\n')).toBe(0);
    const hash = peer.rounds.at(-1)!.hash;
    const status = async () => {
      const r = await fetch(`${server}/api/sessions/${id}`, { headers: { authorization: `Bearer ${token}` } });
      return sessionStatusSchema.parse(await r.json());
    };
    // the final evaluation is reported after the end; the page shows what the record holds
    let before = await status();
    for (let i = 0; i < 20 && before.record.eval?.round !== 6; i++) {
      await new Promise((r) => setTimeout(r, 250));
      before = await status();
    }
    expect(before.record.finished).toMatchObject({ round: 6, hash });
    const evaluation = before.record.eval!;
    expect(evaluation.round).toBe(6);

    const page = await fixture.browser().newPage();
    const errors = watchErrors(page, 'finished');
    await page.goto(url);
    await page.getByTestId('finished-view').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('state').getAttribute('data-state')).toBe('finished');
    expect(await page.getByTestId('state').textContent()).toMatch(/^Finished at round 6 on .+; nobody trains it again\.$/);
    const value = (testId: string) => page.getByTestId(testId).getAttribute('data-value');
    expect(await value('round')).toBe('6');
    expect(await value('hash')).toBe(hash);
    expect(Number(await value('accuracy'))).toBe(evaluation.accuracy);
    expect(Number(await value('test-loss'))).toBe(evaluation.loss);
    expect(await page.getByTestId('accuracy-reason').textContent()).toBe('after round 6');
    // the view starts no peer: no controls to train, and the server counts nobody in the session
    expect(await page.getByTestId('start').count()).toBe(0);
    expect(await page.getByTestId('peer-id').count()).toBe(0);

    await expect.poll(() => page.getByTestId('download-model').isEnabled(), { timeout: 30_000 }).toBe(true);
    expect(await page.getByTestId('final-model').getAttribute('data-d')).toBe('55050');
    mkdirSync(screenshots, { recursive: true });
    await page.screenshot({ path: join(screenshots, 'finished.png'), fullPage: true });
    const [onnxDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-model').click()]);
    expect(onnxDownload.suggestedFilename()).toBe('mlp-round6.onnx');
    const onnxFile = join(dir, 'final.onnx');
    await onnxDownload.saveAs(onnxFile);
    const [ckptDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-checkpoint').click()]);
    expect(ckptDownload.suggestedFilename()).toBe(`signvote-${id}-round-6.ckpt`);
    const ckptFile = join(dir, 'final.ckpt');
    await ckptDownload.saveAs(ckptFile);

    // the ONNX file's weights, read back in the model's layout order, are the final parameters
    const onnx = new Uint8Array(readFileSync(onnxFile));
    const graph = (decodeModel(onnx) as { graph: { initializer: { name: string; rawData?: number[] }[] } }).graph;
    const model = createModel('mlp');
    const weights = new Float32Array(model.d);
    for (const entry of model.layout) {
      const init = graph.initializer.find((t) => t.name === entry.name);
      expect(init?.rawData, entry.name).toBeDefined();
      const data = new Float32Array(Uint8Array.from(init!.rawData!).buffer);
      expect(data.length, entry.name).toBe(entry.size);
      weights.set(data, entry.offset);
    }
    expect(hashParams(weights)).toBe(hash);
    const checkpoint = decodeCheckpoint(new Uint8Array(readFileSync(ckptFile)));
    expect(checkpoint.round).toBe(6);
    expect(hashParams(checkpoint.x)).toBe(hash);

    // onnxruntime-node runs it on the session's test split: the peer's final accuracy, exactly
    const test = decodeDataset(new Uint8Array(await (await fetch(`${server}/datasets/mnist-test.bin`)).arrayBuffer()));
    const ort = await loadOrtNode();
    if (!ort) throw new Error('onnxruntime-node does not load here');
    const session = await ort.InferenceSession.create(onnx);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', test.inputs, [test.count, ...model.inputShape]) });
    const logits = out.logits.data as Float32Array;
    let correct = 0;
    for (let i = 0; i < test.count; i++) {
      const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
      if (row.indexOf(Math.max(...row)) === test.labels[i]) correct++;
    }
    await session.release();
    expect(correct / test.count).toBe(evaluation.accuracy);

    // nobody trained it again: the record is where it ended and nobody is in the session
    const after = await status();
    expect(after.members).toBe(0);
    expect(after.record.finished).toEqual(before.record.finished);
    expect(after.record.round).toBe(6);
    expect(errors.filter((e) => !e.includes('Failed to load resource'))).toEqual([]);
    await page.close();
  }, 180_000);
});
