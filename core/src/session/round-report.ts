import type { SessionConfig } from '../config';
import { AGREEMENT_WEIGHT, shareOfByte } from '../optim/agreement';
import { countBits } from '../protocol/messages';
import type { PeerId } from '../transport/transport';
import type { Checkpoint, CheckpointStore, WorkerMemory } from './checkpoint';
import type { Clock } from './context';
import { SessionEndedError, type DropReason, type GiveUpKind, type Role, type SessionEvent, type TalliedRange, type VoteSplit } from './events';
import { hashPair } from './hash';
import type { Replica, VerdictRecord } from './replica';

/**
 * What a peer tells the world about its rounds: the `round` event of every verdict applied (with
 * the bytes sent and received since the previous one, the voters and their latencies), the
 * evaluations every `evalEvery` rounds, checkpoints every `checkpointEvery` rounds, `finished`,
 * and the counters of `SessionPeer.stats()`. A round event leaves as soon as its verdict is
 * applied; an evaluation runs beside the rounds on a copy of the parameters and is reported by an
 * `evaluation` event when it is done (issue 16: a test set in the round's path froze every tenth
 * round for seconds). One evaluation runs at a time; when another becomes due meanwhile it waits,
 * and a newer one replaces a waiting one (reported with a null result), so a slow engine skips
 * evaluations instead of piling them up. `finished` waits for the last evaluation.
 */

export interface SessionStats {
  readonly dropped: Readonly<Partial<Record<DropReason, number>>>;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly messagesUp: number;
  readonly messagesDown: number;
  readonly snapshotsSent: number;
  readonly snapshotsInstalled: number;
}

export interface RoundReportOptions {
  readonly self: PeerId;
  /** the session id, saved with checkpoints */
  readonly session: string;
  readonly config: SessionConfig;
  readonly clock: Clock;
  readonly replica: Replica;
  readonly emit: (e: SessionEvent) => void;
  readonly fail: (where: string, e: unknown) => void;
  readonly evaluate?: (x: Float32Array) => Promise<{ loss: number; accuracy: number }>;
  readonly checkpoints?: CheckpointStore;
  /** this peer's worker memory as it stands now, saved with checkpoints */
  readonly memory: () => WorkerMemory;
  /**
   * The last round was applied here: whoever decides when the session is finished for this peer
   * (with a session record: once the record agrees) calls `finish()`; without it, at once.
   */
  readonly lastRound?: () => void;
  /** an evaluation of the parameters after `round` rounds (for the session record) */
  readonly evaluated?: (round: number, loss: number, accuracy: number) => void;
}

/** How this peer saw a verdict it just applied. */
export interface AppliedAs {
  readonly term: number;
  readonly role: Role;
  /** how the term splits the vote, and the range this peer tallies in it (null: none) */
  readonly split: VoteSplit;
  readonly voteShard: TalliedRange | null;
  /** this peer's mean training loss in that round (NaN: it did not vote in it) */
  readonly loss: number;
  /** the members of the term that decided it (join order), if this peer saw that term */
  readonly members: readonly PeerId[] | undefined;
}

export class RoundReport {
  private readonly droppedBy: Partial<Record<DropReason, number>> = {};
  private bytesUp = 0;
  private bytesDown = 0;
  private messagesUp = 0;
  private messagesDown = 0;
  private snapshotsSent = 0;
  private snapshotsInstalled = 0;
  /** bytes since the previous round event */
  private roundBytesUp = 0;
  private roundBytesDown = 0;
  private lastRoundAt: number;
  /** the evaluation running now, and the one due next (its round and parameters) */
  private evaluating: Promise<void> | null = null;
  private nextEvaluation: { readonly round: number; readonly x: Float32Array } | null = null;
  /** `finished`, held until the evaluations are reported */
  private afterEvaluations: (() => void) | null = null;
  private finishedSent = false;
  /** per peer, the moving average of its ballots' agreement with the verdicts (optim/agreement.ts) */
  private readonly agreementAvg = new Map<PeerId, number>();
  private resolveFinished: (v: { round: number; hash: string }) => void = () => {};
  private rejectFinished: (e: Error) => void = () => {};
  /** resolves when the last round (config.rounds) is applied here; rejects when the peer gives up */
  readonly finished = new Promise<{ round: number; hash: string }>((resolve, reject) => {
    this.resolveFinished = resolve;
    this.rejectFinished = reject;
  });

