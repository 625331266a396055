import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adversarySection } from './adversary-report';
import { judgeClaim } from './claims';
import { loadExperimentConfig, parseExperimentConfig } from './config';
import { parseCsv } from './csv';
import { expandGrid } from './grid';
import { summarizeCells } from './results';
import type { RunSummary } from './results';
import { writeReport } from './report';
import { runGrid } from './runner';
import { niceTicks, renderFigure } from './svg';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('experiment runner', () => {
  it('runs the smoke config end to end through the session and resumes without rerunning', async () => {
    const out = await mkdtemp(join(tmpdir(), 'signvote-exp-'));
    dirs.push(out);
    const config = await loadExperimentConfig('experiments/smoke.json');
    const first = await runGrid(config, { out: join(out, 'smoke'), smoke: true, command: 'test', progress: null, log: () => undefined });
    expect(first.failed).toEqual([]);
    expect(first.ran).toBe(expandGrid(config).length);

    const runFiles = await readdir(join(out, 'smoke', 'runs'));
    const csvs = runFiles.filter((f) => f.endsWith('.csv'));
    expect(csvs.length).toBe(expandGrid(config).length);
    for (const f of csvs) {
      const rows = parseCsv(await readFile(join(out, 'smoke', 'runs', f), 'utf8'), f);
      expect(rows[0].round).toBe(0);
      expect(rows[rows.length - 1].round).toBe(config.rounds);
      const last = rows[rows.length - 1];
      // 10 classes: chance is 10%; 30 rounds of 4 voting peers get far beyond it
      expect(last.testAccuracy).toBeGreaterThan(0.5);
      expect(last.trainLoss).toBeLessThan(rows[1].trainLoss);
      // bytes grow monotonically and a 1-bit ballot of the 55,050-parameter MLP is ~6.9 kB
      for (let i = 1; i < rows.length; i++) expect(rows[i].bytesUp).toBeGreaterThan(rows[i - 1].bytesUp);
      const perPeerRound = last.bytesUp / (4 * config.rounds);
      expect(perPeerRound).toBeGreaterThan(55_050 / 8);
      expect(perPeerRound).toBeLessThan(4 * 55_050);
    }
    const summary = JSON.parse(await readFile(join(out, 'smoke', 'summary.json'), 'utf8'));
    expect(summary.runs).toBe(csvs.length);
    expect(summary.cells.length).toBe(config.algorithms.length);
    const svgs = (await readdir(join(out, 'smoke'))).filter((f) => f.endsWith('.svg'));
    expect(svgs.length).toBeGreaterThan(0);
    const svg = await readFile(join(out, 'smoke', svgs[0]), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<polyline /g)?.length).toBe(config.algorithms.length);

    const again = await runGrid(config, { out: join(out, 'smoke'), smoke: true, command: 'test', progress: null, log: () => undefined });
    expect(again.ran).toBe(0);
    expect(again.skipped).toBe(first.ran);

    const md = await writeReport(out, join(out, 'RESULTS.md'));
    expect(md).toContain('Smoke runs');
    expect(md).toContain('MV-STO-SIGNSGD-SIM');
  }, 60_000);
});

