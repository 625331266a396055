import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  createModel,
  createNodeOracle,
  createRng,
  gradCheck,
  loadOrtNode,
  ModelImportError,
  modelNames,
  randomBatch,
  type GradientOracle,
  type Model,
  type ModelName,
} from '@signvote/core/node';
import { networkSchema, type NetworkSpec } from '@signvote/core';

/**
 * `signvote model check FILE|PRESET [--json]`: can this model train here? It imports the file
 * (or builds the layer list of a .json file, or the preset), reports its ops, input, classes and parameter count d, and runs a
 * central finite-difference gradient check on a random batch: the training graph's gradient
 * (onnxruntime) against differences of the float64 reference loss. Exit 0: it imports and the
 * check passes; 1: refused (the message says why) or the check failed.
 */

export interface ModelCheckOptions {
  /** samples in the random batch (default 4) */
  readonly batch?: number;
  /** seed of the batch and of the probed coordinates (default 1) */
  readonly seed?: number;
  /** probed coordinates, spread over every tensor (default 30) */
  readonly coords?: number;
  /** largest acceptable relative error (default 1e-3) */
  readonly threshold?: number;
  /** 'auto': onnxruntime-node when it loads, else wasm */
  readonly backend?: 'auto' | 'wasm' | 'node';
}

export interface ModelCheckReport {
  readonly ok: boolean;
  readonly model: string;
  /** what `model` is: an ONNX file, a layer list (.json, as `--model` takes it) or a preset */
  readonly kind: 'onnx' | 'layers' | 'preset';
  /** the ONNX file's size; null for layer lists and presets */
  readonly bytes: number | null;
  readonly opset: number;
  /** op types in the file (before folding) */
  readonly ops: readonly string[];
  /** ops of the program that trains, with counts (after folding and lowering) */
  readonly program: Readonly<Record<string, number>>;
  readonly input: { readonly name: string; readonly shape: readonly (number | string)[]; readonly kind: 'float' | 'index'; readonly indexBound: number | null };
  readonly numClasses: number;
  readonly d: number;
  readonly layout: readonly { readonly name: string; readonly shape: readonly number[] }[];
  readonly gradCheck: { readonly maxRelError: number; readonly coords: number; readonly batch: number; readonly seed: number; readonly backend: string; readonly threshold: number };
}

/** Throws ModelImportError (or NetworkError) when the model is refused. */
export async function checkModel(source: string, options: ModelCheckOptions = {}): Promise<ModelCheckReport> {
  const { batch = 4, seed = 1, coords = 30, threshold = 1e-3 } = options;
  const preset = !existsSync(source) && (modelNames as readonly string[]).includes(source);
  let bytes: Uint8Array | null = null;
  let model: Model;
  let kind: ModelCheckReport['kind'];
  if (preset) {
    model = createModel(source as ModelName);
    kind = 'preset';
  } else {
    if (!existsSync(source)) throw new Error(`no such file: ${source} (nor a preset: ${modelNames.join(', ')})`);
    if (source.endsWith('.json')) {
      // a layer list, as `--model FILE.json` takes it (built the way a session builds it)
      model = createModel(readLayerList(source));
      kind = 'layers';
    } else {
      bytes = new Uint8Array(readFileSync(source));
      model = createModel({ onnx: bytes, name: basename(source) });
      kind = 'onnx';
    }
  }
  const backend = options.backend === 'wasm' || options.backend === 'node' ? options.backend : (await loadOrtNode()) ? 'node' : 'wasm';
  const oracle: GradientOracle = await createNodeOracle(model, backend);
  let maxRelError: number;
  try {
    const params = model.init(seed);
    const sample = randomBatch(model, batch, createRng(seed).fork('batch'));
    const { grad } = await oracle.gradient(params, sample);
    maxRelError = gradCheck(model, params, sample, grad, createRng(seed).fork('coords'), { coords }).maxRelError;
  } finally {
    await oracle.dispose();
  }
  const program: Record<string, number> = {};
  for (const n of model.program.nodes) program[n.op] = (program[n.op] ?? 0) + 1;
  const { input } = model.program;
  return {
    ok: maxRelError <= threshold,
    model: preset ? source : basename(source),
    kind,
    bytes: bytes?.length ?? null,
    opset: model.program.opset,
    ops: model.program.sourceOps,
    program,
    input: { name: input.name, shape: input.shape.map((d) => (d === 'N' ? 'batch' : d)), kind: input.kind, indexBound: input.indexBound },
    numClasses: model.numClasses,
    d: model.d,
    layout: model.layout.map((e) => ({ name: e.name, shape: e.shape })),
    gradCheck: { maxRelError, coords, batch, seed, backend, threshold },
  };
}

