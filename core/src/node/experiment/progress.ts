/**
 * A one-line progress bar on stderr with a time-left estimate. Runs differ a lot in cost
 * (50 peers x 6 gradients vs 1 peer), so progress is measured in estimated cost units and
 * the rate is learned from the runs finished in this process (skipped ones do not count).
 */
export interface Progress {
  /** a run began; `cost` in the same units as the total */
  start(label: string, cost: number): void;
  /** fraction of the current run done, in [0, 1] */
  update(fraction: number): void;
  finish(ran: boolean): void;
  done(): void;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function createProgress(totalRuns: number, totalCost: number, stream: NodeJS.WriteStream | null = process.stderr): Progress {
  const t0 = Date.now();
  let doneRuns = 0;
  let doneCost = 0;
  let measuredCost = 0;
  let measuredMs = 0;
  let current = { label: '', cost: 0, started: 0, fraction: 0 };
  let lastDraw = 0;
  const tty = stream?.isTTY ?? false;

  const draw = (force = false) => {
    if (!stream) return;
    const now = Date.now();
    if (!force && now - lastDraw < (tty ? 200 : 15_000)) return;
    lastDraw = now;
    const partial = current.cost * current.fraction;
    const frac = totalCost > 0 ? Math.min(1, (doneCost + partial) / totalCost) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    const elapsedRun = current.started ? now - current.started : 0;
    const rate = measuredCost > 0 ? measuredMs / measuredCost
      : current.fraction > 0.02 && current.cost > 0 ? elapsedRun / (current.fraction * current.cost) : NaN;
    const left = rate * (totalCost - doneCost - partial);
    const line = `[${bar}] ${(frac * 100).toFixed(1)}% run ${Math.min(doneRuns + 1, totalRuns)}/${totalRuns} ${current.label} ` +
      `elapsed ${formatDuration(now - t0)} left ~${formatDuration(left)}`;
    stream.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
  };

  return {
    start(label, cost) {
      current = { label, cost, started: Date.now(), fraction: 0 };
      draw(true);
    },
    update(fraction) {
      current.fraction = Math.min(1, Math.max(0, fraction));
      draw();
    },
    finish(ran) {
      if (ran) {
        measuredCost += current.cost;
        measuredMs += Date.now() - current.started;
      }
      doneCost += current.cost;
      doneRuns++;
      current = { label: '', cost: 0, started: 0, fraction: 0 };
    },
    done() {
      draw(true);
      if (stream && tty) stream.write('\n');
    },
  };
}
