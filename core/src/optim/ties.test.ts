import { describe, expect, it } from 'vitest';
import { createRng } from '../random';
import { packSigns, verdictValue } from '../signs';
import { parseSessionConfig } from '../config';
import { encodeUpdate } from './codec';
import { createStrategy } from './index';
import type { Ballot } from './strategy';
import { tallyOf } from './test-helpers';

/** Two ballots that disagree on every coordinate: every coordinate of the vote is a tie. */
function opposedBallots(d: number): Ballot[] {
  const rng = createRng(11);
  const v = Float32Array.from({ length: d }, () => rng.normal());
  const w = v.map((a) => -a);
  return [
    { kind: 'signs', bits: packSigns(v, rng) },
    { kind: 'signs', bits: packSigns(w, rng) },
  ];
}

describe('tied votes', () => {
  const d = 4001;

  it("sessions default to 'coin' (one bit down); the paper tools pin 'zero'", () => {
    expect(parseSessionConfig({}).algorithm.ties).toBe('coin');
    expect(createStrategy({ name: 'mv-sto-signsgd-sim' }).config.ties).toBe('coin');
  });

  it("'zero' keeps the paper's Sign(0) = 0 and pays for a tie bitmap", () => {
    const s = createStrategy({ name: 'mv-sto-signsgd-sim', ties: 'zero' });
    const u = s.aggregate(tallyOf(opposedBallots(d), d), d, 0);
    if (u.kind !== 'verdict') throw new Error('expected a verdict');
    expect(u.ties).not.toBeNull();
    for (let i = 0; i < d; i += 97) expect(verdictValue(u, i)).toBe(0);
    expect(encodeUpdate(u, d).length).toBeGreaterThan(s.bytesDown(d));
  });

  it("'coin' resolves ties to fair, seeded +-1 and keeps the verdict at d/8 bytes", () => {
    const a = createStrategy({ name: 'mv-sto-signsgd-sim', ties: 'coin' });
    const b = createStrategy({ name: 'mv-sto-signsgd-sim', ties: 'coin' });
    const ua = a.aggregate(tallyOf(opposedBallots(d), d), d, 7);
    const ub = b.aggregate(tallyOf(opposedBallots(d), d), d, 7);
    if (ua.kind !== 'verdict' || ub.kind !== 'verdict') throw new Error('expected verdicts');
    expect(ua.ties).toBeNull();
    expect(encodeUpdate(ua, d).length).toBe(a.bytesDown(d));
    expect(ua.signs).toEqual(ub.signs);
    let plus = 0;
    for (let i = 0; i < d; i++) plus += verdictValue(ua, i) === 1 ? 1 : 0;
    // a fair coin: within 5 standard errors of d/2, and padding bits stay zero
    expect(Math.abs(plus - d / 2)).toBeLessThan(5 * Math.sqrt(d / 4));
    expect(ua.signs[ua.signs.length - 1] >> (d % 8)).toBe(0);
  });

  it("'coin' breaks the ties of a round the same way every time, whoever aggregates; another round differently", () => {
    const a = createStrategy({ name: 'mv-sto-signsgd-sim', ties: 'coin' });
    const signs = (u: ReturnType<typeof a.aggregate>) => (u.kind === 'verdict' ? Array.from(u.signs) : []);
    const first = signs(a.aggregate(tallyOf(opposedBallots(d), d), d, 7));
    a.aggregate(tallyOf(opposedBallots(d), d), d, 8);
    // a failover or a resumed session may decide round 7 again, on another peer or this one
    expect(signs(a.aggregate(tallyOf(opposedBallots(d), d), d, 7))).toEqual(first);
    expect(signs(createStrategy({ name: 'mv-sto-signsgd-sim', ties: 'coin' }).aggregate(tallyOf(opposedBallots(d), d), d, 7))).toEqual(first);
    expect(signs(a.aggregate(tallyOf(opposedBallots(d), d), d, 8))).not.toEqual(first);
  });
});