  constructor(private readonly o: RoundReportOptions) {
    this.lastRoundAt = o.clock.now();
    // a caller that never awaits `finished` must not see an unhandled rejection
    this.finished.catch(() => {});
  }

  sent(bytes: number): void {
    this.bytesUp += bytes;
    this.roundBytesUp += bytes;
    this.messagesUp++;
  }

  received(bytes: number): void {
    this.bytesDown += bytes;
    this.roundBytesDown += bytes;
    this.messagesDown++;
  }

  dropped(reason: DropReason, from: PeerId, detail: string): void {
    this.droppedBy[reason] = (this.droppedBy[reason] ?? 0) + 1;
    this.o.emit({ type: 'drop', reason, from, detail });
  }

  snapshotSent(): void {
    this.snapshotsSent++;
  }

  snapshotInstalled(): void {
    this.snapshotsInstalled++;
  }

  /** the aggregator opened a round: the next round event's `ms` counts from here */
  roundOpened(): void {
    this.lastRoundAt = this.o.clock.now();
  }

  stats(): SessionStats {
    const { droppedBy, bytesUp, bytesDown, messagesUp, messagesDown, snapshotsSent, snapshotsInstalled } = this;
    return { dropped: { ...droppedBy }, bytesUp, bytesDown, messagesUp, messagesDown, snapshotsSent, snapshotsInstalled };
  }

  /** `rec` was just applied (the replica is at rec.round + 1): its event, evaluation and checkpoint. */
  applied(rec: VerdictRecord, as: AppliedAs): void {
    const { config, clock, replica } = this.o;
    const now = clock.now();
    const { voters, latencies, agreement: shares } = votersOf(rec, as.members);
    const agreement: [PeerId, number][] = [];
    for (const [p, share] of shares) {
      const prev = this.agreementAvg.get(p);
      const avg = prev === undefined ? share : prev + AGREEMENT_WEIGHT * (share - prev);
      this.agreementAvg.set(p, avg);
      agreement.push([p, avg]);
    }
    const round = replica.round;
    const evaluating = this.o.evaluate !== undefined && config.evalEvery > 0 && round % config.evalEvery === 0;
    this.o.emit({
      type: 'round',
      round: rec.round,
      term: as.term,
      role: as.role,
      split: as.split,
      voteShard: as.voteShard,
      loss: as.loss,
      evaluating,
      hash: replica.hash,
      bytesUp: this.roundBytesUp,
      bytesDown: this.roundBytesDown,
      ms: now - this.lastRoundAt,
      counted: countBits(rec.counted),
      mine: voters.includes(this.o.self),
      voters,
      latencies,
      agreement: Object.fromEntries(agreement),
    });
    this.roundBytesUp = this.roundBytesDown = 0;
    this.lastRoundAt = now;
    if (evaluating) this.evaluateLater(rec.round, new Float32Array(replica.x));
    if (this.o.checkpoints && config.checkpointEvery > 0 && round % config.checkpointEvery === 0) void this.save(this.o.checkpoints);
    if (round >= config.rounds) this.lastRound();
  }

  /** the last round is applied here (by a verdict or a snapshot) */
  lastRound(): void {
    if (this.o.lastRound) this.o.lastRound();
    else this.finish();
  }

  /** This peer gives up (`gave-up`, after the evaluations): `finished` rejects. */
  giveUp(kind: GiveUpKind, reason: string): void {
    if (this.finishedSent) return;
    this.finishedSent = true;
    const done = (): void => {
      this.o.emit({ type: 'gave-up', kind, reason });
      this.rejectFinished(new SessionEndedError(kind, reason));
    };
    if (this.evaluating !== null) this.afterEvaluations = done;
    else done();
  }

