import { createProgressMeter, lowAgreement, type ProgressMeter } from '@signvote/core';
import type { Backend, PeerInfo, PeerState, Role, TalliedRange, ViewMessage, VoteSplit } from './peer-messages';

/**
 * Everything the session view shows, folded from the worker's messages. It lives outside React
 * (the chart series grow by one point a round; copying them into immutable state each round
 * would be quadratic), and React reads immutable snapshots through `subscribe`/`getSnapshot`.
 */

export interface Series {
  readonly round: number[];
  readonly loss: (number | null)[];
  readonly accuracy: (number | null)[];
  readonly testLoss: (number | null)[];
  /** null: a point seeded from the session's history, before this tab's first round */
  readonly ms: (number | null)[];
  readonly bytesUp: (number | null)[];
  readonly bytesDown: (number | null)[];
}

export interface WeightsFrame {
  readonly round: number;
  readonly units: number;
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

export type PeerRow = PeerInfo & {
  readonly role: Role;
  readonly self: boolean;
  /** with k > 1 vote shards: the range it tallies (member j of the term, j < k, tallies range j) */
  readonly voteShard?: { readonly index: number; readonly of: number };
  /** its vote agreement is far below the rest (lowAgreement in core/src/optim/agreement.ts) */
  readonly lowAgreement?: true;
};

export interface SessionSnapshot {
  readonly state: PeerState;
  readonly detail: string | null;
  readonly peerId: string | null;
  readonly backend: Backend | null;
  /** why this tab got its backend, in a sentence */
  readonly backendReason: string | null;
  readonly d: number | null;
  readonly totalRounds: number | null;
  readonly expectedPeers: number | null;
  /** rounds per second over the last rounds this tab applied; null until known */
  readonly rate: number | null;
  /** ms until the last round at that rate; null until known */
  readonly etaMs: number | null;
  readonly algorithm: string | null;
  readonly model: string | null;
  readonly term: number;
  readonly aggregator: string | null;
  readonly role: Role | null;
  /** the current term's members in join order (empty until a term names them) */
  readonly termPeers: readonly string[];
  /** how the current term splits the vote (null until known), and the range this tab tallies in it */
  readonly split: VoteSplit | null;
  readonly voteShard: TalliedRange | null;
  /** last applied round (0-based), -1 before the first */
  readonly round: number;
  readonly hash: string | null;
  readonly loss: number | null;
  readonly accuracy: number | null;
  /** the round `accuracy` was measured after */
  readonly accuracyRound: number;
  /** the round at which this tab saw the aggregator change, and when (ms), for the notice */
  readonly aggregatorChangedAt: number | null;
  readonly aggregatorChangedTime: number | null;
  readonly previousAggregator: string | null;
  /** the latest round in which this tab voted but its ballot was not counted (late), and when */
  readonly notCounted: { readonly round: number; readonly at: number } | null;
  readonly peers: readonly PeerRow[];
  readonly weights: WeightsFrame | null;
  /** bumps whenever `series` grows, so charts know to redraw */
  readonly seriesVersion: number;
  readonly log: readonly string[];
}

const initial: SessionSnapshot = {
  state: 'idle',
  detail: null,
  peerId: null,
  backend: null,
  backendReason: null,
  d: null,
  totalRounds: null,
  expectedPeers: null,
  rate: null,
  etaMs: null,
  algorithm: null,
  model: null,
  term: -1,
  aggregator: null,
  role: null,
  termPeers: [],
  split: null,
  voteShard: null,
  round: -1,
  hash: null,
  loss: null,
  accuracy: null,
  accuracyRound: -1,
  aggregatorChangedAt: null,
  aggregatorChangedTime: null,
  previousAggregator: null,
  notCounted: null,
  peers: [],
  weights: null,
  seriesVersion: 0,
  log: [],
};

const maxLog = 50;

export class SessionModel {
  private snap: SessionSnapshot = initial;
  private readonly listeners = new Set<() => void>();
  private others: readonly PeerInfo[] = [];
  /** per peer: rounds (seen by this tab) whose verdict counted its ballot */
  private readonly voted = new Map<string, number>();
  /** per peer: its ballot latency in the latest round this tab knows it for */
  private readonly latency = new Map<string, { readonly round: number; readonly ms: number }>();
  /** per peer: its moving-average vote agreement in the latest round this tab knows it for */
  private readonly agreement = new Map<string, { readonly round: number; readonly share: number }>();
  private roundsSeen = 0;
  /** this tab's own gradient time, shown until a verdict reports its latency */
  private selfLatency: number | undefined;
  /** the round this tab last computed a ballot for (ballots precede their round's verdict) */
  private ballotRound = -1;
  private readonly pace: ProgressMeter = createProgressMeter();
  /** rounds whose point came from the session's history; this tab's own verdict fills them in */
  private readonly seeded = new Set<number>();
  readonly series: Series = { round: [], loss: [], accuracy: [], testLoss: [], ms: [], bytesUp: [], bytesDown: [] };

