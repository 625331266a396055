import SimplePeer from 'simple-peer';
import type { IceServer } from '../session/config';
import { DEFAULT_CHUNK_BYTES, DEFAULT_MAX_MESSAGE_BYTES, FRAME_HEADER_BYTES, Reassembler, encodeFrames } from './framing';
import type { SignalingClient } from './signaling-client';
import type { Member, MembershipEpoch, SignalData } from './signaling-protocol';
import type { Membership, PeerId, Transport, TransportListener } from './transport';

/**
 * Transport over a full mesh of WebRTC data channels (simple-peer), with the signaling server as
 * the membership authority. Per peer there is one reliable ordered channel; messages are chunked
 * (framing.ts), sent one at a time per peer under bufferedAmount back-pressure, and queued while
 * the channel is still connecting, so a fast peer's first ballot waits for a slow peer's channel
 * instead of being lost (disco #1109).
 */

/** What simple-peer needs from a WebRTC implementation (Node: core/src/node/wrtc.ts). */
export type WrtcImplementation = NonNullable<SimplePeer.Options['wrtc']>;

export interface WebRtcTransportOptions {
  /** a client that has already joined the session */
  signaling: SignalingClient;
  /** omit in browsers (native RTCPeerConnection) */
  wrtc?: WrtcImplementation;
  /** default: the session config's iceServers */
  iceServers?: IceServer[];
  chunkBytes?: number;
  maxMessageBytes?: number;
  /** a channel not open after this long is given up (unreachable); default 30 s */
  connectTimeoutMs?: number;
  /** sending pauses while the channel buffers more than this (default 1 MiB) ... */
  highWaterBytes?: number;
  /** ... and resumes below this (default 256 KiB) */
  lowWaterBytes?: number;
  /** close() also disconnects the signaling client, i.e. leaves the session (default true) */
  closeSignaling?: boolean;
}

export interface TransportStats {
  messagesSent: number;
  messagesReceived: number;
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** frames dropped by reassembly (bad header, out of sequence, oversized) */
  malformedFrames: number;
  /** times a sender paused for the channel's buffer to drain */
  backpressureWaits: number;
}

export interface WebRtcTransport extends Transport {
  /** the latest epoch, as ids in join order */
  readonly membership: Membership;
  /** the latest epoch with join sequence numbers and peer info */
  readonly members: readonly Member[];
  /** ask the signaling server to drop `peer` (dropped once a majority of the others report it) */
  reportUnreachable(peer: PeerId): void;
  /** peers whose data channel is open */
  connectedPeers(): PeerId[];
  /** resolves once channels to `peers` (default: every other member) are open */
  whenConnected(peers?: readonly PeerId[], timeoutMs?: number): Promise<void>;
  stats(): TransportStats;
}

type LinkState = 'connecting' | 'open' | 'closed';

interface Outgoing {
  readonly bytes: Uint8Array;
  resolve(): void;
  reject(err: Error): void;
}

