import type { z } from 'zod';
import {
  algorithmNames,
  datasetNames,
  iceUrlProblem,
  presetNames,
  sessionConfigSchema,
  type AlgorithmName,
  type SessionConfig,
  type SessionConfigInput,
} from '@signvote/core';

/**
 * The session form keeps what the user typed (strings) so a half-typed number is never
 * rewritten under the cursor; `formToConfig` turns it into a config and validates it with the
 * very schema the server uses, mapping each issue back to the field that caused it.
 */

export const modelNames = presetNames;
export { datasetNames };
export const scheduleKinds = ['constant', 'step', 'exponential'] as const;
export const partitionKinds = ['iid', 'dirichlet'] as const;
export const tieRules = ['coin', 'zero'] as const;

export interface FormState {
  model: (typeof modelNames)[number];
  dataset: (typeof datasetNames)[number];
  algorithm: AlgorithmName;
  expectedPeers: string;
  /** k: the coordinates are tallied in k ranges, each by its own member (docs/session.md "Vote shards") */
  voteShards: string;
  batchSize: string;
  rounds: string;
  lr: string;
  schedule: (typeof scheduleKinds)[number];
  /** comma-separated rounds for the step schedule */
  milestones: string;
  factor: string;
  /** per-round decay of the exponential schedule */
  rate: string;
  weightDecay: string;
  theta: string;
  R: string;
  alpha: string;
  K: string;
  eta: string;
  /** what a tied vote (even number of ballots) means */
  ties: (typeof tieRules)[number];
  partition: (typeof partitionKinds)[number];
  dirichletAlpha: string;
  seed: string;
  deadlineMs: string;
  evalEvery: string;
  /** one ICE server per line: `urls [username credential]` */
  iceServers: string;
}

export type FieldName = keyof FormState;
export type FieldErrors = Partial<Record<FieldName, string>>;

export const fieldLabels: Record<FieldName, string> = {
  model: 'Model',
  dataset: 'Dataset',
  algorithm: 'Algorithm',
  expectedPeers: 'Expected peers',
  voteShards: 'Vote shards',
  batchSize: 'Batch size',
  rounds: 'Rounds',
  lr: 'Learning rate γ',
  schedule: 'LR schedule',
  milestones: 'Milestones (rounds)',
  factor: 'Factor at each milestone',
  rate: 'Decay per round',
  weightDecay: 'Weight decay',
  theta: 'Momentum θ',
  R: 'Stochastic-sign scale R',
  alpha: 'Extrapolation α',
  K: 'Local steps K',
  eta: 'Local learning rate η',
  ties: 'Tied votes',
  partition: 'Data split',
  dirichletAlpha: 'Dirichlet α',
  seed: 'Seed',
  deadlineMs: 'Ballot deadline (ms)',
  evalEvery: 'Evaluate every (rounds)',
  iceServers: 'ICE servers',
};

export const algorithmLabels: Record<AlgorithmName, string> = {
  'sgd-m': 'SGD with momentum (fp32 baseline)',
  signsgd: 'signSGD',
  'signsgd-sim': 'SIGNSGD-SIM / Signum (Alg. 1)',
  'double-momentum': 'Double momentum (eq. 4)',
  'mv-signsgd': 'MV-signSGD',
  'mv-sto-signsgd': 'MV-sto-signSGD',
  'mv-sto-signsgd-sim': 'MV-STO-SIGNSGD-SIM (Alg. 2)',
  'fed-mv-sto-signsgd-sim': 'Federated MV-STO-SIGNSGD-SIM (Alg. 3)',
  'ef-signsgd': 'EF-signSGD',
};

/** The form prefilled with the schema's defaults (the paper's MNIST setting). */
export function defaultForm(): FormState {
  const c = sessionConfigSchema.parse({});
  return configToForm(c);
}

export function configToForm(c: SessionConfig): FormState {
  const a = c.algorithm;
  return {
    model: c.model,
    dataset: c.dataset,
    algorithm: a.name,
    expectedPeers: String(c.expectedPeers),
    voteShards: String(c.voteShards),
    batchSize: String(c.batchSize),
    rounds: String(c.rounds),
    lr: String(a.lr),
    schedule: a.schedule.kind,
    milestones: a.schedule.kind === 'step' ? a.schedule.milestones.join(', ') : '',
    factor: a.schedule.kind === 'step' ? String(a.schedule.factor) : '0.1',
    rate: a.schedule.kind === 'exponential' ? String(a.schedule.rate) : '0.999',
    weightDecay: String(a.weightDecay),
    theta: String(a.theta),
    R: String(a.R),
    alpha: String(a.alpha),
    K: String(a.K),
    eta: String(a.eta),
    ties: a.ties,
    partition: c.partition.kind,
    dirichletAlpha: c.partition.kind === 'dirichlet' ? String(c.partition.alpha) : '1',
    seed: String(c.seed),
    deadlineMs: String(c.deadlineMs),
    evalEvery: String(c.evalEvery),
    iceServers: c.iceServers
      .map((s) => [Array.isArray(s.urls) ? s.urls.join(',') : s.urls, s.username, s.credential].filter(Boolean).join(' '))
      .join('\n'),
  };
}

export type FormResult = { ok: true; config: SessionConfig } | { ok: false; errors: FieldErrors };

