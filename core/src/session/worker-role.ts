import { decodeUpdate, encodeBallot } from '../optim/codec';
import { sliceBallot } from '../optim/vote-shards';
import type { Ballot, TrustedUpdate, WorkerState } from '../optim/strategy';
import type { FetchMessage, OpenMessage, VerdictMessage } from '../protocol/messages';
import { restoreRng, type Rng } from '../random';
import type { PeerId } from '../transport/transport';
import type { WorkerMemory } from './checkpoint';
import { verdictBody, type PeerContext } from './context';
import { VerdictAssembly, type AssembledVerdict, type VerdictPart } from './vote-shard';

/**
 * What every peer does in every term, the aggregator included: vote in the round its
 * aggregator opens, apply the verdicts it broadcasts, and ask for the session's state (`sync`)
 * when a verdict or an `open` does not fit its own. Also answers its aggregator's `fetch`
 * during a failover.
 *
 * One worker step at a time: the strategy's memory (momentum) must see rounds in order. A step
 * does not block message handling, so a slow peer keeps applying verdicts meanwhile and its
 * next ballot comes in time again. The ballot of a step is kept per (round, parameter hash):
 * a round re-opened in a new term (failover) gets the same ballot again, and the momentum is
 * not advanced twice.
 *
 * In a term of k > 1 vote shards (vote-shard.ts) the ballot goes out cut into k ranges, one to
 * each range's aggregator, and a round is applied once all k parts of its verdict are in.
 */

/** Per-round gradient hook: a gradient at `at` (optionally with the batch loss, for events). */
export type SessionGradient = (
  at: Float32Array,
  round: number,
) => Promise<Float32Array | { readonly grad: Float32Array; readonly loss: number }>;

/** Where the gradient's data stands (a batch sampler), saved with checkpoints. */
export interface DataPosition {
  state(): Uint8Array;
  restore(state: Uint8Array): void;
}

interface TermRound {
  readonly term: number;
  readonly round: number;
}

/** Worker steps that fail in a row before this peer gives up (`gave-up`, kind `failed`). */
const STEP_FAILURES = 3;

export class WorkerRole {
  /** the round of the current term this peer is to vote in (null until its aggregator opens one) */
  private votingIn: TermRound | null = null;
  /** the (term, round) whose ballot went out last, so a vote is sent once per term */
  private sentIn: TermRound | null = null;
  /** the ballot computed for `round` at parameters `hash`, with the mean batch loss of its step */
  private ballot: { round: number; hash: string; payload: Uint8Array; loss: number } | null = null;
  private stepping = false;
  /** worker steps that threw in a row (reset by one that completes) */
  private stepFailures = 0;
  /** the sync asked in this term, so that one disagreement asks once */
  private syncAsked: { term: number; round: number; hash: string } | null = null;
  /** rounds in a row this peer voted in and its ballot was not counted */
  private uncounted = 0;
  /** the parts of this term's verdicts (k > 1 vote shards) */
  private readonly assembly: VerdictAssembly;

  /**
   * @param coins this peer's stream for stochastic signs
   * @param memory the strategy's worker memory (momentum, residual) for this peer
   */
  constructor(
    private readonly ctx: PeerContext,
    private coins: Rng,
    readonly memory: WorkerState,
    private readonly gradient: SessionGradient,
    private readonly data: DataPosition | undefined,
  ) {
    this.assembly = new VerdictAssembly(ctx.replica.d);
  }

  /** a new term: nothing is open yet, and a sync may be asked again */
  newTerm(): void {
    this.votingIn = null;
    this.syncAsked = null;
    this.assembly.newTerm(this.ctx.view.plan);
  }

  /** the parameters were replaced (snapshot, checkpoint): a kept ballot may not be reused */
  forgetBallot(): void {
    this.ballot = null;
  }

  /** the snapshot asked for arrived */
  synced(): void {
    this.syncAsked = null;
  }