  /** `now`: ms on any forward-moving clock, for the pace and how long notices stay */
  constructor(private readonly now: () => number = () => Date.now()) {}

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): SessionSnapshot => this.snap;

  /** Fold one message in. Stale messages leave the view unchanged. */
  apply(msg: ViewMessage): void {
    const s = this.snap;
    switch (msg.type) {
      case 'state':
        // a finished or departed peer stays so; late messages from a closing peer must not revive it
        if ((s.state === 'finished' || s.state === 'left') && msg.state !== 'error' && msg.state !== 'connecting') return;
        // an evaluation can land after the last round; it must not turn 'finished' back
        // a peer that stopped (left, or lost its server) is in no session: the others it knew are gone from its view
        if (msg.state === 'left' || msg.state === 'error') this.others = [];
        this.set({ state: msg.state, detail: msg.detail ?? null });
        break;
      case 'backend':
        this.set({ backend: msg.backend, backendReason: msg.reason });
        break;
      case 'ready':
        this.set({
          peerId: msg.peerId,
          backend: msg.backend,
          d: msg.d,
          totalRounds: msg.rounds,
          expectedPeers: msg.expectedPeers,
          algorithm: msg.algorithm,
          model: msg.model,
        });
        break;
      case 'peers':
        // a stopped peer's last membership news arrives after it stopped: it is in no session
        if (s.state === 'left' || s.state === 'error') return;
        this.others = msg.peers;
        this.set({});
        break;
      case 'term':
        this.set(this.withTerm(msg));
        break;
      case 'ballot':
        this.selfLatency = msg.latencyMs;
        // the ballot is for the round after the last one applied here
        this.ballotRound = s.round + 1;
        this.set({});
        break;
      case 'round':
        this.round(msg);
        break;
      case 'evaluation':
        this.evaluation(msg);
        break;
      case 'weights':
        this.set({ weights: { round: msg.round, units: msg.units, width: msg.width, height: msg.height, data: msg.data } });
        break;
      case 'log':
        this.set({ log: [...s.log, msg.message].slice(-maxLog) });
        break;
    }
  }

  /**
   * Seed the charts with the session's evaluations from before this tab joined (GET
   * /api/sessions/<id>/history), so a late joiner's charts start at round 0. Only points before
   * this tab's first plotted round are taken; later ones arrive live. Round order is kept.
   */
  seedHistory(evals: readonly { readonly round: number; readonly loss: number | null; readonly accuracy: number }[]): void {
    const x = this.series;
    const first = x.round.find((r) => !this.seeded.has(r)) ?? Infinity;
    const before = evals.filter((e) => e.round < first && !this.seeded.has(e.round)).sort((a, b) => a.round - b.round);
    if (before.length === 0) return;
    // seeds from an earlier call stay in place: insert each in round order
    for (const e of before) {
      let at = 0;
      while (at < x.round.length && x.round[at] < e.round) at++;
      x.round.splice(at, 0, e.round);
      x.loss.splice(at, 0, null);
      x.accuracy.splice(at, 0, e.accuracy);
      x.testLoss.splice(at, 0, e.loss);
      x.ms.splice(at, 0, null);
      x.bytesUp.splice(at, 0, null);
      x.bytesDown.splice(at, 0, null);
      this.seeded.add(e.round);
    }
    const s = this.snap;
    const newest = before[before.length - 1];
    this.set({
      ...(newest.round > s.accuracyRound ? { accuracy: newest.accuracy, accuracyRound: newest.round } : {}),
      seriesVersion: s.seriesVersion + 1,
    });
  }

