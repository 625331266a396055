/**
 * Benchmarks report a throughput or time next to a naive baseline measured in the same run,
 * so the ratio means something on any machine.
 */
export interface BenchResult {
  bench: string;
  value: number;
  unit: string;
  baseline: number;
  /** > 1 means better than the baseline (higher throughput, or lower time) */
  ratio: number;
  note?: string;
}

export interface Bench {
  name: string;
  run(): Promise<BenchResult[]> | BenchResult[];
}

/** Median wall time in ms of `fn` over `repeats` runs after `warmup` runs. */
export async function timeMs(fn: () => unknown, repeats = 7, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export function throughput(bench: string, unit: string, value: number, baseline: number, note?: string): BenchResult {
  return { bench, value, unit, baseline, ratio: value / baseline, note };
}

export function latency(bench: string, unit: string, value: number, baseline: number, note?: string): BenchResult {
  return { bench, value, unit, baseline, ratio: baseline / value, note };
}