describe('experiment config', () => {
  it('accepts every shipped config and expands the paper grid', async () => {
    const mv = await loadExperimentConfig('experiments/mv-mnist.json');
    const runs = expandGrid(mv);
    expect(runs.length).toBe(4 * 3 * 2 * mv.seeds);
    expect(new Set(runs.map((r) => r.id)).size).toBe(runs.length);
    const fed = runs.find((r) => r.session.algorithm.name === 'fed-mv-sto-signsgd-sim')!;
    expect(fed.session.algorithm).toMatchObject({ lr: 0.001, K: 5, R: 0.001, theta: 0.9, alpha: 0 });
    expect(fed.session.expectedPeers).toBe(50);
    // the paper's Sign(0) = 0 for every run (sessions elsewhere default to 'coin')
    for (const r of runs) expect(r.session.algorithm.ties).toBe('zero');
    const coin = expandGrid({ ...mv, algorithms: [{ ...mv.algorithms[0], ties: 'coin' }] });
    expect(coin.every((r) => r.session.algorithm.ties === 'coin')).toBe(true);
    for (const name of ['workers', 'single-node', 'smoke']) expandGrid(await loadExperimentConfig(`experiments/${name}.json`));
  });

  it('scales the learning rate with the batch size and places step decay per run', async () => {
    const single = await loadExperimentConfig('experiments/single-node.json');
    const runs = expandGrid(single);
    const sim = (b: number) => runs.find((r) => r.label === 'SIGNSGD-SIM' && r.batchSize === b && r.dataset === 'mnist')!;
    expect(sim(128).session.algorithm.lr).toBeCloseTo(1e-3, 12);
    expect(sim(8).session.algorithm.lr).toBeCloseTo(1e-3 / 16, 12);
    expect(sim(8).session.rounds).toBe(16 * sim(128).session.rounds);
    const sched = sim(8).session.algorithm.schedule;
    expect(sched).toEqual({ kind: 'step', milestones: [sim(8).session.rounds / 2, (sim(8).session.rounds * 3) / 4], factor: 0.1 });
  });

  it('rejects bad configs with errors that name the field', () => {
    const base = { name: 'x', title: 'x', rounds: 10, evalEvery: 5, peers: [2], batchSizes: [8], seeds: 1,
      algorithms: [{ label: 'A', name: 'mv-signsgd' }] };
    expect(() => parseExperimentConfig({ ...base, rounds: 0 })).toThrow(/rounds/);
    expect(() => parseExperimentConfig({ ...base, algorithms: [{ label: 'A', name: 'nope' }] })).toThrow(/algorithms\.0\.name/);
    expect(() => parseExperimentConfig({ ...base, algorithms: [{ label: 'A', name: 'mv-signsgd', theta: 1 }] })).toThrow(/theta/);
    expect(() => parseExperimentConfig({ ...base, extra: 1 })).toThrow(/extra|Unrecognized/);
    expect(() => parseExperimentConfig({ ...base, claims: [{ kind: 'gap', text: 't', a: 'A', b: 'B' }] })).toThrow(/unknown algorithm label "B"/);
    expect(() => parseExperimentConfig({ ...base, name: 'Bad Name' })).toThrow(/name/);
  });
});