  private round(msg: Extract<ViewMessage, { type: 'round' }>): void {
    const s = this.snap;
    const x = this.series;
    // evaluation rounds are reported once the evaluation is done, possibly after later rounds:
    // such a point goes in its place and does not move the latest values back
    let at = x.round.length;
    while (at > 0 && x.round[at - 1] >= msg.round) at--;
    const fillsSeed = x.round[at] === msg.round && this.seeded.delete(msg.round);
    if (x.round[at] === msg.round && !fillsSeed) return; // a replayed verdict is applied (and plotted) once
    this.count(msg);
    if (fillsSeed) {
      // the history's evaluation stays; this tab's verdict adds the rest
      x.loss[at] = msg.loss;
      x.ms[at] = msg.ms;
      x.bytesUp[at] = msg.bytesUp;
      x.bytesDown[at] = msg.bytesDown;
    } else {
      x.round.splice(at, 0, msg.round);
      x.loss.splice(at, 0, msg.loss);
      x.accuracy.splice(at, 0, null);
      x.testLoss.splice(at, 0, null);
      x.ms.splice(at, 0, msg.ms);
      x.bytesUp.splice(at, 0, msg.bytesUp);
      x.bytesDown.splice(at, 0, msg.bytesDown);
    }
    const latest = msg.round > s.round;
    const stillRunning = s.state === 'finished' || s.state === 'paused' || s.state === 'left' || s.state === 'error' ? s.state : 'training';
    const now = this.now();
    this.pace.applied(msg.round, now);
    // this tab voted in the round, a verdict that names its voters leaves it out: it was late
    const missed = msg.round === this.ballotRound && !msg.mine && (msg.voters?.length ?? 0) > 0 && s.state === 'training';
    this.set({
      rate: this.pace.rate(),
      etaMs: s.totalRounds === null ? null : this.pace.etaMs(s.totalRounds),
      ...(missed ? { notCounted: { round: msg.round, at: now } } : {}),
      ...(latest
        ? {
            ...this.withTerm({ term: msg.term, aggregator: msg.aggregator, split: msg.split, voteShard: msg.voteShard }),
            round: msg.round,
            role: msg.role,
            hash: msg.hash,
            // the waiting count is over once rounds run; why a peer stopped stays
            detail: stillRunning === 'error' ? s.detail : null,
          }
        : {}),
      state: stillRunning,
      loss: latest && msg.loss !== null ? msg.loss : s.loss,
      seriesVersion: s.seriesVersion + 1,
    });
  }

  /** an evaluation lands on its round's point (plotted once that round is) and, if newest, in the facts */
  private evaluation(msg: Extract<ViewMessage, { type: 'evaluation' }>): void {
    const s = this.snap;
    const x = this.series;
    const i = x.round.lastIndexOf(msg.round);
    if (i >= 0) {
      x.accuracy[i] = msg.accuracy;
      x.testLoss[i] = msg.loss;
    }
    const newest = msg.round >= s.accuracyRound;
    this.set({
      accuracy: newest ? msg.accuracy : s.accuracy,
      accuracyRound: newest ? msg.round : s.accuracyRound,
      seriesVersion: s.seriesVersion + 1,
    });
  }

  /** who voted, and how late, in one newly applied round */
  private count(msg: Extract<ViewMessage, { type: 'round' }>): void {
    this.roundsSeen += 1;
    const voters = msg.voters ?? [];
    // a verdict of a term this tab never saw names nobody; "mine" still says whether we voted
    const counted = voters.length > 0 ? voters : msg.mine && this.snap.peerId !== null ? [this.snap.peerId] : [];
    for (const id of counted) this.voted.set(id, (this.voted.get(id) ?? 0) + 1);
    for (const [id, ms] of Object.entries(msg.latencies ?? {})) {
      // an evaluation round can be reported after later rounds: keep the newest latency
      const known = this.latency.get(id);
      if (known === undefined || known.round < msg.round) this.latency.set(id, { round: msg.round, ms });
    }
    for (const [id, share] of Object.entries(msg.agreement ?? {})) {
      const known = this.agreement.get(id);
      if (known === undefined || known.round < msg.round) this.agreement.set(id, { round: msg.round, share });
    }
  }

