import type { Schedule } from '../config';

/**
 * gamma_t: the learning rate of round t (0-based). A pure function of the round number, so
 * every peer (and a late joiner) computes the same step without shared state.
 * - constant:    lr
 * - step:        lr * factor^(number of milestones <= t)   (section 4.1: /10 at two milestones)
 * - exponential: lr * rate^t                               (section 4.2, CIFAR: 0.999 per round)
 */
export function lrAt(schedule: Schedule, lr: number, round: number): number {
  if (!(Number.isFinite(lr) && lr > 0)) throw new RangeError(`learning rate must be finite and > 0, got ${lr}`);
  if (!(Number.isInteger(round) && round >= 0)) throw new RangeError(`round must be an integer >= 0, got ${round}`);
  switch (schedule.kind) {
    case 'constant':
      return lr;
    case 'step': {
      if (!(schedule.factor > 0 && schedule.factor <= 1)) {
        throw new RangeError(`step schedule factor must be in (0, 1], got ${schedule.factor}`);
      }
      let passed = 0;
      for (const m of schedule.milestones) if (round >= m) passed++;
      return lr * Math.pow(schedule.factor, passed);
    }
    case 'exponential':
      if (!(schedule.rate > 0 && schedule.rate <= 1)) {
        throw new RangeError(`exponential schedule rate must be in (0, 1], got ${schedule.rate}`);
      }
      return lr * Math.pow(schedule.rate, round);
    default:
      throw new TypeError(`unknown schedule kind ${String((schedule as { kind: unknown }).kind)}`);
  }
}
