import { agreementByte, agreementOf, shareOfByte } from '../optim/agreement';
import { decodeBallot, encodeUpdate } from '../optim/codec';
import type { TrustedBallot, TrustedUpdate } from '../optim/strategy';
import { effectiveVoteShards, joinUpdates, voteShardRanges, type VoteShardRange } from '../optim/vote-shards';
import type { PeerId } from '../transport/transport';
import type { PeerContext } from './context';
import type { TalliedRange, VoteSplit } from './events';

/**
 * Vote shards in a term (docs/session.md, "Vote shards"): who tallies which range of the
 * coordinates, the tally of one range, and the assembly of the ranges' verdicts into the round's
 * verdict. With k = 1 none of this runs: the term's aggregator tallies whole ballots as always.
 *
 *   plan       k = min(voteShards, members, ceil(d/8)); range j is tallied by member j (join
 *              order), so the term's aggregator (member 0) tallies range 0 and keeps every duty
 *              of the term (gather, catch-up, snapshots, reports, stall rule);
 *   tally      one range of one round at one parameter hash: the rule of the whole vote (every
 *              live member, or the deadline with at least one ballot; members that let two
 *              deadlines pass are not waited for), then its part of the verdict is broadcast;
 *   assembly   every peer applies round t once it holds all k parts with one base hash, as one
 *              verdict (its log and replays hold whole verdicts, as with k = 1).
 *
 * A member that dies ends the term (the membership authority publishes a new epoch); the next
 * term plans anew and decides the open round again from the same cached ballots.
 */

/** A deadline this many times in a row without a ballot: not waited for until it votes again. */
const STALL_AFTER = 2;

export interface VoteShardPlan {
  readonly k: number;
  readonly ranges: readonly VoteShardRange[];
  /** the aggregator of each range: members[j] of the term */
  readonly aggregators: readonly PeerId[];
  /** k, what was asked (config.voteShards) and what held k below it, as events report it */
  readonly split: VoteSplit;
}

/** The term's vote shards; k = 1 (everything with the first member) when the term has no members. */
export function planVoteShards(voteShards: number, members: readonly PeerId[], d: number): VoteShardPlan {
  const k = members.length === 0 ? 1 : effectiveVoteShards(voteShards, members.length, d);
  const limit = k >= voteShards ? null : members.length <= Math.ceil(d / 8) ? 'members' : 'coordinates';
  return { k, ranges: voteShardRanges(d, k), aggregators: members.slice(0, k), split: { k, asked: voteShards, limit } };
}

/** The range `peer` tallies under `plan` (member j < k tallies range j), or null. */
export function talliedBy(plan: VoteShardPlan, peer: PeerId): TalliedRange | null {
  const index = plan.aggregators.indexOf(peer);
  if (index < 0) return null;
  const { start, end } = plan.ranges[index];
  return { index, of: plan.k, start, end };
}

/** One range's part of a fresh verdict, as its aggregator broadcast it (decoded). */
export interface VerdictPart {
  readonly round: number;
  readonly origin: number;
  readonly base: string;
  readonly counted: Uint8Array;
  readonly latencies?: readonly number[];
  readonly agreement?: Uint8Array;
  readonly update: TrustedUpdate;
}

/** Hooks by which the term's aggregator (range 0) adds its duties to a tally; none for the others. */
export interface TallyHooks {
  /** a ballot at another hash for the open round: handled (snapshot) or kept for a reopening */
  mismatch?(from: PeerId, detail: string): boolean;
  /** a ballot counted: its voter holds the round's state */
  accepted?(from: PeerId, round: number, hash: string): void;
  /** a member not waited for (being resynced) */
  skip?(p: PeerId): boolean;
}

interface Pending {
  readonly round: number;
  readonly hash: string;
  readonly payload: Uint8Array;
}

/**
 * The tally of vote shard `shard` on this peer, its aggregator, for one term. A ballot that does
 * not fit the open round yet (a later round: its voter got every part of the round before this
 * peer did; another hash: this peer is being resynced) is kept, one per member, and counted when
 * this peer opens that round.
 */
export class ShardTally {
  private round = -1;
  private hash = '';
  private closed = true;
  private openedAt = 0;
  private ballots = new Map<PeerId, TrustedBallot>();
  private arrivals = new Map<PeerId, number>();
  private readonly pending = new Map<PeerId, Pending>();
  private readonly missed = new Map<PeerId, number>();
  private timer: unknown = null;

  constructor(
    private readonly ctx: PeerContext,
    readonly shard: number,
    private readonly range: VoteShardRange,
    private readonly decided: (part: VerdictPart) => void,
    private readonly hooks: TallyHooks = {},
  ) {}

  get length(): number {
    return this.range.end - this.range.start;
  }

