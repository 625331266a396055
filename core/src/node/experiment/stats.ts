/** Summary statistics over seeds. `std` is the sample standard deviation (n - 1), 0 for one value. */
export interface Stats {
  readonly n: number;
  readonly mean: number;
  readonly std: number;
  readonly min: number;
  readonly max: number;
}

export function stats(values: readonly number[]): Stats {
  const xs = values.filter((v) => Number.isFinite(v));
  const n = xs.length;
  if (n === 0) return { n: 0, mean: NaN, std: NaN, min: NaN, max: NaN };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { n, mean, std: Math.sqrt(variance), min: Math.min(...xs), max: Math.max(...xs) };
}

/** "92.31 ± 0.42" in percent points from fractions. */
export function formatPct(s: Stats, digits = 2): string {
  if (s.n === 0) return 'n/a';
  return s.n > 1 ? `${(s.mean * 100).toFixed(digits)} ± ${(s.std * 100).toFixed(digits)}` : `${(s.mean * 100).toFixed(digits)}`;
}
