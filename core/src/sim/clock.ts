import type { Clock } from '../session/peer';

/**
 * Clocks that do not follow the wall, for sessions run in one process: time moves only when
 * the runner (VirtualClock) or the test (createManualClock) says so, so a deadline fires at a
 * point of the run that the code chooses, not one the machine's load chooses.
 */

/** Timers that run only when `fireNext` is called, earliest first, ties in arming order. */
export class VirtualClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  fireNext(): boolean {
    let best: number | null = null, at = Infinity;
    // Map iteration is arming order, so `<` keeps the earliest-armed among equal times
    for (const [id, timer] of this.timers) {
      if (timer.at < at) [best, at] = [id, timer.at];
    }
    if (best === null) return false;
    const timer = this.timers.get(best)!;
    this.timers.delete(best);
    this.t = Math.max(this.t, timer.at);
    timer.fn();
    return true;
  }
}

export interface VirtualClockDriver {
  /** deadlines fired so far */
  readonly fired: number;
  stop(): void;
}

/**
 * Moves `clock` for a run in this process: on every macrotask, if the run is `quiescent()`
 * (nothing but a timer can make progress), fires the earliest timer. Calls `stalled` once and
 * stops when the run is quiescent with no timer armed, or when more than `maxIdleTimers`
 * timers fire in a row while `progress()` stays the same.
 */
export function driveVirtualClock(clock: VirtualClock, run: {
  quiescent(): boolean;
  progress(): number;
  readonly maxIdleTimers: number;
  stalled(why: string): void;
}): VirtualClockDriver {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let fired = 0;
  let idle = 0;
  let mark = Number.NaN;
  const probe = (): void => {
    timer = null;
    if (run.quiescent()) {
      const progress = run.progress();
      if (progress !== mark) {
        mark = progress;
        idle = 0;
      }
      if (clock.pending === 0) return run.stalled('nothing in flight and no deadline armed');
      if (++idle > run.maxIdleTimers) return run.stalled(`${run.maxIdleTimers} deadlines fired without a round applied`);
      clock.fireNext();
      fired++;
    }
    timer = setTimeout(probe, 0);
  };
  timer = setTimeout(probe, 0);
  return {
    get fired() {
      return fired;
    },
    stop() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}

/** A clock that only moves when told: deadlines due by then fire on `advance(ms)`, in time order. */
export function createManualClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout(h) {
      timers.delete(h as number);
    },
    advance(ms) {
      now += ms;
      const due = [...timers].filter(([, t]) => t.at <= now).sort((a, b) => a[1].at - b[1].at || a[0] - b[0]);
      for (const [id, t] of due) {
        if (!timers.delete(id)) continue;
        t.fn();
      }
    },
  };
}
