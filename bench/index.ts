/**
 * `npm run bench [-- --json] [-- --only <substring>]`: runs every `*.bench.ts` module in this
 * folder; each exports `benches: Bench[]`.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Bench, BenchResult } from './harness';

const args = process.argv.slice(2);
const json = args.includes('--json');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args[onlyAt + 1] : undefined;

const here = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here).filter((f) => f.endsWith('.bench.ts')).sort();
const rows: BenchResult[] = [];
for (const file of files) {
  const mod = (await import(pathToFileURL(join(here, file)).href)) as { benches: Bench[] };
  for (const bench of mod.benches) {
    if (only && !bench.name.includes(only)) continue;
    if (!json) process.stderr.write(`running ${bench.name} ...\n`);
    for (const r of await bench.run()) {
      rows.push(r);
      if (json) console.log(JSON.stringify(r));
    }
  }
}
if (!json) {
  const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(3));
  const table = rows.map((r) => [r.bench, `${fmt(r.value)} ${r.unit}`, `${fmt(r.baseline)} ${r.unit}`, `${r.ratio.toFixed(1)}x`, r.note ?? '']);
  const head = ['bench', 'value', 'baseline', 'ratio', 'note'];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of table) console.log(line(row));
}
