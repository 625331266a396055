import { describe, expect, it } from 'vitest';
import { decodeCheckpoint } from '@signvote/core';
import { hasChromium, watchErrors } from '../src/browser';
import { useServerAndBrowser } from '../src/fixture';
import { readFacts, waitUntil } from '../src/session-page';

/** A tab saves a checkpoint to IndexedDB every `checkpointEvery` rounds. */

const config = {
  model: 'mlp',
  dataset: 'mnist',
  algorithm: { name: 'signsgd-sim', lr: 0.003 },
  expectedPeers: 1,
  batchSize: 32,
  rounds: 12,
  evalEvery: 0,
  checkpointEvery: 5,
  seed: 3,
};

// Read as source text so the test runner's transpiler cannot inject helpers into the page.
const readCheckpointSource = (key: string) => `new Promise((resolve, reject) => {
  const open = indexedDB.open('signvote-checkpoints', 1);
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const get = open.result.transaction('checkpoints', 'readonly').objectStore('checkpoints').get(${JSON.stringify(key)});
    get.onerror = () => reject(get.error);
    get.onsuccess = () => resolve(get.result === undefined ? null : Array.from(get.result));
  };
})`;

describe.skipIf(!hasChromium())('browser checkpoints', () => {
  const { server, browser } = useServerAndBrowser();

  it('saves the parameters of round 10 to IndexedDB, and they verify against their hash', async () => {
    const res = await fetch(`${server().url}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
    expect(res.status).toBe(201);
    const { id, url } = (await res.json()) as { id: string; url: string };
    const page = await browser().newPage();
    const errors = watchErrors(page, 'tab');
    await page.goto(`${url}&backend=wasm`);
    await waitUntil('the tab to finish', 120_000, async () => (await readFacts(page)).state === 'finished');
    const bytes = (await page.evaluate(readCheckpointSource(`session-${id}`))) as number[] | null;
    expect(bytes).not.toBeNull();
    // decodeCheckpoint checks the format, the sizes and the parameter hash
    const checkpoint = decodeCheckpoint(Uint8Array.from(bytes ?? []));
    expect(checkpoint.session).toBe(id);
    expect(checkpoint.round).toBe(10);
    expect(checkpoint.x.length).toBe(55_050);
    expect(errors).toEqual([]);
  });
});