describe('claims and figures', () => {
  const cfg = parseExperimentConfig({ name: 'c', title: 'c', rounds: 10, evalEvery: 5, peers: [1], batchSizes: [128, 8], seeds: 2,
    algorithms: [{ label: 'A', name: 'signsgd-sim' }, { label: 'B', name: 'signsgd' }] });
  const run = (label: string, batchSize: number, seed: number, acc: number): RunSummary => ({
    id: `${label}${batchSize}${seed}`, label, algorithm: 'signsgd', dataset: 'mnist', model: 'mlp', batchSize, partition: { kind: 'iid' },
    peers: 1, seed, rounds: 10, lr: 1e-3, finalAccuracy: acc, bestAccuracy: acc, finalTrainLoss: 0.1, wallMs: 1, backend: 'node',
    bytesUpPerPeerRound: 1, bytesDownPerPeerRound: 1, incompleteRounds: 0, complete: true,
  });
  const cells = summarizeCells(cfg, [
    run('A', 128, 1, 0.90), run('A', 128, 2, 0.92), run('A', 8, 1, 0.89), run('A', 8, 2, 0.91),
    run('B', 128, 1, 0.91), run('B', 128, 2, 0.91), run('B', 8, 1, 0.70), run('B', 8, 2, 0.80),
  ]);

  it('computes gap and drop verdicts from the numbers', () => {
    const gap = judgeClaim({ kind: 'gap', text: 't', a: 'A', b: 'B', where: { batchSize: 8 }, metric: 'final' }, cells);
    expect(gap.verdict).toBe('supported');
    expect(gap.sentence).toContain('+15.00 points');
    const reverse = judgeClaim({ kind: 'gap', text: 't', a: 'B', b: 'A', where: { batchSize: 8 }, metric: 'final' }, cells);
    expect(reverse.verdict).toBe('not supported');
    const drop = judgeClaim({ kind: 'drop', text: 't', a: 'A', b: 'B', from: 128, to: 8, where: {}, metric: 'final' }, cells);
    expect(drop.verdict).toBe('supported');
    expect(drop.sentence).toContain('A loses 1.00 points and B loses 16.00');
    const close = judgeClaim({ kind: 'close', text: 't', a: 'A', b: 'B', tolerance: 2, where: {}, metric: 'final' }, cells);
    expect(close.verdict).toBe('partly supported');
    expect(close.sentence).toContain('in 1 of 2 settings');
    const none = judgeClaim({ kind: 'gap', text: 't', a: 'A', b: 'B', where: { batchSize: 32 }, metric: 'final' }, cells);
    expect(none.verdict).toBe('no data');
  });

  it('adversaries: a grid axis with one clean cell, robust / breaks claims against it, and the section with AUC and missing runs', async () => {
    const byz = await loadExperimentConfig('experiments/byzantine.json');
    const grid = expandGrid(byz);
    // per algorithm and seed: the clean run and 5 kinds x 4 fractions
    expect(grid.length).toBe(3 * 21 * 3);
    expect(new Set(grid.map((r) => r.id)).size).toBe(grid.length);
    expect(grid.filter((r) => r.adversary === null)).toHaveLength(9);
    expect(grid.find((r) => r.adversary?.kind === 'sign-flip' && r.adversary.fraction === 0.2 && r.label === 'SGD-M' && r.seed === 1)!.id)
      .toBe('mnist_sgd-m_b8_iid_n50_s1_sign-flip-20');

    const adv = (label: string, seed: number, acc: number, kind: 'sign-flip' | null, fraction: number, auc: number | null): RunSummary => ({
      ...run(label, 8, seed, acc), id: `${label}-${kind}-${fraction}-${seed}`,
      adversary: kind === null ? null : { kind, fraction, peers: [1] }, agreementAuc: auc,
    });
    const cfg2 = parseExperimentConfig({ ...cfg, batchSizes: [8], adversaries: { kinds: ['sign-flip'], fractions: [0, 0.2, 0.45] } });
    const runs = [
      adv('A', 1, 0.90, null, 0, null), adv('A', 2, 0.92, null, 0, null), adv('A', 1, 0.895, 'sign-flip', 0.2, 1), adv('A', 2, 0.905, 'sign-flip', 0.2, 0.9),
      adv('B', 1, 0.90, null, 0, null), adv('B', 1, 0.40, 'sign-flip', 0.2, 1), adv('A', 1, 0.5, 'sign-flip', 0.45, 0.2),
    ];
    const cells2 = summarizeCells(cfg2, runs);
    const robust = judgeClaim({ kind: 'robust', text: 't', a: 'A', adversary: { kind: 'sign-flip', fraction: 0.2 }, tolerance: 2, where: {}, metric: 'final' }, cells2);
    expect(robust.verdict).toBe('supported');
    expect(robust.sentence).toContain('-1.00');
    const breaks = judgeClaim({ kind: 'breaks', text: 't', a: 'B', adversary: { kind: 'sign-flip', fraction: 0.2 }, by: 10, where: {}, metric: 'final' }, cells2);
    expect(breaks.verdict).toBe('supported');
    expect(judgeClaim({ kind: 'breaks', text: 't', a: 'A', adversary: { kind: 'sign-flip', fraction: 0.2 }, by: 10, where: {}, metric: 'final' }, cells2).verdict).toBe('not supported');
    // the paper's claims see the clean cells only
    expect(judgeClaim({ kind: 'close', text: 't', a: 'A', b: 'B', tolerance: 1.5, where: {}, metric: 'final' }, cells2).verdict).toBe('supported');
    const expected = [...runs, { id: 'B-sign-flip-0.45-1', label: 'B', adversary: { kind: 'sign-flip' as const, fraction: 0.45 }, seed: 1 }];
    const text = adversarySection(cfg2, cells2, runs, expected.map((r) => ({ id: r.id, label: r.label, adversary: r.adversary ?? null, seed: r.seed }))).join('\n');
    expect(text).toContain('| sign-flip | 90.00 ± 0.71 (n=2) [-1.00] | 50.00 (n=1) [-41.00] | 45% |');
    expect(text).toContain('| A | sign-flip | 0.950 (0.900) | 0.200 | 0.700 (n=3 runs) |');
    expect(text).toContain('Missing runs: 1 of 8.');
    expect(text).toContain('By cell (seeds missing): B sign-flip 45% (1).');
  });

  it('draws one band and one line per series and escapes labels', () => {
    const svg = renderFigure({
      title: 'a <b> & c', xLabel: 'round', yLabel: 'acc', panels: [
        { title: 'p1', series: [{ label: 'x<y', x: [0, 1, 2], mean: [1, 2, 3], lo: [0, 1, 2], hi: [2, 3, 4] }] },
        { title: 'p2', series: [{ label: 'x<y', x: [0, 5], mean: [1, 1] }] },
      ],
    });
    expect(svg).toContain('a &lt;b&gt; &amp; c');
    expect(svg.match(/<polygon /g)?.length).toBe(1);
    expect(svg.match(/<polyline /g)?.length).toBe(2);
    expect(niceTicks(0, 250)).toEqual([0, 50, 100, 150, 200, 250]);
  });
});