  /** this peer's mean batch loss in `round`, NaN if it computed no ballot for it */
  lossIn(round: number): number {
    return this.ballot !== null && this.ballot.round === round ? this.ballot.loss : NaN;
  }

  /** What this peer's next vote depends on besides the parameters (checkpoint `memory`). */
  memoryNow(): WorkerMemory {
    const data = this.data?.state();
    return {
      momentum: this.memory.momentum?.slice() ?? null,
      error: this.memory.error?.slice() ?? null,
      coins: this.coins.state(),
      ...(data ? { data } : {}),
    };
  }

  /** Restores a checkpoint's memory; one of another algorithm (none, or another kind) is ignored. */
  restore(saved: WorkerMemory | undefined): void {
    if (saved?.momentum && this.memory.momentum) this.memory.momentum.set(saved.momentum);
    if (saved?.error && this.memory.error) this.memory.error.set(saved.error);
    if (saved?.coins) this.coins = restoreRng(saved.coins);
    if (saved?.data && this.data) {
      try {
        this.data.restore(saved.data);
      } catch (e) {
        // the parameters and memory are restored; only the batches will differ from a run that never stopped
        this.ctx.fail('restoring the data position', e);
      }
    }
  }

  onOpen(from: PeerId, msg: OpenMessage): void {
    const { view, replica } = this.ctx;
    if (from !== view.aggregator) return this.ctx.drop('not-aggregator', from, 'open from a peer that does not lead this term');
    // an aggregator opens rounds only in a started session
    view.started = true;
    if (msg.round === replica.round && msg.hash === replica.hash) return this.vote(msg.round);
    // behind, ahead or diverged: the aggregator's state is the session's
    this.askSync(msg.round, msg.hash);
  }

  /** A verdict broadcast (or replayed) by this term's aggregator. */
  onVerdict(from: PeerId, msg: VerdictMessage): void {
    const { view, replica, config } = this.ctx;
    if (from !== view.aggregator) return this.ctx.drop('not-aggregator', from, 'verdict from a peer that does not lead this term');
    // decided in this very term: the session runs (replays of older terms prove nothing)
    if (msg.origin === view.term) view.started = true;
    const applied = applyVerdict(this.ctx, from, msg, (round, hash) => this.askSync(round, hash));
    if (applied && msg.origin === view.term) this.countedOrNot(msg);
    if (applied && replica.round < config.rounds) this.vote(replica.round);
    // the aggregator reports the end to the session record once a member holds it
    if (applied && replica.round >= config.rounds && this.ctx.record !== null) {
      this.ctx.send(from, { type: 'status', round: replica.round, hash: replica.hash, oldest: replica.oldestHeld(), started: view.started });
    }
  }

  /** Vote shard `msg.slice`'s part of a fresh verdict of this term, from that shard's aggregator. */
  onSliceVerdict(from: PeerId, msg: VerdictMessage): void {
    const { view, replica, strategy } = this.ctx;
    const j = msg.slice!;
    const plan = view.plan;
    if (j >= plan.k || plan.aggregators[j] !== from) return this.ctx.drop('not-aggregator', from, `part of vote shard ${j} from a peer that does not tally it in this term`);
    if (msg.origin !== view.term) return this.ctx.drop('stale-term', from, `part of vote shard ${j} decided in term ${msg.origin}`);
    const range = plan.ranges[j];
    let update: TrustedUpdate;
    try {
      update = decodeUpdate(msg.payload, range.end - range.start, strategy.updateKind);
    } catch (e) {
      return this.ctx.drop('bad-payload', from, `vote shard ${j}: ${e instanceof Error ? e.message : String(e)}`);
    }
    // decided in this very term: the session runs
    view.started = true;
    this.ownPart(j, { round: msg.round, origin: msg.origin, base: msg.base, counted: msg.counted, latencies: msg.latencies, agreement: msg.agreement, update }, from);
  }