/** Which form field a schema path belongs to. */
function fieldOf(path: readonly PropertyKey[]): FieldName | null {
  const [head, second, third] = path.map(String);
  if (head === 'algorithm') {
    if (second === 'name') return 'algorithm';
    if (second === 'schedule') {
      if (third === 'milestones') return 'milestones';
      if (third === 'factor') return 'factor';
      if (third === 'rate') return 'rate';
      return 'schedule';
    }
    return isField(second) ? second : null;
  }
  if (head === 'partition') return third === undefined && second === 'alpha' ? 'dirichletAlpha' : 'partition';
  if (head === 'iceServers') return 'iceServers';
  return isField(head) ? head : null;
}

function isField(name: string | undefined): name is FieldName {
  return name !== undefined && Object.hasOwn(fieldLabels, name);
}

/** A sentence a person can act on, instead of zod's type-system wording. */
function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'too_small': {
      const bound = Number(issue.minimum);
      return issue.inclusive === false ? `must be greater than ${bound}` : `must be at least ${bound}`;
    }
    case 'too_big': {
      const bound = Number(issue.maximum);
      return issue.inclusive === false ? `must be less than ${bound}` : `must be at most ${bound}`;
    }
    case 'invalid_type':
      return issue.expected === 'int' ? 'must be a whole number' : 'must be a number';
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    default:
      return issue.message;
  }
}

// decimal only: Number() would also read "0x10" as 16, "0b11" as 3 and "Infinity"
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Parses a typed decimal number; blank, hex and junk become NaN so the schema reports them on their field. */
function num(text: string): number {
  const t = text.trim();
  return DECIMAL.test(t) ? Number(t) : Number.NaN;
}

export function parseIceServers(text: string): { servers: SessionConfigInput['iceServers']; error?: string } {
  const servers: NonNullable<SessionConfigInput['iceServers']> = [];
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  for (const [i, line] of lines.entries()) {
    const [urls = '', username, credential, ...rest] = line.split(/\s+/);
    const list = urls.split(',').filter((u) => u !== '');
    if (rest.length > 0 || list.length === 0) return { servers: [], error: `line ${i + 1}: expected "urls [username credential]"` };
    // the schema's own check (config.ts), so the form and the server refuse alike
    const problem = list.map(iceUrlProblem).find((p) => p !== null);
    if (problem) return { servers: [], error: `line ${i + 1}: ${problem}` };
    if ((username === undefined) !== (credential === undefined)) {
      return { servers: [], error: `line ${i + 1}: give both a username and a credential, or neither` };
    }
    servers.push({ urls: list.length === 1 ? list[0] : list, ...(username ? { username, credential } : {}) });
  }
  return { servers };
}

export function formToInput(f: FormState): { input: SessionConfigInput; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const milestoneText = f.milestones.split(',').map((m) => m.trim()).filter((m) => m !== '');
  const milestones = milestoneText.map(num);
  if (f.schedule === 'step' && milestoneText.length === 0) errors.milestones = 'list at least one round, e.g. 100, 200';
  else if (f.schedule === 'step' && !milestones.every((m) => Number.isInteger(m) && m >= 0)) {
    errors.milestones = 'rounds are whole numbers ≥ 0, separated by commas';
  }
  const schedule =
    f.schedule === 'step'
      ? { kind: 'step' as const, milestones, factor: num(f.factor) }
      : f.schedule === 'exponential'
        ? { kind: 'exponential' as const, rate: num(f.rate) }
        : { kind: 'constant' as const };
  const ice = parseIceServers(f.iceServers);
  if (ice.error) errors.iceServers = ice.error;
  const input: SessionConfigInput = {
    model: f.model,
    dataset: f.dataset,
    algorithm: {
      name: f.algorithm,
      lr: num(f.lr),
      schedule,
      weightDecay: num(f.weightDecay),
      theta: num(f.theta),
      R: num(f.R),
      alpha: num(f.alpha),
      K: num(f.K),
      eta: num(f.eta),
      ties: f.ties,
    },
    partition: f.partition === 'dirichlet' ? { kind: 'dirichlet', alpha: num(f.dirichletAlpha) } : { kind: 'iid' },
    batchSize: num(f.batchSize),
    rounds: num(f.rounds),
    expectedPeers: num(f.expectedPeers),
    voteShards: num(f.voteShards),
    seed: num(f.seed),
    deadlineMs: num(f.deadlineMs),
    evalEvery: num(f.evalEvery),
    iceServers: ice.servers,
  };
  return { input, errors };
}

/**
 * The fields in the order the form shows them, so the first key of a FieldErrors is the first
 * bad field on screen (it gets the focus); CreateSession.tsx lays the fields out in this order.
 */
export const fieldOrder: readonly FieldName[] = [
  'model', 'dataset', 'partition', 'dirichletAlpha', 'seed',
  'algorithm', 'lr', 'schedule', 'milestones', 'factor', 'rate', 'weightDecay', 'theta', 'R', 'alpha', 'K', 'eta', 'ties',
  'expectedPeers', 'voteShards', 'batchSize', 'rounds', 'deadlineMs', 'evalEvery', 'iceServers',
];

export function formToConfig(f: FormState): FormResult {
  const { input, errors: own } = formToInput(f);
  const found: FieldErrors = { ...own };
  const parsed = sessionConfigSchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = fieldOf(issue.path) ?? 'model';
      found[field] ??= describe(issue);
    }
  }
  if (Object.keys(found).length === 0 && parsed.success) return { ok: true, config: parsed.data };
  // in form order, whichever check found them
  const errors: FieldErrors = {};
  for (const name of fieldOrder) if (found[name]) errors[name] = found[name];
  return { ok: false, errors };
}

export { algorithmNames };