export function formatReport(r: ModelCheckReport): string {
  const g = r.gradCheck;
  const lines = [
    `model     ${r.model}${r.kind === 'onnx' ? ` (${(r.bytes ?? 0).toLocaleString('en')} bytes, opset ${r.opset})` : r.kind === 'layers' ? ' (layer list)' : ' (preset)'}`,
    `ops       ${r.ops.join(', ')}`,
    `program   ${Object.entries(r.program).map(([op, n]) => `${op} ${n}`).join(', ')}`,
    `input     ${r.input.name} [${r.input.shape.join(', ')}] ${r.input.kind === 'index' ? `token ids < ${r.input.indexBound}` : 'float'}`,
    `classes   ${r.numClasses}`,
    `d         ${r.d.toLocaleString('en')} (${r.layout.length} tensors)`,
    `gradient  max relative error ${g.maxRelError.toExponential(2)} over ${g.coords} coordinates (batch ${g.batch}, seed ${g.seed}, ${g.backend}): ` +
      (r.ok ? `ok (threshold ${g.threshold})` : `FAILED: max relative error ${g.maxRelError.toExponential(2)} above the threshold ${g.threshold}`),
  ];
  return lines.join('\n');
}

/** a layer-list file, validated by the schema sessions use (NetworkError-free: a plain Error naming the field) */
function readLayerList(file: string): NetworkSpec {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`not JSON: ${(err as Error).message} (a layer list is {"inputShape": [4], "numClasses": 3, "layers": [...]}; docs/models.md)`);
  }
  const parsed = networkSchema.safeParse(json);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`not a layer list: ${detail} (docs/models.md)`);
  }
  return parsed.data;
}

const positive = (name: string, integer: boolean) => (value: string): number => {
  const n = Number(value);
  if (!(Number.isFinite(n) && n > 0 && (!integer || Number.isInteger(n)))) throw new InvalidArgumentError(`${name} must be a positive ${integer ? 'integer' : 'number'}`);
  return n;
};

/** adds `model check` to the CLI */
export function registerModelCommands(program: Command): void {
  const model = program.command('model').description('inspect models (ONNX files, layer lists or presets)');
  model
    .command('check')
    .description('import a model, show its ops, input, classes and d, and check its gradient by finite differences')
    .argument('<file>', `an .onnx file (a forward graph as torch.onnx.export writes it), a layer list (.json, as --model takes it) or a preset: ${modelNames.join(', ')}`)
    .option('--json', 'print one JSON object (the report, or {"ok": false, "error": {"code", "message"}})')
    .option('--batch <n>', 'samples in the random batch', positive('batch', true), 4)
    .option('--seed <n>', 'seed of the batch and the probed coordinates', positive('seed', true), 1)
    .option('--coords <n>', 'coordinates probed', positive('coords', true), 30)
    .option('--threshold <x>', 'largest acceptable max relative error', positive('threshold', false), 1e-3)
    .addOption(new Option('--backend <name>', 'gradient engine').choices(['auto', 'wasm', 'node']).default('auto'))
    .addHelpText('after', '\nExamples:\n  $ signvote model check lenet5.onnx\n  $ signvote model check core/fixtures/onnx/embedding.onnx --json\n  $ signvote model check iris-net.json   # a layer list, as --model takes it\n\nExit codes: 0 imports and passes, 1 refused or the check failed.\n')
    .action(async (file: string, opts: ModelCheckOptions & { json?: boolean }) => {
      try {
        const report = await checkModel(file, opts);
        console.log(opts.json ? JSON.stringify(report) : formatReport(report));
        process.exitCode = report.ok ? 0 : 1;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const code = err instanceof ModelImportError ? err.code : 'error';
        if (opts.json) console.log(JSON.stringify({ ok: false, error: { code, message } }));
        else console.error(`signvote: ${file}: ${message}`);
        process.exitCode = 1;
      }
    });
}