  private statsOf(id: string, self: boolean): { voted?: number; latencyMs?: number; agreement?: number } {
    const voted = this.voted.get(id) ?? (this.roundsSeen > 0 ? 0 : undefined);
    const latencyMs = this.latency.get(id)?.ms ?? (self ? this.selfLatency : undefined);
    const agreement = this.agreement.get(id)?.share;
    return { ...(voted !== undefined ? { voted } : {}), ...(latencyMs !== undefined ? { latencyMs } : {}), ...(agreement !== undefined ? { agreement } : {}) };
  }

  /** term bookkeeping shared by every message that names the aggregator (and the split, when it does) */
  private withTerm(next: {
    term: number;
    aggregator: string | null;
    peers?: readonly string[];
    split?: VoteSplit;
    voteShard?: TalliedRange | null;
  }): Partial<SessionSnapshot> {
    const s = this.snap;
    if (next.term < s.term) return {};
    const changed = s.aggregator !== null && next.aggregator !== null && next.aggregator !== s.aggregator;
    // a new term's members and split replace the old; a message of the same term that omits them keeps them
    const fresh = next.term > s.term;
    return {
      term: next.term,
      termPeers: next.peers ?? (fresh ? [] : s.termPeers),
      split: next.split ?? (fresh ? null : s.split),
      voteShard: next.voteShard !== undefined ? next.voteShard : fresh ? null : s.voteShard,
      aggregator: next.aggregator ?? s.aggregator,
      role: next.aggregator !== null && s.peerId !== null ? (next.aggregator === s.peerId ? 'aggregator' : 'worker') : s.role,
      ...(changed ? { aggregatorChangedAt: Math.max(s.round, 0), aggregatorChangedTime: this.now(), previousAggregator: s.aggregator } : {}),
    };
  }

  private set(patch: Partial<SessionSnapshot>): void {
    const merged = { ...this.snap, ...patch };
    merged.peers = this.rows(merged);
    this.snap = merged;
    for (const l of this.listeners) l();
  }

  private rows(s: SessionSnapshot): PeerRow[] {
    const rows = new Map<string, PeerRow>();
    for (const p of this.others) {
      rows.set(p.id, { ...p, ...this.statsOf(p.id, false), role: p.id === s.aggregator ? 'aggregator' : 'worker', self: p.id === s.peerId, ...rangeOf(s, p.id) });
    }
    if (s.peerId !== null) {
      const known = rows.get(s.peerId);
      rows.set(s.peerId, {
        ...known,
        id: s.peerId,
        backend: s.backend ?? known?.backend,
        voted: 0,
        ...this.statsOf(s.peerId, true),
        role: s.peerId === s.aggregator ? 'aggregator' : 'worker',
        self: true,
        ...rangeOf(s, s.peerId),
      });
    }
    const scores: Record<string, number> = {};
    for (const r of rows.values()) if (r.agreement !== undefined) scores[r.id] = r.agreement;
    for (const id of lowAgreement(scores)) rows.set(id, { ...rows.get(id)!, lowAgreement: true });
    return [...rows.values()];
  }
}

/** `{ voteShard }` of a peer that tallies a range of a split vote (k > 1), else nothing. */
function rangeOf(s: SessionSnapshot, id: string): { voteShard?: { index: number; of: number } } {
  const k = s.split?.k ?? 1;
  if (k <= 1) return {};
  // this tab's own range as its session reported it; the others' by their place in the term
  if (id === s.peerId && s.voteShard !== null) return { voteShard: { index: s.voteShard.index, of: s.voteShard.of } };
  const index = s.termPeers.indexOf(id);
  return index >= 0 && index < k ? { voteShard: { index, of: k } } : {};
}