  /** A part of a verdict, this peer's own tally's or one that arrived; applies what is complete. */
  ownPart(shard: number, part: VerdictPart, from = this.ctx.self): void {
    if (!this.assembly.add(shard, part, this.ctx.replica.round)) {
      if (part.round < this.ctx.replica.round) return this.ctx.drop('duplicate', from, `part of vote shard ${shard} for round ${part.round}, already applied`);
      return this.ctx.drop('unexpected', from, `part of vote shard ${shard} for round ${part.round}, this peer is at round ${this.ctx.replica.round}`);
    }
    // shard j decides round t + 1 only after applying t, and each pair's messages arrive in
    // order: its part of a later round, and none of this peer's round, means that one was lost
    const { replica } = this.ctx;
    if (part.round > replica.round && from !== this.ctx.self && !this.assembly.has(replica.round, shard)) return this.askSync(part.round, part.base);
    this.applyComplete();
  }

  /**
   * Applies the rounds whose parts are all in, in order. A complete round this peer cannot apply
   * asks for the state: another base at its round, or a later round (each shard's aggregator
   * decides round t + 1 only after applying t, and each pair's messages arrive in order, so a
   * complete later round means a part of this peer's round was lost).
   */
  private applyComplete(): void {
    const { replica } = this.ctx;
    for (;;) {
      const v = this.assembly.take(replica.round, replica.hash);
      if (v === null) break;
      if (!this.applyAssembled(v)) return;
    }
    for (const c of this.assembly.complete()) {
      if ((c.round === replica.round && c.base !== replica.hash) || c.round > replica.round) return this.askSync(c.round, c.base);
    }
  }

  private applyAssembled(v: AssembledVerdict): boolean {
    const { view, replica, config, self } = this.ctx;
    const leader = view.aggregator ?? self;
    if (!applyVerdict(this.ctx, leader, v, (round, hash) => this.askSync(round, hash), v.update)) return false;
    this.countedOrNot(v);
    if (leader === self) {
      this.ctx.assembledApplied();
      return true;
    }
    if (replica.round < config.rounds) this.vote(replica.round);
    // the aggregator reports the end to the session record once a member holds it
    if (replica.round >= config.rounds && this.ctx.record !== null) {
      this.ctx.send(leader, { type: 'status', round: replica.round, hash: replica.hash, oldest: replica.oldestHeld(), started: view.started });
    }
    return true;
  }

  /** A fresh verdict of a round this peer voted in: was its ballot counted? Says so after 3 misses in a row. */
  private countedOrNot(msg: Pick<VerdictMessage, 'round' | 'counted'>): void {
    const { view, self } = this.ctx;
    const sent = this.sentIn;
    if (sent === null || sent.term !== view.term || sent.round !== msg.round) return;
    const i = view.peers.indexOf(self);
    const counted = i >= 0 && ((msg.counted[i >> 3] ?? 0) >> (i & 7)) & 1;
    if (counted) {
      this.uncounted = 0;
      return;
    }
    this.uncounted++;
    if (this.uncounted === 3 || (this.uncounted > 3 && this.uncounted % 25 === 0)) {
      this.ctx.emit({ type: 'not-counted', rounds: this.uncounted, reason: 'its ballots reached the aggregator after the rounds closed' });
    }
  }

  /** The aggregator catching up asks for verdicts [from, to) this peer applied. */
  onFetch(from: PeerId, msg: FetchMessage): void {
    const { view, replica } = this.ctx;
    if (from !== view.aggregator) return this.ctx.drop('not-aggregator', from, 'fetch from a peer that does not lead this term');
    for (let r = msg.from; r < Math.min(msg.to, replica.round); r++) {
      const rec = replica.verdict(r);
      if (!rec) {
        this.ctx.sendSnapshot(from);
        return;
      }
      this.ctx.send(from, verdictBody(rec, true));
    }
  }

