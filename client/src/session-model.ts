import { lowAgreement } from '@signvote/core';
import type { Backend, PeerInfo, PeerState, Role, ViewMessage } from './peer-messages';

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
  readonly ms: number[];
  readonly bytesUp: number[];
  readonly bytesDown: number[];
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
  /** its vote agreement is far below the rest (lowAgreement in core/src/optim/agreement.ts) */
  readonly lowAgreement?: true;
};

export interface SessionSnapshot {
  readonly state: PeerState;
  readonly detail: string | null;
  readonly peerId: string | null;
  readonly backend: Backend | null;
  readonly d: number | null;
  readonly totalRounds: number | null;
  readonly algorithm: string | null;
  readonly model: string | null;
  readonly term: number;
  readonly aggregator: string | null;
  readonly role: Role | null;
  /** last applied round (0-based), -1 before the first */
  readonly round: number;
  readonly hash: string | null;
  readonly loss: number | null;
  readonly accuracy: number | null;
  /** the round `accuracy` was measured after */
  readonly accuracyRound: number;
  /** the round at which this tab saw the aggregator change, for the banner */
  readonly aggregatorChangedAt: number | null;
  readonly previousAggregator: string | null;
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
  d: null,
  totalRounds: null,
  algorithm: null,
  model: null,
  term: -1,
  aggregator: null,
  role: null,
  round: -1,
  hash: null,
  loss: null,
  accuracy: null,
  accuracyRound: -1,
  aggregatorChangedAt: null,
  previousAggregator: null,
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
  readonly series: Series = { round: [], loss: [], accuracy: [], testLoss: [], ms: [], bytesUp: [], bytesDown: [] };

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
        this.set({ state: msg.state, detail: msg.detail ?? null });
        break;
      case 'ready':
        this.set({
          peerId: msg.peerId,
          backend: msg.backend,
          d: msg.d,
          totalRounds: msg.rounds,
          algorithm: msg.algorithm,
          model: msg.model,
        });
        break;
      case 'peers':
        this.others = msg.peers;
        this.set({});
        break;
      case 'term':
        this.set(this.withTerm({ term: msg.term, aggregator: msg.aggregator }));
        break;
      case 'ballot':
        this.selfLatency = msg.latencyMs;
        this.set({});
        break;
      case 'round':
        this.round(msg);
        break;
      case 'weights':
        this.set({ weights: { round: msg.round, units: msg.units, width: msg.width, height: msg.height, data: msg.data } });
        break;
      case 'log':
        this.set({ log: [...s.log, msg.message].slice(-maxLog) });
        break;
    }
  }

  private round(msg: Extract<ViewMessage, { type: 'round' }>): void {
    const s = this.snap;
    const x = this.series;
    // evaluation rounds are reported once the evaluation is done, possibly after later rounds:
    // such a point goes in its place and does not move the latest values back
    let at = x.round.length;
    while (at > 0 && x.round[at - 1] >= msg.round) at--;
    if (x.round[at] === msg.round) return; // a replayed verdict is applied (and plotted) once
    this.count(msg);
    x.round.splice(at, 0, msg.round);
    x.loss.splice(at, 0, msg.loss);
    x.accuracy.splice(at, 0, msg.accuracy);
    x.testLoss.splice(at, 0, msg.testLoss);
    x.ms.splice(at, 0, msg.ms);
    x.bytesUp.splice(at, 0, msg.bytesUp);
    x.bytesDown.splice(at, 0, msg.bytesDown);
    const latest = msg.round > s.round;
    const stillRunning = s.state === 'finished' || s.state === 'paused' || s.state === 'left' || s.state === 'error' ? s.state : 'training';
    this.set({
      ...(latest
        ? {
            ...this.withTerm({ term: msg.term, aggregator: msg.aggregator }),
            round: msg.round,
            role: msg.role,
            hash: msg.hash,
            detail: null,
          }
        : {}),
      state: stillRunning,
      loss: latest && msg.loss !== null ? msg.loss : s.loss,
      accuracy: msg.accuracy !== null && (latest || msg.round >= s.accuracyRound) ? msg.accuracy : s.accuracy,
      accuracyRound: msg.accuracy !== null && (latest || msg.round >= s.accuracyRound) ? msg.round : s.accuracyRound,
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

  /** term bookkeeping shared by every message that names the aggregator */
  private withTerm(next: { term: number; aggregator: string | null }): Partial<SessionSnapshot> {
    const s = this.snap;
    if (next.term < s.term) return {};
    const changed = s.aggregator !== null && next.aggregator !== null && next.aggregator !== s.aggregator;
    return {
      term: next.term,
      aggregator: next.aggregator ?? s.aggregator,
      role: next.aggregator !== null && s.peerId !== null ? (next.aggregator === s.peerId ? 'aggregator' : 'worker') : s.role,
      ...(changed ? { aggregatorChangedAt: Math.max(s.round, 0), previousAggregator: s.aggregator } : {}),
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
      rows.set(p.id, { ...p, ...this.statsOf(p.id, false), role: p.id === s.aggregator ? 'aggregator' : 'worker', self: p.id === s.peerId });
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
      });
    }
    const scores: Record<string, number> = {};
    for (const r of rows.values()) if (r.agreement !== undefined) scores[r.id] = r.agreement;
    for (const id of lowAgreement(scores)) rows.set(id, { ...rows.get(id)!, lowAgreement: true });
    return [...rows.values()];
  }
}

/** True while the "aggregator changed" notice should stay up (a few rounds after the change). */
export function aggregatorRecentlyChanged(s: SessionSnapshot, rounds = 10): boolean {
  return s.aggregatorChangedAt !== null && s.round - s.aggregatorChangedAt <= rounds && s.state !== 'finished';
}

/** The plain-language state line the page shows. */
export function describeState(s: SessionSnapshot): string {
  switch (s.state) {
    case 'idle':
      return 'Not started';
    case 'connecting':
      return 'Connecting to peers…';
    case 'waiting':
      return s.detail ? `Waiting for peers (${s.detail})` : 'Waiting for peers';
    case 'training':
      return aggregatorRecentlyChanged(s) ? `Training — aggregator changed to ${short(s.aggregator)}` : 'Training';
    case 'paused':
      return 'Paused (not voting)';
    case 'finished':
      return 'Finished';
    case 'left':
      return 'Left the session';
    case 'error':
      return `Error: ${s.detail ?? 'unknown reason'}`;
  }
}

export function short(id: string | null): string {
  if (id === null) return '—';
  return id.length > 10 ? `${id.slice(0, 8)}…` : id;
}