  /**
   * Opens `round` at this peer's parameters (a no-op when it is open or decided already). Only
   * in a started session, unless `started` says so (the term's aggregator opens only then).
   */
  open(round: number, started = this.ctx.view.started): void {
    const { replica, config, clock } = this.ctx;
    if (!started || round !== replica.round || round >= config.rounds) return;
    if (round === this.round && replica.hash === this.hash) return;
    this.round = round;
    this.hash = replica.hash;
    this.closed = false;
    this.openedAt = clock.now();
    this.ballots = new Map();
    this.arrivals = new Map();
    this.armDeadline();
    for (const [p, b] of [...this.pending]) {
      if (b.round > round) continue;
      this.pending.delete(p);
      if (b.round === round) this.accept(p, b.round, b.hash, b.payload);
    }
  }

  accept(from: PeerId, round: number, hash: string, payload: Uint8Array): void {
    const { strategy, clock } = this.ctx;
    // alive, even if too late for this round: wait for it again
    this.missed.delete(from);
    const open = !this.closed && round === this.round;
    if (open && hash !== this.hash) {
      // another state: the term's aggregator resyncs the voter; another tally keeps the ballot,
      // in case it is this peer that is being resynced to that state
      if (this.hooks.mismatch?.(from, `ballot at parameters ${hash}, round ${round} is at ${this.hash}`)) return this.closeIfAllVoted();
      this.pending.set(from, { round, hash, payload });
      return;
    }
    if (round > this.round || (round === this.round && hash !== this.hash)) {
      this.pending.set(from, { round, hash, payload });
      return;
    }
    if (!open) return this.ctx.drop('stale-round', from, `ballot for round ${round} of vote shard ${this.shard}, open round is ${this.closed ? -1 : this.round}`);
    if (this.ballots.has(from)) return this.ctx.drop('duplicate', from, `second ballot for round ${round} of vote shard ${this.shard}`);
    let ballot: TrustedBallot;
    try {
      ballot = decodeBallot(payload, this.length, strategy.ballotKind);
    } catch (e) {
      return this.ctx.drop('bad-payload', from, `vote shard ${this.shard}: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.ballots.set(from, ballot);
    this.arrivals.set(from, Math.min(0xffffffff, Math.max(0, Math.round(clock.now() - this.openedAt))));
    this.hooks.accepted?.(from, round, hash);
    this.closeIfAllVoted();
  }

  /** Every member voted, or is not waited for: the round closes now. */
  closeIfAllVoted(): void {
    if (this.closed || this.round < 0) return;
    for (const p of this.ctx.view.peers) {
      if (!this.ballots.has(p) && !this.hooks.skip?.(p) && (this.missed.get(p) ?? 0) < STALL_AFTER) return;
    }
    if (this.ballots.size > 0) this.close();
  }

  dispose(): void {
    this.clearTimer();
    this.closed = true;
  }

  private armDeadline(): void {
    const { config, clock, view, self } = this.ctx;
    this.clearTimer();
    const round = this.round, hash = this.hash;
    this.timer = clock.setTimeout(() => {
      this.timer = null;
      if (this.closed || this.round !== round || this.hash !== hash) return;
      // nothing arrived at all: keep waiting rather than decide an empty part
      if (this.ballots.size === 0) return this.armDeadline();
      for (const p of view.peers) {
        if (p !== self && !this.ballots.has(p) && !this.hooks.skip?.(p)) this.missed.set(p, (this.missed.get(p) ?? 0) + 1);
      }
      this.ctx.guard(`closing round ${round} of vote shard ${this.shard}`, () => this.close());
    }, config.deadlineMs);
  }

  private close(): void {
    const { view, strategy } = this.ctx;
    this.clearTimer();
    this.closed = true;
    const peers = view.peers;
    // join order, so the tally (and a float mean) does not depend on arrival order
    const voters = peers.filter((p) => this.ballots.has(p));
    const absent = peers.filter((p) => !this.ballots.has(p));
    const ballots = voters.map((p) => this.ballots.get(p)!);
    const n = this.length;
    const update = strategy.aggregate({ ballots, voters, absent }, n, this.round, this.range.start);
    const counted = new Uint8Array(Math.ceil(peers.length / 8));
    peers.forEach((p, i) => {
      if (this.ballots.has(p)) counted[i >> 3] |= 1 << (i & 7);
    });
    const latencies = voters.map((p) => this.arrivals.get(p) ?? 0);
    const agreement = Uint8Array.from(ballots, (b) => agreementByte(agreementOf(b, update, n)));
    const part: VerdictPart = { round: this.round, origin: view.term, base: this.hash, counted, latencies, agreement, update };
    this.ctx.broadcast({
      type: 'verdict', round: part.round, origin: part.origin, base: part.base, counted, payload: encodeUpdate(update, n), latencies, agreement, slice: this.shard,
    });
    this.decided(part);
  }

  private clearTimer(): void {
    if (this.timer !== null) this.ctx.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}

/** A round's verdict assembled from its k parts: what a whole verdict message carries, decoded. */
export interface AssembledVerdict {
  readonly round: number;
  readonly origin: number;
  readonly base: string;
  readonly counted: Uint8Array;
  readonly latencies: readonly number[];
  readonly agreement: Uint8Array;
  readonly payload: Uint8Array;
  readonly update: TrustedUpdate;
}

/** rounds ahead of this peer whose parts are kept */
const KEEP_AHEAD = 8;

/**
 * Collects the parts of the current term's rounds, per (round, base hash), and joins a complete
 * set. Voters: a member counted in any part; its latency the longest of its parts; its agreement
 * the coordinate-weighted mean of its parts' (docs/session.md, "Vote agreement").
 */
export class VerdictAssembly {
  private parts = new Map<string, (VerdictPart | undefined)[]>();
  private plan: VoteShardPlan | null = null;

  constructor(private readonly d: number) {}

  newTerm(plan: VoteShardPlan): void {
    this.plan = plan;
    this.parts.clear();
  }

  /** Adds a part; returns false when it is not one this term expects (the caller drops it). */
  add(shard: number, part: VerdictPart, now: number): boolean {
    const plan = this.plan;
    if (plan === null || shard >= plan.k || part.round < now || part.round >= now + KEEP_AHEAD) return false;
    for (const k of [...this.parts.keys()]) if (Number(k.split('/')[0]) < now) this.parts.delete(k);
    const key = `${part.round}/${part.base}`;
    let set = this.parts.get(key);
    if (set === undefined) this.parts.set(key, (set = new Array<VerdictPart | undefined>(plan.k)));
    set[shard] = part;
    return true;
  }

  /** The complete verdict of `round` on `base`, if every part is in (taken out). */
  take(round: number, base: string): AssembledVerdict | null {
    const key = `${round}/${base}`;
    const set = this.parts.get(key);
    const plan = this.plan;
    if (set === undefined || plan === null) return null;
    for (let j = 0; j < plan.k; j++) if (set[j] === undefined) return null;
    this.parts.delete(key);
    for (const k of [...this.parts.keys()]) if (Number(k.split('/')[0]) <= round) this.parts.delete(k);
    return this.join(set as VerdictPart[], plan);
  }

  /** whether shard `shard`'s part of `round` (on any base) is held */
  has(round: number, shard: number): boolean {
    for (const [key, set] of this.parts) if (set[shard] !== undefined && key.startsWith(`${round}/`)) return true;
    return false;
  }

  /** The (round, base) of every complete set of parts still held. */
  complete(): { round: number; base: string }[] {
    const plan = this.plan;
    if (plan === null) return [];
    const out: { round: number; base: string }[] = [];
    for (const [key, set] of this.parts) {
      const at = key.indexOf('/');
      if (set.filter((p) => p !== undefined).length === plan.k) out.push({ round: Number(key.slice(0, at)), base: key.slice(at + 1) });
    }
    return out;
  }

  private join(set: readonly VerdictPart[], plan: VoteShardPlan): AssembledVerdict {
    const { d } = this;
    const update = joinUpdates(set.map((p) => p.update), plan.ranges, d);
    const bytes = Math.max(...set.map((p) => p.counted.length));
    const counted = new Uint8Array(bytes);
    for (const p of set) p.counted.forEach((b, i) => (counted[i] |= b));
    const latencies: number[] = [];
    const agreement: number[] = [];
    for (let i = 0; i < bytes * 8; i++) {
      if (((counted[i >> 3] >> (i & 7)) & 1) === 0) continue;
      let latency = 0, weight = 0, share = 0;
      set.forEach((p, j) => {
        const at = indexAmongCounted(p.counted, i);
        if (at < 0) return;
        latency = Math.max(latency, p.latencies?.[at] ?? 0);
        const a = p.agreement?.[at];
        if (a === undefined) return;
        const n = plan.ranges[j].end - plan.ranges[j].start;
        weight += n;
        share += n * shareOfByte(a);
      });
      latencies.push(latency);
      agreement.push(weight > 0 ? agreementByte(share / weight) : agreementByte(0.5));
    }
    const first = set[0];
    return {
      round: first.round, origin: first.origin, base: first.base, counted, latencies, agreement: Uint8Array.from(agreement),
      payload: encodeUpdate(update, d), update,
    };
  }
}

/** The position of member i among the set bits of `counted`, -1 if its bit is not set. */
function indexAmongCounted(counted: Uint8Array, i: number): number {
  if (((counted[i >> 3] ?? 0) >> (i & 7)) & 1) {
    let at = 0;
    for (let j = 0; j < i; j++) at += ((counted[j >> 3] ?? 0) >> (j & 7)) & 1;
    return at;
  }
  return -1;
}
