import { parseSessionConfig } from '../../config';
import type { Partition, SessionConfig } from '../../config';
import type { AdversaryKind } from '../../optim/adversary';
import type { AlgorithmEntry, ExperimentConfig } from './config';

/** A run's adversaries (optim/adversary.ts); null: a clean run. */
export interface AdversarySetting {
  readonly kind: AdversaryKind;
  readonly fraction: number;
}

/** The adversary axis of a grid: null (clean) for fraction 0 or no `adversaries`, then kind x fraction. */
export function adversarySettings(cfg: ExperimentConfig): Array<AdversarySetting | null> {
  const a = cfg.adversaries;
  if (a === undefined) return [null];
  const kinds = 'kind' in a ? [a.kind] : a.kinds;
  const fractions = 'kind' in a ? [a.fraction] : a.fractions;
  const out: Array<AdversarySetting | null> = [];
  if (fractions.includes(0)) out.push(null);
  for (const kind of kinds) for (const fraction of fractions) if (fraction > 0) out.push({ kind, fraction });
  return out;
}

/** '' for a clean run, else e.g. 'sign-flip-20' (the fraction in whole percent) */
export function adversaryTag(a: AdversarySetting | null): string {
  return a === null ? '' : `${a.kind}-${Math.round(a.fraction * 100)}`;
}

/** One cell of the grid for one seed: a complete session config plus the axes it came from. */
export interface RunSpec {
  /** file-safe, unique within the experiment; the CSV is results/<name>/runs/<id>.csv */
  readonly id: string;
  readonly label: string;
  readonly dataset: SessionConfig['dataset'];
  readonly model: SessionConfig['model'];
  readonly batchSize: number;
  readonly partition: Partition;
  readonly peers: number;
  readonly seed: number;
  readonly reference: boolean;
  /** adversarial peers of the run (research only); null: clean */
  readonly adversary: AdversarySetting | null;
  readonly session: SessionConfig;
}

export interface GridOptions {
  /** override the number of seeds */
  seeds?: number;
  /** shrink to the config's smoke sizes (CI) */
  smoke?: boolean;
}

export function partitionTag(p: Partition): string {
  return p.kind === 'iid' ? 'iid' : `dir${p.alpha}`;
}

