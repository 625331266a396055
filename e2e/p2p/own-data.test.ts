import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRng,
  createSignalingClient,
  localDataSchema,
  prepareLocalData,
  type MembershipEpoch,
  type SignalingClient,
} from '@signvote/core';
import { loadOrtNode, readLocalSource } from '@signvote/core/node';
import { bin, expectClean, killAll, repoRoot, startPeerProcess, startServer, type CreatedSession, type ServerProcess } from './harness';

/**
 * Bring your own model and data across real processes: `signvote session create --model
 * FILE.onnx --data-spec` uploads the file; two `signvote peer --data FILE.csv --export` each
 * fetch and hash-check it, train on their own CSV (standardized as the spec says) over WebRTC,
 * and write the trained model, which onnxruntime-node runs on the raw held-out rows (the
 * standardization is in the file) to exactly the accuracy the peer reported.
 * Peers whose CSV rows or image files are malformed say which and never join.
 */

const tabularOnnx = join(repoRoot, 'core/fixtures/onnx/tabular-layernorm.onnx');
const classes = ['north', 'east', 'south'];
const features = Array.from({ length: 12 }, (_, i) => `f${i}`);
// per-feature shifts and scales (LayerNorm in the model would undo one shared for all features)
const standardize = { mean: features.map((_, i) => (i % 3) - 1), std: features.map((_, i) => 0.5 + 0.25 * (i % 4)) };
const csvSpec = { format: 'csv', labelColumn: 'region', classes, standardize, testFraction: 0.25 } as const;

let server: ServerProcess;
let dir: string;
let watcher: SignalingClient | undefined;

beforeAll(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'signvote-own-data-'));
  // Gaussian class clusters in 12 dimensions, one file per peer (the same task, other samples)
  const rng = createRng(21);
  const centres = classes.map(() => Array.from({ length: 12 }, () => rng.normal()));
  for (const [name, seed] of [['a.csv', 1], ['b.csv', 2]] as const) {
    const r = rng.fork(seed);
    const lines = [[...features, 'region'].join(',')];
    for (let i = 0; i < 600; i++) {
      const c = r.int(3);
      lines.push([...centres[c].map((m) => (m + 1.2 * r.normal()).toFixed(5)), classes[c]].join(','));
    }
    writeFileSync(join(dir, name), `${lines.join('\n')}\n`);
  }
  writeFileSync(join(dir, 'spec.json'), JSON.stringify(csvSpec));
}, 60_000);

afterAll(async () => {
  watcher?.close();
  killAll();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** onnxruntime-node on an exported file: accuracy on `rows` of the peer's held-out split */
async function exportedAccuracy(file: string, test: { inputs: Float32Array; labels: Uint8Array; count: number }): Promise<number> {
  const ort = await loadOrtNode();
  if (!ort) throw new Error('onnxruntime-node does not load here');
  const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(file)));
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', test.inputs, [test.count, 12]) });
    const p = out.probabilities.data as Float32Array;
    let correct = 0;
    for (let i = 0; i < test.count; i++) {
      let best = 0;
      for (let c = 1; c < 3; c++) if (p[i * 3 + c] > p[i * 3 + best]) best = c;
      if (best === test.labels[i]) correct++;
    }
    return correct / test.count;
  } finally {
    await session.release();
  }
}

/** a member that records every membership epoch, to prove a refused peer never joined */
async function watch(session: CreatedSession): Promise<MembershipEpoch[]> {
  watcher?.close();
  watcher = createSignalingClient(server.url, { transports: ['websocket'] });
  const joined = await watcher.join({ sessionId: session.id, token: session.token, info: { backend: 'node', label: 'watcher' } });
  const epochs = [joined.membership];
  watcher.subscribe({ membership: (m) => epochs.push(m) });
  return epochs;
}