  /** Votes in `round` of the current term once this peer is at it (a no-op otherwise). */
  vote(round: number): void {
    const { replica, config, view } = this.ctx;
    if (round !== replica.round || replica.round >= config.rounds) return;
    // this peer's own tally of a vote shard opens the round before its own ballot reaches it
    this.ctx.opening(round);
    this.votingIn = { term: view.term, round };
    void this.stepLoop();
  }

  /** Asks the aggregator for its state: this peer does not hold (round, theirHash). Once per term and state. */
  private askSync(round: number, theirHash: string): void {
    const { view, self } = this.ctx;
    const aggregator = view.aggregator;
    if (aggregator === null || aggregator === self) return;
    const asked = this.syncAsked;
    if (asked && asked.term === view.term && asked.round === round && asked.hash === theirHash) return;
    this.syncAsked = { term: view.term, round, hash: theirHash };
    this.ctx.requestSnapshot(aggregator);
  }

  /** One workerStep at a time, each for the round this peer is at and still to vote in. */
  private async stepLoop(): Promise<void> {
    if (this.stepping) return;
    this.stepping = true;
    const { ctx } = this;
    const { replica, view, strategy } = ctx;
    let failure: { error: unknown } | null = null;
    try {
      while (!ctx.isStopped() && this.votingIn !== null && this.votingIn.term === view.term && this.votingIn.round === replica.round) {
        if (this.ballot !== null && this.ballot.round === replica.round && this.ballot.hash === replica.hash) {
          const before = replica.round;
          // may close the round right here when this peer leads and votes last
          this.sendBallot();
          if (replica.round === before) break;
          continue;
        }
        const round = replica.round, at = replica.hash, term = ctx.view.term;
        let lossSum = 0, lossCount = 0;
        const release = replica.hold();
        let ballot: Ballot;
        try {
          ballot = await strategy.workerStep(
            {
              x: replica.x,
              xPrev: replica.xPrev,
              round,
              rng: this.coins,
              gradient: async (point) => {
                const r = await this.gradient(point, round);
                if (r instanceof Float32Array) return r;
                lossSum += r.loss;
                lossCount++;
                return r.grad;
              },
            },
            this.memory,
          );
        } finally {
          release();
        }
        this.stepFailures = 0;
        this.ballot = { round, hash: at, payload: encodeBallot(ballot, replica.d), loss: lossCount > 0 ? lossSum / lossCount : NaN };
        if (replica.round !== round && ctx.view.term === term) this.sendLate(this.ballot);
      }
    } catch (e) {
      failure = { error: e };
    } finally {
      this.stepping = false;
    }
    // a peer that left cut its own step off: not a failure
    if (failure === null || ctx.isStopped()) return;
    // retried at once, so a lone peer (no verdict to start the next step) does not wait forever;
    // a gradient that fails three times in a row will not be computed here: leave, saying why
    const why = failure.error instanceof Error ? failure.error.message : String(failure.error);
    if (++this.stepFailures >= STEP_FAILURES) return ctx.giveUp('failed', `its worker step failed ${STEP_FAILURES} times in a row: ${why}`);
    ctx.fail('worker step', failure.error);
    void this.stepLoop();
  }

  private sendBallot(): void {
    const { view } = this.ctx;
    const votingIn = this.votingIn, ballot = this.ballot;
    if (votingIn === null || ballot === null || view.aggregator === null) return;
    if (this.sentIn !== null && this.sentIn.term === votingIn.term && this.sentIn.round === votingIn.round) return;
    this.sentIn = votingIn;
    this.deliver(ballot, true);
  }

  /**
   * A step that finished after its round closed: its ballot still goes out, to be dropped as
   * `stale-round`, because a ballot is what tells an aggregator that stopped waiting for this
   * peer (two deadlines missed) to wait for it again. Without it a peer back from a stall, or
   * one whose first step was slow, stays one round late for good wherever rounds are quicker
   * than its step: it applies every verdict and never votes again. This peer's own tally never
   * stopped waiting for it, so it is not given its own part.
   */
  private sendLate(ballot: { readonly round: number; readonly hash: string; readonly payload: Uint8Array }): void {
    if (this.ctx.view.aggregator !== null) this.deliver(ballot, false);
  }