export function partitionLabel(p: Partition): string {
  return p.kind === 'iid' ? 'IID' : `Dirichlet(${p.alpha})`;
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

function scaledLr(cfg: ExperimentConfig, lr: number, batchSize: number): number {
  return cfg.lrScaling.kind === 'linear' ? (lr * batchSize) / cfg.lrScaling.referenceBatch : lr;
}

/** The effective sizes after --smoke / --seeds. */
function effectiveSizes(cfg: ExperimentConfig, opts: GridOptions = {}) {
  const seeds = opts.seeds ?? (opts.smoke ? Math.min(cfg.seeds, cfg.smoke.seeds) : cfg.seeds);
  return {
    seeds,
    rounds: (dataset: string, batchSize: number) => {
      const o = cfg.datasetOverrides[dataset];
      const b = String(batchSize);
      const r = o?.roundsByBatch?.[b] ?? o?.rounds ?? cfg.roundsByBatch?.[b] ?? cfg.rounds;
      return opts.smoke ? Math.min(r, cfg.smoke.rounds) : r;
    },
    evalEvery: (dataset: string, batchSize: number) => {
      const o = cfg.datasetOverrides[dataset];
      const b = String(batchSize);
      const e = o?.evalEveryByBatch?.[b] ?? o?.evalEvery ?? cfg.evalEveryByBatch?.[b] ?? cfg.evalEvery;
      return opts.smoke ? Math.min(e, cfg.smoke.evalEvery) : e;
    },
  };
}

function sessionFor(cfg: ExperimentConfig, alg: AlgorithmEntry, dataset: SessionConfig['dataset'], batchSize: number,
  partition: Partition, peers: number, seed: number, rounds: number, evalEvery: number): SessionConfig {
  const { label: _label, reference: _ref, ...algorithm } = alg;
  // the paper's tie rule unless the config says otherwise (sessions default to 'coin')
  const base = { ...algorithm, ties: algorithm.ties ?? ('zero' as const) };
  if (cfg.schedule && base.schedule === undefined) base.schedule = cfg.schedule;
  if (cfg.stepDecay && base.schedule === undefined) {
    base.schedule = { kind: 'step', milestones: cfg.stepDecay.at.map((f) => Math.round(f * rounds)), factor: cfg.stepDecay.factor };
  }
  if (cfg.weightDecay !== undefined && base.weightDecay === undefined) base.weightDecay = cfg.weightDecay;
  if (cfg.schedule && cfg.stepDecay) throw new Error('set either schedule or stepDecay, not both');
  // algorithmConfigSchema's defaults fill lr etc.; parse once to learn the default lr before scaling
  const parsed = parseSessionConfig({ algorithm: base });
  const lr = scaledLr(cfg, parsed.algorithm.lr, batchSize);
  const eta = base.eta !== undefined ? scaledLr(cfg, parsed.algorithm.eta, batchSize) : parsed.algorithm.eta;
  return parseSessionConfig({
    model: cfg.datasetOverrides[dataset]?.model ?? cfg.model,
    dataset,
    algorithm: { ...parsed.algorithm, lr, eta },
    partition,
    batchSize,
    rounds,
    expectedPeers: peers,
    seed,
    deadlineMs: cfg.deadlineMs,
    evalEvery,
    checkpointEvery: 0,
  });
}

/** All runs of the grid, seed-major so a partial grid already has one seed of every cell. */
export function expandGrid(cfg: ExperimentConfig, opts: GridOptions = {}): RunSpec[] {
  const sizes = effectiveSizes(cfg, opts);
  const runs: RunSpec[] = [];
  const seen = new Set<string>();
  for (let k = 0; k < sizes.seeds; k++) {
    const seed = cfg.firstSeed + k;
    for (const dataset of cfg.datasets) {
      for (const peers of cfg.peers) {
        for (const partition of cfg.partitions) {
          for (const batchSize of cfg.batchSizes) {
            // adversaries outside algorithms: a partial grid has every algorithm's clean run and
            // its runs under the first settings, to compare
            for (const adversary of adversarySettings(cfg)) {
              for (const alg of cfg.algorithms) {
                const session = sessionFor(cfg, alg, dataset, batchSize, partition, peers, seed,
                  sizes.rounds(dataset, batchSize), sizes.evalEvery(dataset, batchSize));
                const tag = adversaryTag(adversary);
                const id = [dataset, slug(alg.label), `b${batchSize}`, partitionTag(partition), `n${peers}`, `s${seed}`, ...(tag ? [tag] : [])].join('_');
                if (seen.has(id)) throw new Error(`grid produces the run id "${id}" twice; make algorithm labels distinct`);
                seen.add(id);
                runs.push({
                  id, label: alg.label, dataset, model: session.model, batchSize, partition, peers, seed,
                  reference: alg.reference ?? false, adversary, session,
                });
              }
            }
          }
        }
      }
    }
  }
  return runs;
}

/**
 * Estimated cost of a run in milliseconds of one idle core, for the time-left estimate and the
 * shard split. Measured here: the session's own work is ~1 ms per peer and round (momentum,
 * stochastic signs, hash, verdict), an onnxruntime-node gradient ~0.15 + 0.004 b ms for the MLP
 * and ~0.33 b ms for the CNN; Alg. 3 draws K + 1 gradients per round.
 */
export function runCost(spec: RunSpec): number {
  const grads = spec.session.algorithm.name === 'fed-mv-sto-signsgd-sim' ? spec.session.algorithm.K + 1 : 1;
  const gradMs = spec.model === 'cnn' ? 0.33 * spec.batchSize : 0.15 + 0.004 * spec.batchSize;
  const evalMs = spec.model === 'cnn' ? 500 : 8;
  return spec.session.rounds * spec.peers * (1 + grads * gradMs) + (spec.session.rounds / spec.session.evalEvery) * evalMs;
}