  /** Once the last round is applied here (by a verdict or a snapshot): `finished`, in order. */
  finish(): void {
    if (this.finishedSent) return;
    this.finishedSent = true;
    const result = { round: this.o.replica.round, hash: this.o.replica.hash };
    const done = (): void => {
      this.o.emit({ type: 'finished', ...result });
      this.resolveFinished(result);
    };
    if (this.evaluating !== null) this.afterEvaluations = done;
    else done();
  }

  /** Evaluates `x`, the parameters after `round`, when the evaluation before it is done. */
  private evaluateLater(round: number, x: Float32Array): void {
    const superseded = this.nextEvaluation;
    this.nextEvaluation = { round, x };
    if (superseded !== null) this.o.emit({ type: 'evaluation', round: superseded.round, result: null });
    if (this.evaluating === null) this.evaluateNext();
  }

  private evaluateNext(): void {
    const job = this.nextEvaluation;
    const evaluate = this.o.evaluate;
    this.nextEvaluation = null;
    if (job === null || evaluate === undefined) {
      this.evaluating = null;
      const done = this.afterEvaluations;
      this.afterEvaluations = null;
      done?.();
      return;
    }
    const t0 = this.o.clock.now();
    this.evaluating = evaluate(job.x).then(
      (r) => {
        this.o.evaluated?.(job.round + 1, r.loss, r.accuracy);
        this.o.emit({ type: 'evaluation', round: job.round, result: { loss: r.loss, accuracy: r.accuracy, ms: this.o.clock.now() - t0 } });
      },
      (e) => {
        this.o.emit({ type: 'evaluation', round: job.round, result: null });
        this.o.fail('evaluate', e);
      },
    );
    void this.evaluating.then(() => this.evaluateNext());
  }

  /**
   * Saves this peer's state now to its checkpoint store (false: it has none). For a peer whose
   * session is over without it leaving (its signaling server gone): the checkpoint it resumes
   * from is then the state it held, not the last periodic one.
   */
  async saveNow(): Promise<boolean> {
    if (!this.o.checkpoints) return false;
    await this.save(this.o.checkpoints);
    return true;
  }

  private save(store: CheckpointStore): Promise<void> {
    const { x, xPrev, round } = this.o.replica;
    const cp: Checkpoint = {
      session: this.o.session,
      round,
      x: new Float32Array(x),
      xPrev: new Float32Array(xPrev),
      hash: hashPair(x, xPrev),
      savedAt: Date.now(),
      memory: this.o.memory(),
    };
    return store.save(cp).catch((e) => this.o.fail('saving checkpoint', e));
  }
}

/**
 * Names the counted bits with the membership of the verdict's term. A verdict of a term this
 * peer never saw (it joined later, or the term is older than the memberships it keeps) has
 * unnamed voters.
 */
function votersOf(rec: VerdictRecord, members: readonly PeerId[] | undefined): {
  voters: PeerId[]; latencies: Record<PeerId, number>; agreement: [PeerId, number][];
} {
  const voters: PeerId[] = [];
  const timed: [PeerId, number][] = [];
  const agreement: [PeerId, number][] = [];
  if (members !== undefined) {
    let k = 0;
    for (let i = 0; i < rec.counted.length * 8; i++) {
      if (((rec.counted[i >> 3] >> (i & 7)) & 1) === 0) continue;
      const p = members[i];
      if (p !== undefined) {
        voters.push(p);
        const ms = rec.latencies?.[k];
        if (ms !== undefined) timed.push([p, ms]);
        const a = rec.agreement?.[k];
        if (a !== undefined) agreement.push([p, shareOfByte(a)]);
      }
      k++;
    }
  }
  // fromEntries defines own properties: a peer id like "__proto__" stays a plain key
  return { voters, latencies: Object.fromEntries(timed), agreement };
}
