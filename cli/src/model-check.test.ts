import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ModelImportError } from '@signvote/core';
import { checkModel, formatReport } from './model-check';

/** `signvote model check` on every committed fixture: the good ones pass, the others are refused. */

const dir = fileURLToPath(new URL('../../core/fixtures/onnx/', import.meta.url));
const bin = fileURLToPath(new URL('../bin/signvote.mjs', import.meta.url));
const refused = new Set(['unsupported-hardswish.onnx', 'batchnorm-training.onnx', 'int8-weights.onnx', 'fixed-batch.onnx']);
const files = readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort();

describe('model check', () => {
  it('covers every fixture in core/fixtures/onnx', () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
  });

  it.each(files.filter((f) => !refused.has(f)))('%s imports and passes the gradient check', async (f) => {
    const report = await checkModel(dir + f, { backend: 'wasm' });
    expect(report.ok).toBe(true);
    expect(report.gradCheck.maxRelError).toBeLessThanOrEqual(1e-3);
    expect(report.d).toBe(report.layout.reduce((a, e) => a + e.shape.reduce((p, q) => p * q, 1), 0));
    expect(report.input.shape[0]).toBe('batch');
    expect(formatReport(report)).toMatch(/gradient {2}max relative error .*: ok/);
  });

  it.each([...refused])('%s is refused with the reason', async (f) => {
    await expect(checkModel(dir + f)).rejects.toThrow(ModelImportError);
  });

  it('takes preset names too, and fails a check that cannot pass', async () => {
    const report = await checkModel('cnn', { backend: 'wasm', threshold: 1e-12 });
    expect(report.d).toBe(54_314);
    expect(report.ok).toBe(false);
    expect(formatReport(report)).toContain(`FAILED: max relative error ${report.gradCheck.maxRelError.toExponential(2)} above the threshold 1e-12`);
  });

  it('takes a layer list (.json), built the way --model builds it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'signvote-model-check-')), 'iris.json');
    writeFileSync(file, JSON.stringify({ name: 'iris-mlp', inputShape: [4], numClasses: 3, layers: [{ type: 'dense', units: 16 }, { type: 'relu' }, { type: 'dense', units: 3 }] }));
    const report = await checkModel(file, { backend: 'wasm' });
    expect(report).toMatchObject({ ok: true, kind: 'layers', d: 4 * 16 + 16 + 16 * 3 + 3, numClasses: 3, bytes: null });
    expect(formatReport(report)).toMatch(/^model {5}iris.json \(layer list\)/);
    writeFileSync(file, JSON.stringify({ inputShape: [4], layers: [] }));
    await expect(checkModel(file)).rejects.toThrow(/not a layer list: numClasses/);
  });

  it('the CLI prints JSON and exits 0 on a good model, 1 on a refused one', () => {
    const ok = spawnSync(process.execPath, [bin, 'model', 'check', dir + 'embedding.onnx', '--json', '--backend', 'wasm'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    const report = JSON.parse(ok.stdout) as { ok: boolean; d: number; input: { kind: string; indexBound: number } };
    expect(report).toMatchObject({ ok: true, d: 852, input: { kind: 'index', indexBound: 32 } });
    const bad = spawnSync(process.execPath, [bin, 'model', 'check', dir + 'unsupported-hardswish.onnx', '--json'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, error: { code: 'unsupported-op', message: expect.stringMatching(/HardSwish/) } });
  });
});