  /** The ballot to the term's aggregator, or its slices to the k range aggregators (`own`: also to this peer's own tally). */
  private deliver(ballot: { readonly round: number; readonly hash: string; readonly payload: Uint8Array }, own: boolean): void {
    const { view, self } = this.ctx;
    const plan = view.plan;
    if (plan.k > 1) {
      // the other shards' slices first: taking its own may close a round and move this peer on
      const { strategy, replica } = this.ctx;
      const slices = plan.ranges.map((r) => sliceBallot(ballot.payload, strategy.ballotKind, replica.d, r));
      plan.aggregators.forEach((p, j) => {
        if (p !== self) this.ctx.send(p, { type: 'ballot', round: ballot.round, hash: ballot.hash, payload: slices[j], slice: j });
      });
      const mine = plan.aggregators.indexOf(self);
      if (own && mine >= 0) this.ctx.acceptOwnSlice(mine, ballot.round, ballot.hash, slices[mine]);
      return;
    }
    if (view.aggregator === self) {
      if (own) this.ctx.acceptOwnBallot(ballot.round, ballot.hash, ballot.payload);
    } else if (view.aggregator !== null) {
      this.ctx.send(view.aggregator, { type: 'ballot', round: ballot.round, hash: ballot.hash, payload: ballot.payload });
    }
  }
}

/**
 * Applies a verdict that came from the term's aggregator (or, to an aggregator catching up,
 * from its source): only when this peer is at its round with the parameters it applies to;
 * an older round is a duplicate, anything else calls `resync(round, hash)` with the state this
 * peer lacks. A replay carries its result's hash: a different result here means a damaged
 * buffer, and resyncs too. Returns whether the verdict was applied and its result agrees.
 * `decoded`: the update of `msg.payload`, already checked (a verdict assembled from vote shards).
 */
export function applyVerdict(
  ctx: PeerContext,
  from: PeerId,
  msg: Pick<VerdictMessage, 'round' | 'origin' | 'base' | 'hash' | 'counted' | 'payload' | 'latencies' | 'agreement'>,
  resync: (round: number, hash: string) => void,
  decoded?: TrustedUpdate,
): boolean {
  const { replica, strategy } = ctx;
  if (msg.round < replica.round) {
    ctx.drop('duplicate', from, `verdict ${msg.round} already applied`);
    return false;
  }
  if (msg.round > replica.round || msg.base !== replica.hash) {
    resync(msg.round, msg.base);
    ctx.drop('hash-mismatch', from, `verdict ${msg.round} on ${msg.base}, this peer is at round ${replica.round} with ${replica.hash}`);
    return false;
  }
  let update: TrustedUpdate;
  try {
    // an assembled verdict (vote shards) comes decoded: its parts were checked as they arrived
    update = decoded ?? decodeUpdate(msg.payload, replica.d, strategy.updateKind);
  } catch (e) {
    ctx.drop('bad-payload', from, e instanceof Error ? e.message : String(e));
    return false;
  }
  const rec = replica.apply(
    {
      round: msg.round,
      decidedInTerm: msg.origin,
      hashBefore: msg.base,
      counted: msg.counted,
      payload: msg.payload,
      ...(msg.latencies !== undefined ? { latencies: msg.latencies } : {}),
      ...(msg.agreement !== undefined ? { agreement: msg.agreement } : {}),
    },
    update,
  );
  // applied the same update to the same hash and got different bits: our buffer was damaged
  const diverged = msg.hash !== undefined && replica.hash !== msg.hash;
  if (diverged) resync(replica.round, msg.hash!);
  ctx.roundApplied(rec);
  return !diverged;
}
