import type { Strategy, TrustedUpdate } from '../optim/strategy';
import { hashParams } from './hash';

/**
 * One peer's copy of the shared state (docs/session.md, "Rounds"): x = x^t, x_prev = x^{t-1},
 * t = `round` (the number of verdicts applied, so also the round to decide next), the hash of x,
 * and the last `keep` verdicts applied, which it replays to peers that are behind. No transport
 * and no timers: the roles decide when to apply, install or replay.
 */

/** A verdict as applied here. The wire names two of its fields differently (see `verdictMessage`). */
export interface VerdictRecord {
  readonly round: number;
  /** the term whose aggregator decided it (the verdict message's `origin`) */
  readonly decidedInTerm: number;
  /** hash of the parameters it applies to (the verdict message's `base`) */
  readonly hashBefore: string;
  /** hash of the parameters after applying it here */
  readonly hashAfter: string;
  /** bitmap over the deciding term's members (join order) of the ballots tallied */
  readonly counted: Uint8Array;
  /** the strategy's encoded update */
  readonly payload: Uint8Array;
  /** per counted ballot, ms from the round's opening to its arrival at the deciding aggregator */
  readonly latencies?: readonly number[];
  /** per counted ballot, round(255 x its agreement with the update) (optim/agreement.ts) */
  readonly agreement?: Uint8Array;
}

/** states kept on a replica's trail */
const TRAIL = 4096;

export class Replica {
  x: Float32Array;
  xPrev: Float32Array;
  /** verdicts applied: the parameters are x^round */
  round = 0;
  hash: string;
  /**
   * The buffer x_prev held before the last apply, reused for the next x when no worker step
   * reads it: x and x_prev are double-buffered so that an update never writes into parameters a
   * straggling step may still read.
   */
  private reusable: Float32Array | null = null;
  /** worker steps reading x and x_prev right now (see `hold`) */
  private readers = 0;
  private readonly verdicts = new Map<number, VerdictRecord>();
  /**
   * the hash of each state this replica passed through since it was last installed (the newest
   * TRAIL of them): whether it descends from a point of the session record
   */
  private readonly trail = new Map<number, string>();

  /**
   * @param params x^0 (copied); x_prev starts equal to it
   * @param keep how many applied verdicts to keep for replays (the newest ones)
   */
  constructor(
    params: Float32Array,
    private readonly strategy: Pick<Strategy, 'apply'>,
    private readonly keep: number,
  ) {
    if (params.length === 0) throw new RangeError('params must not be empty');
    this.x = new Float32Array(params);
    this.xPrev = new Float32Array(params);
    this.hash = hashParams(this.x);
    this.trail.set(0, this.hash);
  }

  get d(): number {
    return this.x.length;
  }

  /** A worker step reads the current x and x_prev until it calls the returned release. */
  hold(): () => void {
    this.readers++;
    let held = true;
    return () => {
      if (held) this.readers--;
      held = false;
    };
  }

  /**
   * Applies `update` as verdict `verdict.round` (which must be `this.round`, on parameters that
   * hash to `verdict.hashBefore`: the caller checked both) and keeps it for replays.
   */
  apply(verdict: Omit<VerdictRecord, 'hashAfter'>, update: TrustedUpdate): VerdictRecord {
    const round = verdict.round;
    const nx = this.readers === 0 && this.reusable !== null ? this.reusable : new Float32Array(this.d);
    nx.set(this.x);
    this.strategy.apply(nx, update, round);
    this.reusable = this.readers === 0 ? this.xPrev : null;
    this.xPrev = this.x;
    this.x = nx;
    this.round = round + 1;
    this.hash = hashParams(this.x);
    this.passed(this.round, this.hash);
    const record: VerdictRecord = { ...verdict, hashAfter: this.hash };
    this.verdicts.set(round, record);
    for (const r of this.verdicts.keys()) if (r < round - this.keep + 1) this.verdicts.delete(r);
    return record;
  }

  /** Replaces the state by a snapshot or checkpoint (copied); the verdicts held are dropped. */
  install(round: number, x: Float32Array, xPrev: Float32Array): void {
    if (x.length !== this.d || xPrev.length !== this.d) throw new RangeError(`state of d = ${x.length}, this replica has d = ${this.d}`);
    this.x = new Float32Array(x);
    this.xPrev = new Float32Array(xPrev);
    this.reusable = null;
    this.round = round;
    this.hash = hashParams(this.x);
    this.verdicts.clear();
    this.trail.clear();
    this.passed(round, this.hash);
  }

  /** the hash this replica had after `round` rounds, if that state is on its trail */
  hashAt(round: number): string | undefined {
    return this.trail.get(round);
  }

  private passed(round: number, hash: string): void {
    this.trail.set(round, hash);
    if (this.trail.size > TRAIL) this.trail.delete(this.trail.keys().next().value!);
  }

  /** the applied verdict of `round`, if still held */
  verdict(round: number): VerdictRecord | undefined {
    return this.verdicts.get(round);
  }

  /** the first round of the unbroken run of verdicts held up to `round` (= round: none) */
  oldestHeld(): number {
    let r = this.round;
    while (r > 0 && this.verdicts.has(r - 1)) r--;
    return r;
  }

  /**
   * Whether a peer that applied `round` verdicts and holds `peerHash` can be brought here by
   * replaying verdicts [round, this.round): all are held and the first applies to its hash.
   */
  canReplay(round: number, peerHash: string): boolean {
    if (round >= this.round) return false;
    for (let r = round; r < this.round; r++) if (!this.verdicts.has(r)) return false;
    return this.verdicts.get(round)!.hashBefore === peerHash;
  }
}
