import { z } from 'zod';
import { recordEvalSchema, type RecordEval } from './record';

/**
 * The evaluations an aggregator reported, kept so a peer that joins late can chart the session
 * from round 0 (docs/session.md, "The session record"). Bounded: at most `cap` points, one per
 * round, in round order. It keeps every `stride`-th evaluation plus the newest; when full, every
 * other kept point is dropped and the stride doubles, so the points stay evenly spread over
 * round 0 to now. An evaluation older than the newest kept one is ignored (reports go forward).
 */

export const DEFAULT_EVAL_HISTORY = 512;

/** GET /api/sessions/<id>/history: the evaluations, round ascending */
export const evalHistorySchema = z.object({ evals: z.array(recordEvalSchema).max(4096) });
export type EvalHistory = z.infer<typeof evalHistorySchema>;

export interface EvalHistoryState {
  readonly points: RecordEval[];
  readonly tail: RecordEval | null;
  readonly stride: number;
  readonly seen: number;
}

export class EvalHistoryLog {
  /** every `stride`-th evaluation, round ascending */
  private points: RecordEval[] = [];
  /** the newest evaluation when it is not one of `points` */
  private tail: RecordEval | null = null;
  private stride = 1;
  /** evaluations accepted so far: which of them falls on the stride */
  private seen = 0;

  /** `cap`: most points kept (>= 2) */
  constructor(private readonly cap = DEFAULT_EVAL_HISTORY) {
    if (!Number.isInteger(cap) || cap < 2) throw new RangeError(`an evaluation history keeps at least 2 points, not ${cap}`);
  }

  /** Add an evaluation; a second one for the newest round replaces it. */
  add(e: RecordEval): void {
    const newest = this.tail ?? this.points[this.points.length - 1];
    if (newest !== undefined && e.round < newest.round) return;
    if (newest !== undefined && e.round === newest.round) {
      if (this.tail !== null) this.tail = e;
      else this.points[this.points.length - 1] = e;
      return;
    }
    const onStride = this.seen % this.stride === 0;
    this.seen += 1;
    if (!onStride) {
      this.tail = e;
      return;
    }
    this.tail = null;
    this.points.push(e);
    // one slot stays free for the tail
    if (this.points.length >= this.cap) {
      this.points = this.points.filter((_, i) => i % 2 === 0);
      this.stride *= 2;
      if (this.points[this.points.length - 1] !== e) this.tail = e;
    }
  }

  /** a rewind abandoned the rounds after `round` */
  forgetAfter(round: number): void {
    this.points = this.points.filter((e) => e.round <= round);
    if (this.tail !== null && this.tail.round > round) this.tail = null;
  }

  /** everything the log holds, as JSON (a signaling server keeps it in Redis) */
  toState(): EvalHistoryState {
    return { points: [...this.points], tail: this.tail, stride: this.stride, seen: this.seen };
  }

  /** a log as `toState` left it */
  static fromState(state: EvalHistoryState, cap = DEFAULT_EVAL_HISTORY): EvalHistoryLog {
    const log = new EvalHistoryLog(cap);
    log.points = [...state.points];
    log.tail = state.tail;
    log.stride = state.stride;
    log.seen = state.seen;
    return log;
  }

  /** the kept points, round ascending (a copy) */
  list(): RecordEval[] {
    return this.tail === null ? [...this.points] : [...this.points, this.tail];
  }
}