interface Link {
  readonly peer: PeerId;
  readonly sp: SimplePeer.Instance;
  state: LinkState;
  readonly queue: Outgoing[];
  pumping: boolean;
  /** wrapping u32 message id (framing.ts) */
  nextId: number;
  readonly rx: Reassembler;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The part of RTCDataChannel used for back-pressure; simple-peer keeps it in `_channel`. */
interface ChannelLike {
  bufferedAmount: number;
  bufferedAmountLowThreshold?: number;
  addEventListener?(type: 'bufferedamountlow', fn: () => void): void;
  removeEventListener?(type: 'bufferedamountlow', fn: () => void): void;
}

export class TransportError extends Error {
  constructor(
    readonly peer: PeerId,
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

export function createWebRtcTransport(options: WebRtcTransportOptions): WebRtcTransport {
  const { signaling } = options;
  const joined = signaling.joined;
  if (!joined) throw new Error('createWebRtcTransport needs a signaling client that has joined a session');
  const self = joined.peerId;
  const iceServers = options.iceServers ?? joined.config.iceServers;
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!(Number.isInteger(chunkBytes) && chunkBytes > FRAME_HEADER_BYTES && chunkBytes <= 256 * 1024)) {
    // larger single messages silently close wrtc channels, and some browsers' limits are lower still
    throw new RangeError(`chunkBytes must be an integer in (${FRAME_HEADER_BYTES}, 262144], got ${chunkBytes}`);
  }
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
  const highWater = options.highWaterBytes ?? 1024 * 1024;
  const lowWater = Math.min(options.lowWaterBytes ?? 256 * 1024, highWater);

  const listeners = new Set<TransportListener>();
  const links = new Map<PeerId, Link>();
  /** ids never come back (the server assigns fresh ones), so late signals from them are ignored */
  const departed = new Set<PeerId>();
  /** anything waiting on a link state change (whenConnected) */
  const watchers = new Set<() => void>();
  let epoch: MembershipEpoch = signaling.membership ?? joined.membership;
  let closed = false;
  const stats: TransportStats = {
    messagesSent: 0,
    messagesReceived: 0,
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    malformedFrames: 0,
    backpressureWaits: 0,
  };

  const emit = (fn: (l: TransportListener) => void): void => {
    for (const l of [...listeners]) {
      try {
        fn(l);
      } catch (err) {
        // a listener's bug must not corrupt the transport's own state machine
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  };
  const notifyWatchers = () => {
    for (const w of [...watchers]) w();
  };
  const toMembership = (m: MembershipEpoch): Membership => ({ epoch: m.epoch, peers: m.peers.map((p) => p.id) });
  const isMember = (peer: PeerId) => epoch.peers.some((p) => p.id === peer);
  const seqOf = (peer: PeerId) => epoch.peers.find((p) => p.id === peer)?.seq;

  const rejectQueue = (link: Link, err: Error) => {
    for (const msg of link.queue.splice(0)) msg.reject(err);
  };

  /** The channel failed or timed out while the peer is (as far as we know) still a member. */
  const fail = (link: Link, reason: string): void => {
    if (link.state === 'closed') return;
    link.state = 'closed';
    clearTimeout(link.timer);
    rejectQueue(link, new TransportError(link.peer, `peer ${link.peer} unreachable: ${reason}`));
    link.sp.destroy();
    notifyWatchers();
    if (!closed && links.get(link.peer) === link && isMember(link.peer)) emit((l) => l.unreachable?.(link.peer, reason));
  };

  /** The peer left the membership: not a failure, so no unreachable event. */
  const drop = (link: Link, reason: string): void => {
    links.delete(link.peer);
    departed.add(link.peer);
    if (link.state === 'closed') return;
    link.state = 'closed';
    clearTimeout(link.timer);
    rejectQueue(link, new TransportError(link.peer, `peer ${link.peer} ${reason}`));
    link.sp.destroy();
    notifyWatchers();
  };

  const channelOf = (link: Link): ChannelLike | null => (link.sp as unknown as { _channel: ChannelLike | null })._channel;

  /** Wait until the channel's send buffer has drained below the low-water mark. */
  const drain = (link: Link): Promise<void> => {
    const channel = channelOf(link);
    if (!channel || channel.bufferedAmount <= highWater) return Promise.resolve();
    stats.backpressureWaits++;
    return new Promise((resolve) => {
      // the event is the fast path; the poll covers implementations that never fire it and a
      // channel that closes while we wait
      const done = () => {
        clearInterval(poll);
        channel.removeEventListener?.('bufferedamountlow', done);
        resolve();
      };
      const poll = setInterval(() => {
        if (link.state !== 'open' || channel.bufferedAmount <= lowWater) done();
      }, 25);
      channel.addEventListener?.('bufferedamountlow', done);
    });
  };

  const pump = async (link: Link): Promise<void> => {
    if (link.pumping) return;
    link.pumping = true;
    let unconfirmed = 0;
    try {
      while (link.state === 'open' && link.queue.length > 0) {
        const msg = link.queue[0];
        const id = link.nextId;
        link.nextId = (id + 1) >>> 0;
        for (const frame of encodeFrames(id, msg.bytes, chunkBytes)) {
          // wrtc updates bufferedAmount asynchronously, so a tight loop would read a stale 0 and
          // hand megabytes to the channel at once; yielding a macrotask every high-water's worth
          // of bytes lets the reading catch up before drain() trusts it
          if (unconfirmed >= highWater) {
            await new Promise((r) => setTimeout(r, 0));
            unconfirmed = 0;
          }
          await drain(link);
          // the message stays queued until fully sent, so fail() rejects it if the channel dies here
          if (link.state !== 'open') return;
          link.sp.send(frame);
          unconfirmed += frame.byteLength;
          stats.framesSent++;
          stats.bytesSent += frame.byteLength;
        }
        link.queue.shift();
        stats.messagesSent++;
        msg.resolve();
      }
    } catch (err) {
      fail(link, `send failed: ${(err as Error).message}`);
    } finally {
      link.pumping = false;
    }
  };

  const onFrame = (link: Link, data: unknown): void => {
    if (link.state === 'closed') return;
    stats.framesReceived++;
    if (!(data instanceof Uint8Array)) {
      stats.malformedFrames++;
      return;
    }
    stats.bytesReceived += data.byteLength;
    const result = link.rx.push(data);
    if (result.kind === 'malformed') stats.malformedFrames++;
    else if (result.kind === 'message') {
      stats.messagesReceived++;
      emit((l) => l.message?.(link.peer, result.bytes));
    }
  };

  const connect = (peer: PeerId, initiator: boolean): Link => {
    const sp = new SimplePeer({
      initiator,
      wrtc: options.wrtc,
      config: { iceServers },
      trickle: true,
      // simple-peer keeps this timer alive after destroy; the default 5 s would hold a process open
      iceCompleteTimeout: 250,
    });
    const link: Link = {
      peer,
      sp,
      state: 'connecting',
      queue: [],
      pumping: false,
      nextId: 0,
      rx: new Reassembler(maxMessageBytes),
      timer: undefined,
    };
    link.timer = setTimeout(() => fail(link, `no data channel after ${connectTimeoutMs} ms`), connectTimeoutMs);
    sp.on('signal', (data: unknown) => {
      if (link.state !== 'closed') signaling.sendSignal(peer, data as SignalData);
    });
    sp.on('connect', () => {
      if (link.state !== 'connecting') return;
      link.state = 'open';
      clearTimeout(link.timer);
      const channel = channelOf(link);
      if (channel && typeof channel.bufferedAmountLowThreshold === 'number') channel.bufferedAmountLowThreshold = lowWater;
      notifyWatchers();
      void pump(link);
    });
    sp.on('data', (data: unknown) => {
      try {
        onFrame(link, data);
      } catch {
        stats.malformedFrames++;
      }
    });
    sp.on('error', (err: Error & { code?: string }) => fail(link, `${err.code ?? 'error'}: ${err.message}`));
    sp.on('close', () => fail(link, 'channel closed'));
    links.set(peer, link);
    return link;
  };

  const applyMembership = (m: MembershipEpoch): void => {
    if (closed) return;
    epoch = m;
    const ids = new Set(m.peers.map((p) => p.id));
    for (const link of [...links.values()]) if (!ids.has(link.peer)) drop(link, 'left the session');
    const mySeq = seqOf(self);
    if (mySeq !== undefined) {
      for (const p of m.peers) {
        // the smaller join seq initiates, so two peers never both offer (no glare)
        if (p.id !== self && !links.has(p.id) && !departed.has(p.id)) connect(p.id, mySeq < p.seq);
      }
    }
    emit((l) => l.membership?.(toMembership(m)));
  };

  const onSignal = (from: PeerId, data: SignalData): void => {
    if (closed || from === self || departed.has(from)) return;
    // an offer can overtake the epoch that announces its sender; only a lower seq initiates
    const link = links.get(from) ?? connect(from, false);
    if (link.state === 'closed') return;
    try {
      link.sp.signal(data as SimplePeer.SignalData);
    } catch (err) {
      fail(link, `bad signal: ${(err as Error).message}`);
    }
  };

  let leftReason: string | undefined;
  const unsubscribe = signaling.subscribe({
    membership: applyMembership,
    signal: onSignal,
    error: (notice) => {
      if (notice.code === 'dropped') leftReason = `dropped by the signaling server: ${notice.error}`;
    },
    // without the membership authority epochs stop, so the mesh cannot be trusted to be current
    disconnect: (reason) => {
      if (closed) return;
      const why = leftReason ?? `signaling connection lost (${reason})`;
      const current = [...listeners];
      void transport.close().then(() => {
        for (const l of current) l.left?.(why);
      });
    },
  });
  applyMembership(epoch);

  const transport: WebRtcTransport = {
    self,
    get membership() {
      return toMembership(epoch);
    },
    get members() {
      return epoch.peers;
    },
    send(to, bytes) {
      if (closed) return Promise.reject(new TransportError(to, 'transport is closed'));
      if (to === self) return Promise.reject(new TransportError(to, 'cannot send to self'));
      if (!isMember(to)) return Promise.reject(new TransportError(to, `peer ${to} is not a member of epoch ${epoch.epoch}`));
      if (bytes.byteLength > maxMessageBytes) {
        return Promise.reject(new TransportError(to, `message of ${bytes.byteLength} bytes exceeds the ${maxMessageBytes}-byte cap`));
      }
      const link = links.get(to);
      if (!link || link.state === 'closed') return Promise.reject(new TransportError(to, `peer ${to} is unreachable`));
      return new Promise<void>((resolve, reject) => {
        // copied so the caller may reuse its buffer while the message waits in the queue
        link.queue.push({ bytes: bytes.slice(), resolve, reject });
        void pump(link);
      });
    },
    subscribe(listener) {
      listeners.add(listener);
      // a listener that subscribes late still learns the current membership
      queueMicrotask(() => {
        if (!closed && listeners.has(listener)) listener.membership?.(toMembership(epoch));
      });
      return () => {
        listeners.delete(listener);
      };
    },
    reportUnreachable(peer) {
      if (!closed && peer !== self) signaling.reportUnreachable(peer);
    },
    connectedPeers() {
      return [...links.values()].filter((l) => l.state === 'open').map((l) => l.peer);
    },
    whenConnected(peers, timeoutMs = connectTimeoutMs) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          const wanted = peers ?? epoch.peers.map((p) => p.id).filter((id) => id !== self);
          if (closed) return finish(new Error('transport is closed'));
          for (const peer of wanted) {
            const link = links.get(peer);
            if (link?.state === 'closed') return finish(new TransportError(peer, `peer ${peer} is unreachable`));
            if (link?.state !== 'open') return;
          }
          finish();
        };
        const finish = (err?: Error) => {
          clearTimeout(timer);
          watchers.delete(check);
          if (err) reject(err);
          else resolve();
        };
        const timer = setTimeout(() => finish(new Error(`channels not open after ${timeoutMs} ms`)), timeoutMs);
        watchers.add(check);
        check();
      });
    },
    stats: () => ({ ...stats }),
    async close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      for (const link of [...links.values()]) {
        clearTimeout(link.timer);
        rejectQueue(link, new TransportError(link.peer, 'transport is closed'));
        link.state = 'closed';
        link.sp.destroy();
      }
      links.clear();
      notifyWatchers();
      listeners.clear();
      if (options.closeSignaling ?? true) signaling.close();
      // simple-peer finishes destroying in a microtask; let it release the peer connections
      await new Promise((r) => setTimeout(r, 0));
    },
  };
  return transport;
}
