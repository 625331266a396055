import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSessionConfig, type SessionConfig } from '../config';
import type { GradientOracle } from '../engine/oracle';
import { createModel } from '../models';
import type { AlgorithmConfigInput } from '../optim';
import { adversaryKinds, chooseAdversaries, type AdversaryKind } from '../optim/adversary';
import { lowAgreement } from '../optim/agreement';
import { runModel } from '../sim/model';
import { loadDataset, type TrainTest } from './datasets';
import { createNodeOracle, loadOrtNode } from './ort-node';

/**
 * Issue 15: short in-memory sessions (core/src/sim, the real round machine) of the MNIST MLP
 * with 20 % adversarial peers. Majority vote (MV-STO-SIGNSGD-SIM) ends within MARGIN points of
 * its clean run under every kind of adversary; the mean (SGD-M) does not survive 20 % sign
 * flippers; and the vote-agreement score the aggregator carries in its verdicts ranks sign
 * flippers, random voters and label flippers below every honest peer. Colluders are the
 * exception, measured and reported in docs/RESULTS.md: once their one vector sways the near-tied
 * coordinates, they agree with the verdict more than honest peers do.
 */

const PEERS = 20;
const FRACTION = 0.2;
const ROUNDS = 40;
/** points of test accuracy the vote may lose to 20 % adversaries of any kind in this short run */
const MARGIN = 5;
const SIM: AlgorithmConfigInput = { name: 'mv-sto-signsgd-sim', lr: 0.002, R: 0.001, theta: 0.9, alpha: 0 };
const SGDM: AlgorithmConfigInput = { name: 'sgd-m', lr: 0.1, theta: 0.9 };

describe('adversarial peers (MLP on MNIST, 20 peers, 20 % adversaries)', () => {
  const model = createModel('mlp');
  let data: TrainTest;
  let oracle: GradientOracle;
  beforeAll(async () => {
    data = await loadDataset('mnist');
    oracle = await createNodeOracle(model, (await loadOrtNode()) !== null ? 'node' : 'wasm');
  }, 60_000);
  afterAll(async () => {
    await oracle?.dispose();
  });

  const config = (algorithm: AlgorithmConfigInput): SessionConfig => parseSessionConfig({
    model: 'mlp', dataset: 'mnist', algorithm, partition: { kind: 'iid' }, batchSize: 16, rounds: ROUNDS,
    expectedPeers: PEERS, seed: 3, deadlineMs: 1000, evalEvery: 0, checkpointEvery: 0,
  });

  async function session(algorithm: AlgorithmConfigInput, kind: AdversaryKind | null) {
    const c = config(algorithm);
    const peers = kind === null ? new Set<number>() : chooseAdversaries(PEERS, FRACTION, c.seed);
    // the agreement every peer's last round event showed, as the first peer saw it
    const agreement = new Map<string, number>();
    const run = await runModel({
      config: c, peers: PEERS, oracle, x0: model.init(c.seed), train: data.train, test: data.test,
      ...(kind !== null && { adversaries: { kind, peers } }),
      onEvent: (i, e) => {
        if (i === 0 && e.type === 'round') for (const [p, a] of Object.entries(e.agreement)) agreement.set(p, a);
      },
    });
    const ids = run.session.peers.map((p) => p.self);
    return {
      accuracy: 100 * run.curve[run.curve.length - 1].testAccuracy,
      adversaries: ids.filter((_, i) => peers.has(i)),
      honest: ids.filter((_, i) => !peers.has(i)),
      agreement,
    };
  }

  it('majority vote stays within the margin of clean under every kind; sign flippers, random voters and label flippers agree least', async () => {
    const clean = await session(SIM, null);
    expect(clean.accuracy).toBeGreaterThan(70);
    for (const kind of adversaryKinds) {
      const s = await session(SIM, kind);
      expect(s.adversaries).toHaveLength(PEERS * FRACTION);
      expect(s.accuracy, `${kind}: ${s.accuracy.toFixed(2)}% against ${clean.accuracy.toFixed(2)}% clean`).toBeGreaterThan(clean.accuracy - MARGIN);
      const honest = s.honest.map((p) => s.agreement.get(p)!);
      for (const a of honest) expect(a).toBeGreaterThan(0.5);
      if (kind === 'silent') {
        // it never voted: no agreement to show
        for (const p of s.adversaries) expect(s.agreement.has(p)).toBe(false);
        continue;
      }
      const adversarial = s.adversaries.map((p) => s.agreement.get(p)!);
      if (kind === 'collude') continue;
      expect(Math.max(...adversarial), `${kind}: adversaries ${adversarial.map((a) => a.toFixed(3))}, honest from ${Math.min(...honest).toFixed(3)}`)
        .toBeLessThan(Math.min(...honest));
      if (kind !== 'label-flip') expect(new Set(lowAgreement(Object.fromEntries(s.agreement)))).toEqual(new Set(s.adversaries));
    }
  }, 120_000);

  it('the mean (SGD-M) trains clean but breaks with 20 % sign flippers', async () => {
    const clean = await session(SGDM, null);
    expect(clean.accuracy).toBeGreaterThan(70);
    const flipped = await session(SGDM, 'sign-flip');
    expect(flipped.accuracy).toBeLessThan(clean.accuracy - 20);
  }, 60_000);
});
