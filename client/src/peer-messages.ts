import type { TalliedRange, VoteSplit } from '@signvote/core';

/**
 * What the session view is told about its peer. `browser-peer.ts` translates the runtime's
 * events into these, so the UI depends on one small vocabulary it owns.
 */
export type Backend = 'webgpu' | 'wasm' | 'node';
/** the term's role: 'aggregator' is member 0, which keeps the term's duties (docs/session.md) */
export type Role = 'aggregator' | 'worker';

/** how a term splits the vote, and the range a peer tallies: the runtime's own types (docs/session.md, "Vote shards") */
export type { TalliedRange, VoteSplit };

export type PeerState =
  | 'idle'
  | 'connecting'
  | 'waiting'
  | 'training'
  | 'paused'
  | 'finished'
  | 'left'
  | 'error';

export interface PeerInfo {
  readonly id: string;
  readonly backend?: Backend;
  /** what the peer calls itself ('browser', a CLI --label) */
  readonly label?: string;
  /** rounds whose verdict counted this peer's ballot, as far as this tab knows */
  readonly voted?: number;
  /**
   * ms from the round's opening at the aggregator to the arrival of this peer's last counted
   * ballot (for this tab, before any verdict names it: how long its last gradient took)
   */
  readonly latencyMs?: number;
  /**
   * moving average of the share of coordinates on which its ballots agreed with the verdicts,
   * in [0, 1] (carried in the verdicts: docs/session.md "Vote agreement")
   */
  readonly agreement?: number;
}

export interface RoundInfo {
  readonly round: number;
  readonly term: number;
  readonly role: Role;
  readonly aggregator: string | null;
  /** how the round's term splits the vote, and the range this peer tallies in it (null: none) */
  readonly split: VoteSplit;
  readonly voteShard: TalliedRange | null;
  /** this peer's mean training loss in the round; null when it computed no ballot */
  readonly loss: number | null;
  readonly hash: string;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly ms: number;
  /** whether this peer's ballot was tallied into the verdict */
  readonly mine: boolean;
  /** the peers whose ballots were tallied; empty when this tab did not see the deciding term */
  readonly voters?: readonly string[];
  /** per voter, ms from the round's opening at the aggregator to its ballot's arrival */
  readonly latencies?: Readonly<Record<string, number>>;
  /** per voter, its moving-average vote agreement after this verdict */
  readonly agreement?: Readonly<Record<string, number>>;
}

export type ViewMessage =
  | { readonly type: 'state'; readonly state: PeerState; readonly detail?: string }
  /** the gradient backend this tab got, and why (before it joins) */
  | { readonly type: 'backend'; readonly backend: Backend; readonly reason: string }
  | {
      readonly type: 'ready';
      readonly peerId: string;
      readonly backend: Backend;
      /** number of parameters: one fp32 vector costs 4d bytes */
      readonly d: number;
      readonly rounds: number;
      /** training starts when this many peers have joined */
      readonly expectedPeers: number;
      readonly algorithm: string;
      readonly model: string;
    }
  | { readonly type: 'peers'; readonly peers: readonly PeerInfo[] }
  /**
   * a term (or its aggregator) this tab learned of; a new term also names its members in join
   * order (member j < k tallies range j), how it splits the vote and the range this tab tallies
   */
  | {
      readonly type: 'term';
      readonly term: number;
      readonly aggregator: string | null;
      readonly peers?: readonly string[];
      readonly split?: VoteSplit;
      readonly voteShard?: TalliedRange | null;
    }
  | ({ readonly type: 'round' } & RoundInfo)
  /** the test set evaluated on the parameters after `round`, reported when done (after later rounds) */
  | { readonly type: 'evaluation'; readonly round: number; readonly loss: number; readonly accuracy: number }
  | { readonly type: 'ballot'; readonly latencyMs: number }
  /** first-layer weights: `units` images of `width*height` floats */
  | { readonly type: 'weights'; readonly round: number; readonly units: number; readonly width: number; readonly height: number; readonly data: Float32Array }
  | { readonly type: 'log'; readonly message: string };
