import { describe, expect, it } from 'vitest';
import { createRng } from '../random';
import { labelSkew, partitionDirichlet, partitionFor, partitionIid } from './partition';

function expectExactCover(shards: Uint32Array[], count: number) {
  const seen = new Uint8Array(count);
  for (const s of shards) {
    expect(s.length).toBeGreaterThan(0);
    for (const i of s) { expect(i).toBeLessThan(count); seen[i]++; }
  }
  expect(seen.every((v) => v === 1)).toBe(true);
}

function uniformLabels(count: number, classes: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  return new Uint8Array(count).map(() => rng.int(classes));
}

describe('IID partition', () => {
  it('covers every sample once with sizes within one, and is seeded', () => {
    const shards = partitionIid(1003, 10, createRng(1));
    expectExactCover(shards, 1003);
    const sizes = shards.map((s) => s.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(partitionIid(1003, 10, createRng(1))).toEqual(shards);
    expect(partitionIid(1003, 10, createRng(2))).not.toEqual(shards);
    expect(() => partitionIid(3, 4, createRng(1))).toThrow(/4 peers/);
  });
});

describe('Dirichlet partition', () => {
  it('assigns every sample once and leaves no shard empty, even for tiny alpha', () => {
    const labels = uniformLabels(2000, 10, 3);
    for (const alpha of [100, 1, 0.1, 1e-3]) {
      const shards = partitionDirichlet(labels, 10, 50, alpha, createRng(alpha * 1000));
      expectExactCover(shards, labels.length);
    }
    // more peers than samples of any class, and nearly as many peers as samples
    const few = uniformLabels(60, 10, 4);
    expectExactCover(partitionDirichlet(few, 10, 55, 0.05, createRng(9)), 60);
  });

  it('skews labels more as alpha shrinks', () => {
    const labels = uniformLabels(8000, 10, 5);
    const skew = (alpha: number) => {
      // average over seeds so the ordering is not a lucky draw
      let s = 0;
      for (let seed = 0; seed < 3; seed++) s += labelSkew(labels, 10, partitionDirichlet(labels, 10, 20, alpha, createRng(seed)));
      return s / 3;
    };
    const iid = labelSkew(labels, 10, partitionIid(labels.length, 20, createRng(0)));
    const [s100, s1, s01] = [skew(100), skew(1), skew(0.1)];
    expect(s100).toBeLessThan(0.15);
    expect(s1).toBeGreaterThan(s100 + 0.1);
    expect(s01).toBeGreaterThan(s1 + 0.1);
    expect(s01).toBeLessThanOrEqual(0.9);
    expect(iid).toBeLessThan(s1);
  });

  it('is seeded and chosen by the session partition kind', () => {
    const labels = uniformLabels(500, 10, 6);
    const data = { labels, count: labels.length, numClasses: 10 };
    const a = partitionFor({ kind: 'dirichlet', alpha: 0.5 }, data, 8, createRng(7));
    expect(partitionDirichlet(labels, 10, 8, 0.5, createRng(7))).toEqual(a);
    expect(partitionFor({ kind: 'iid' }, data, 8, createRng(7))).toEqual(partitionIid(500, 8, createRng(7)));
    expect(() => partitionDirichlet(labels, 10, 8, 0, createRng(1))).toThrow(/alpha/);
    expect(() => partitionDirichlet(new Uint8Array([1, 11]), 10, 2, 1, createRng(1))).toThrow(/label 11/);
  });
});
