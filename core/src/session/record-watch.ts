import type { RecordPoint, SessionRecordView } from '../record/record';
import type { PeerId } from '../transport/transport';
import type { PeerContext } from './context';
import type { RecordLink } from './record-link';

/**
 * What a peer does with what the session record tells it (docs/session.md, "The peer side of the
 * record"), besides reporting (record-link.ts): the start opens a waiting term; the end is checked
 * before this peer says it finished, and taken from the stored snapshot when this peer is not
 * there; and a worker the session leaves behind without a link to its aggregator says so and,
 * after a while, gives up instead of waiting silently.
 */

/**
 * How long a peer at the last round waits for the record to say the session finished (the
 * aggregator reports the end once a member confirms it, or after a deadline) before giving up.
 */
const finishWaitMs = (deadlineMs: number): number => 4 * deadlineMs + 10_000;
/** a worker that hears nothing from its aggregator this long while the session runs checks the record */
const silenceMs = (deadlineMs: number): number => 2 * deadlineMs + 5_000;
/** such checks that find the session ahead before the worker gives up (dropped) */
const NOT_COUNTED_GIVE_UP = 6;

export interface RecordWatchHost {
  readonly ctx: Pick<PeerContext, 'self' | 'config' | 'clock' | 'replica' | 'view' | 'emit' | 'report' | 'giveUp' | 'isStopped'>;
  readonly link: RecordLink;
  /** replaces this peer's state (the peer's own install: the worker forgets its ballot) */
  install(round: number, x: Float32Array, xPrev: Float32Array): void;
  /** the record says the session started: a waiting aggregator opens its round */
  started(): void;
}

export class RecordWatch {
  private confirming = false;
  private heardAt: number;
  private silentChecks = 0;
  private silenceTimer: unknown = null;

  constructor(private readonly host: RecordWatchHost) {
    this.heardAt = host.ctx.clock.now();
  }

  /** A status change pushed by the record. */
  onRecord(r: SessionRecordView): void {
    const { view, isStopped } = this.host.ctx;
    if (isStopped()) return;
    if (r.status !== 'waiting' && !view.started) {
      view.started = true;
      this.host.started();
    }
    if (r.status === 'finished' && r.finished) this.catchUpWithEnd(r.finished);
  }

  /**
   * Installs the record's stored snapshot at `point` (retried while it is being stored); the
   * reason this peer cannot, or null.
   */
  async takeFromRecord(point: RecordPoint): Promise<string | null> {
    const { replica, emit, isStopped, config, report } = this.host.ctx;
    const state = await this.host.link.snapshotAt(point, isStopped);
    if (isStopped()) return null;
    if (state === null) return `the session record holds round ${point.round} (parameters ${point.hash}); this peer is at round ${replica.round} (${replica.hash}) and no snapshot of it is stored`;
    this.host.install(state.round, state.x, state.xPrev);
    if (replica.hash !== point.hash) return `the stored snapshot of round ${point.round} hashes to ${replica.hash}, the record holds ${point.hash}`;
    emit({ type: 'resync', round: replica.round, from: 'record', hash: replica.hash });
    if (replica.round >= config.rounds) report.lastRound();
    return null;
  }

  /**
   * The session finished: a peer not at its end gets a deadline for the verdicts in flight, then
   * takes the end from the stored snapshot (its aggregator may be gone or unreachable).
   */
  private catchUpWithEnd(end: RecordPoint): void {
    const { replica, clock, config, isStopped, giveUp } = this.host.ctx;
    const there = (): boolean => replica.round === end.round && replica.hash === end.hash;
    if (there()) return;
    clock.setTimeout(() => {
      if (isStopped() || there()) return;
      void this.takeFromRecord(end).then((why) => {
        if (why !== null && !there()) giveUp('diverged', `the session finished: ${why}`);
      });
    }, config.deadlineMs);
  }

  /**
   * The last round is applied here. The peer is finished once the record says the session ended
   * with these parameters; if it ended with others, they are taken from the stored snapshot; if
   * the record never says so, or the end cannot be reached, this peer gives up (diverged).
   */
  async confirmFinish(): Promise<void> {
    const { replica, view, self, config, report, giveUp, isStopped } = this.host.ctx;
    const { link } = this.host;
    if (this.confirming) return;
    this.confirming = true;
    try {
      const r = await link.whenFinished(finishWaitMs(config.deadlineMs), isStopped);
      if (isStopped()) return;
      if (r === null || r.finished === null) {
        // a record that cannot be reached says nothing about divergence: this peer may well hold the end
        const down = link.unreachableReason();
        if (down !== null) {
          const seen = link.current().round;
          return giveUp('dropped', `this peer applied the last round (parameters ${replica.hash}), but could not confirm the end with the session record: it cannot be reached (${down})${seen > 0 ? `; the record last said round ${seen}` : ''}`);
        }
        return giveUp('diverged', `this peer applied the last round (parameters ${replica.hash}), but the session record does not say the session finished (it holds round ${link.current().round})`);
      }
      const end = r.finished;
      if (replica.round === end.round && replica.hash === end.hash) {
        // the aggregator stores the end; should it have left first, its successor does
        if (view.peers[1] === self && (r.snapshot === null || r.snapshot.round < end.round)) link.storeFinal(replica);
        return report.finish();
      }
      const why = await this.takeFromRecord(end);
      if (why !== null) giveUp('diverged', `this peer ended with parameters ${replica.hash}, the session finished with ${end.hash}: ${why}`);
      else if (!isStopped()) report.finish();
    } finally {
      this.confirming = false;
    }
  }

  /** a message from this term's aggregator arrived */
  heard(): void {
    this.heardAt = this.host.ctx.clock.now();
  }

  /**
   * Every live member is counted or told why: a worker that hears nothing from its aggregator
   * while the record shows the session going on without it emits `not-counted` ("no link to the
   * aggregator"), and after NOT_COUNTED_GIVE_UP such checks gives up (dropped).
   */
  watchSilence(): void {
    const { clock, config, view, self, replica, emit, giveUp, isStopped } = this.host.ctx;
    if (isStopped()) return;
    const quietFor = silenceMs(config.deadlineMs);
    this.silenceTimer = clock.setTimeout(() => {
      this.watchSilence();
      const aggregator: PeerId | null = view.aggregator;
      if (!view.started || aggregator === null || aggregator === self || replica.round >= config.rounds || clock.now() - this.heardAt < quietFor) {
        this.silentChecks = 0;
        return;
      }
      void this.host.link.read().then((r) => {
        if (isStopped() || r.status !== 'running' || view.aggregator !== aggregator || clock.now() - this.heardAt < quietFor) return;
        const behind = r.round - replica.round;
        if (behind <= 0) return;
        this.silentChecks++;
        const seconds = Math.round((clock.now() - this.heardAt) / 1000);
        emit({ type: 'not-counted', rounds: behind, reason: `no link to the aggregator ${aggregator} (nothing from it for ${seconds} s)` });
        if (this.silentChecks >= NOT_COUNTED_GIVE_UP) {
          giveUp('dropped', `not counted for ${behind} rounds: no link to the aggregator ${aggregator} (nothing from it for ${seconds} s; the session is at round ${r.round}, this peer at ${replica.round})`);
        }
      });
    }, quietFor);
  }

  stop(): void {
    if (this.silenceTimer !== null) this.host.ctx.clock.clearTimeout(this.silenceTimer);
    this.silenceTimer = null;
  }
}
