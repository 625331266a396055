/**
 * How fast a session goes, as a person reads it: rounds per second over the last rounds this
 * peer applied, and the time left at that pace. Shared by the session view and the CLI's
 * progress line, so both say the same thing.
 */

export interface ProgressMeter {
  /** the round just applied (0-based) and when, in ms (any clock that only moves forward) */
  applied(round: number, at: number): void;
  /** rounds per second over the window; null until two rounds are known */
  rate(): number | null;
  /** ms until `total` rounds are applied at the current rate; null when unknown */
  etaMs(total: number): number | null;
}

/**
 * `window`: how many of the latest rounds the rate is measured over (default 20: long enough to
 * smooth an evaluation or a straggler, short enough to follow a change of pace).
 */
export function createProgressMeter(window = 20): ProgressMeter {
  if (!(Number.isInteger(window) && window >= 2)) throw new RangeError(`window must be an integer >= 2, got ${window}`);
  const rounds: number[] = [];
  const times: number[] = [];
  return {
    applied(round, at) {
      // a replayed or late round (an older one reported after newer ones) says nothing of the pace
      if (rounds.length > 0 && round <= rounds[rounds.length - 1]) return;
      rounds.push(round);
      times.push(at);
      if (rounds.length > window) {
        rounds.shift();
        times.shift();
      }
    },
    rate() {
      if (rounds.length < 2) return null;
      const dt = times[times.length - 1] - times[0];
      if (!(dt > 0)) return null;
      return ((rounds[rounds.length - 1] - rounds[0]) * 1000) / dt;
    },
    etaMs(total) {
      const r = this.rate();
      if (r === null || rounds.length === 0) return null;
      const left = Math.max(0, total - (rounds[rounds.length - 1] + 1));
      return (left / r) * 1000;
    },
  };
}

/** "45 s", "3 min 20 s", "1 h 05 min" */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** "12.3 rounds/s", "0.40 rounds/s" */
export function formatRate(perSecond: number): string {
  return `${perSecond >= 10 ? perSecond.toFixed(1) : perSecond.toFixed(2)} rounds/s`;
}
