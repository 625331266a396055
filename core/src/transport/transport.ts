/**
 * What carries a peer's bytes. The session state machine only sees this interface, so the
 * in-memory hub (tests, simulations) and WebRTC data channels (real peers) are interchangeable.
 */
export type PeerId = string;

/** The signaling server's view of who is in the session; `peers` is in join order. */
export interface Membership {
  readonly epoch: number;
  readonly peers: readonly PeerId[];
}

export interface TransportListener {
  /** a whole message (already reassembled from chunks) from another member */
  message?(from: PeerId, bytes: Uint8Array): void;
  /** a new membership epoch; always delivered in increasing epoch order */
  membership?(membership: Membership): void;
  /** the transport gave up on a peer (channel closed or failed) */
  unreachable?(peer: PeerId, reason: string): void;
  /**
   * this peer is out of the session for good (membership authority lost or it dropped us); the
   * transport is closed and every pending send rejected. Not called for our own close().
   */
  left?(reason: string): void;
}

export interface Transport {
  readonly self: PeerId;
  /**
   * Reliable, ordered delivery to one member. Resolves once the bytes are handed to the
   * channel (after back-pressure), rejects if the peer is not reachable. Messages to a member
   * whose channel is still connecting are queued, not dropped.
   */
  send(to: PeerId, bytes: Uint8Array): Promise<void>;
  subscribe(listener: TransportListener): () => void;
  /** ask the membership authority to drop a peer we cannot reach (DESIGN: failover) */
  reportUnreachable?(peer: PeerId): void;
  close(): Promise<void>;
}