describe('own model and own data across processes', () => {
  it('an uploaded ONNX file trains on two peers\' own CSVs; each export reproduces its reported accuracy', async () => {
    const created = cli([
      'session', 'create', '--server', server.url, '--json', '--model', tabularOnnx, '--data-spec', join(dir, 'spec.json'),
      '--peers', '2', '--rounds', '90', '--eval-every', '30', '--batch', '32', '--lr', '0.003', '--seed', '5', '--deadline-ms', '3000',
    ]);
    expect(created.status, created.stderr).toBe(0);
    const session = JSON.parse(created.stdout) as CreatedSession;
    const peers = ['a', 'b'].map((n) => startPeerProcess(n, server.url, session, ['--data', join(dir, `${n}.csv`), '--export', join(dir, `${n}.onnx`)]));
    await Promise.all(peers.map((p) => expectClean(p, 180_000)));
    expect(new Set(peers.map((p) => p.rounds.at(-1)?.hash)).size).toBe(1);
    for (const [i, p] of peers.entries()) {
      const data = p.events.find((e) => e.event === 'data') as { train: number; test: number } | undefined;
      // a quarter of each class held out, rounded per class
      expect(data!.train + data!.test).toBe(600);
      expect(Math.abs(data!.test - 150)).toBeLessThanOrEqual(2);
      const last = p.rounds.at(-1)!;
      expect(last.round).toBe(89);
      expect(last.accuracy).toBeGreaterThanOrEqual(0.8);
      const exported = p.events.find((e) => e.event === 'exported');
      expect(exported).toMatchObject({ accuracy: last.accuracy, hash: last.hash });
      // the peer's held-out rows as written in its file, split as it split them (by label and
      // session seed): the spec without its standardize
      const raw = localDataSchema.parse({ ...csvSpec, standardize: undefined });
      const local = prepareLocalData(raw, await readLocalSource(join(dir, `${'ab'[i]}.csv`)), { inputShape: [12], numClasses: 3 }, 5);
      expect(await exportedAccuracy(join(dir, `${'ab'[i]}.onnx`), local.test)).toBe(last.accuracy);
    }
  }, 240_000);

  it('a peer with a malformed CSV row says which row and column, and never joins', async () => {
    const created = cli(['session', 'create', '--server', server.url, '--json', '--model', tabularOnnx, '--data-spec', join(dir, 'spec.json'), '--peers', '2']);
    const session = JSON.parse(created.stdout) as CreatedSession;
    const epochs = await watch(session);
    const text = readFileSync(join(dir, 'a.csv'), 'utf8').split('\n');
    text[7] = text[7].replace(/^[^,]+/, 'n/a');
    writeFileSync(join(dir, 'bad.csv'), text.join('\n'));
    const bad = startPeerProcess('bad', server.url, session, ['--data', join(dir, 'bad.csv')]);
    expect((await bad.exited).code).toBe(1);
    expect(bad.stderr.join('\n')).toMatch(/bad\.csv line 8, column "f0": "n\/a" is not a number/);
    await new Promise((r) => setTimeout(r, 300));
    expect(epochs.map((e) => e.peers.length)).toEqual([1]);
  }, 60_000);

  it('a peer with a broken image says which file, and never joins', async () => {
    const spec = { format: 'images', classes: ['zero', 'one'], channels: 1, height: 28, width: 28, testFraction: 0.2 };
    writeFileSync(join(dir, 'images.json'), JSON.stringify(spec));
    const layers = { inputShape: [1, 28, 28], numClasses: 2, layers: [{ type: 'flatten' }, { type: 'dense', units: 2 }] };
    writeFileSync(join(dir, 'net.json'), JSON.stringify(layers));
    const created = cli(['session', 'create', '--server', server.url, '--json', '--model', join(dir, 'net.json'), '--data-spec', join(dir, 'images.json'), '--peers', '2']);
    expect(created.status, created.stderr).toBe(0);
    const session = JSON.parse(created.stdout) as CreatedSession;
    const epochs = await watch(session);
    for (const c of spec.classes) mkdirSync(join(dir, 'pics', c), { recursive: true });
    // a real PNG would do for the others; the broken one is a PNG signature and then nothing
    writeFileSync(join(dir, 'pics', 'one', 'broken.png'), Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]));
    const bad = startPeerProcess('pics', server.url, session, ['--data', join(dir, 'pics')]);
    expect((await bad.exited).code).toBe(1);
    expect(bad.stderr.join('\n')).toMatch(/pics\/one\/broken\.png: cannot decode the image/);
    await new Promise((r) => setTimeout(r, 300));
    expect(epochs.map((e) => e.peers.length)).toEqual([1]);
  }, 60_000);

  it('a model file that is not one the server can train is refused at create', () => {
    writeFileSync(join(dir, 'junk.onnx'), 'not a model');
    const r = cli(['session', 'create', '--server', server.url, '--model', join(dir, 'junk.onnx')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/refused the model file junk\.onnx: junk\.onnx: .*/);
    const typo = cli(['session', 'create', '--server', server.url, '--model', 'lenet']);
    expect(typo.status).toBe(2);
    expect(typo.stderr).toMatch(/--model lenet: neither a built-in model \(mlp, cnn, lenet5, mlp-wide, mlp-10m\) nor a file/);
  });
});
