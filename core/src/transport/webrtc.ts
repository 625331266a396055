import SimplePeer from 'simple-peer';
import { notifyEach } from './listeners';
import type { IceServer } from '../config';
import {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  FRAME_HEADER_BYTES,
  Reassembler,
  decodeControl,
  encodeFrames,
  encodeHello,
} from './framing';
import type { SignalingClient } from './signaling-client';
import type { Member, MembershipEpoch, SignalData } from './signaling-protocol';
import type { Membership, PeerId, Transport, TransportListener } from './transport';

/**
 * Transport over a full mesh of WebRTC data channels (simple-peer), with the signaling server as
 * the membership authority. Per peer there is one reliable ordered channel; messages are chunked
 * (framing.ts), sent one at a time per peer under a buffered-bytes budget, and queued until both
 * ends have exchanged HELLO, so a fast peer's first ballot waits for a slow peer's channel instead
 * of being lost (disco #1109), and nothing is sent before the other end can receive it in order.
 *
 * Over 400 lines because createWebRtcTransport is one closure on purpose: a link's send path
 * (queue, back-pressure, HELLO), the mesh (who offers, ids that departed) and the membership the
 * signaling server announces all read and change the same links map, current epoch, watchers
 * and stats, and a failed link must be judged against the current membership (unreachable vs
 * left). About 100 lines are the documented options, stats and link types.
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
  /** a channel not open (HELLO exchanged) after this long is given up (unreachable); default 30 s */
  connectTimeoutMs?: number;
  /** a send buffer that stays above the high-water mark this long means the peer stopped
   * reading: the link is failed (unreachable) instead of waiting forever; default 30 s */
  drainTimeoutMs?: number;
  /** sending pauses while the channel buffers more than this (default 1 MiB) ... */
  highWaterBytes?: number;
  /** ... and resumes below this (default 256 KiB) */
  lowWaterBytes?: number;
  /** close() also disconnects the signaling client, i.e. leaves the session (default true) */
  closeSignaling?: boolean;
  /**
   * a failed link to a peer that is still a member is tried again this many times (the side that
   * offers offers again, after 1, 2, 4, ... s); default 4
   */
  linkRetries?: number;
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
  /** reads of the channel's bufferedAmount (each one a blocking call into wrtc's thread) */
  bufferReads: number;
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

/** 'open' = both ends sent HELLO; data frames flow only then */
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
  /** our end is wired up and our HELLO is sent */
  localReady: boolean;
  /** the other end's HELLO arrived */
  peerReady: boolean;
  /** an upper bound on the channel's bufferedAmount: the last reading plus bytes sent since */
  buffered: number;
  /** (answering side) an offer was applied: a second one means the other side started over */
  offered: boolean;
  /** the link was open once (a channel that dies after opening is reported at once) */
  wasOpen: boolean;
}

/** The part of RTCDataChannel used for back-pressure; simple-peer keeps it in `_channel`. */
interface ChannelLike {
  readonly readyState: string;
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
  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
  const highWater = options.highWaterBytes ?? 1024 * 1024;
  const lowWater = Math.min(options.lowWaterBytes ?? 256 * 1024, highWater);
  const linkRetries = options.linkRetries ?? 4;
  /** failed attempts per peer, for the retry backoff */
  const attempts = new Map<PeerId, number>();

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
    bufferReads: 0,
  };

  const emit = (fn: (l: TransportListener) => void): void => notifyEach(listeners, fn);
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
  /** `final`: no retry can help (the other end speaks another framing version) */
  const fail = (link: Link, reason: string, final = false): void => {
    if (link.state === 'closed') return;
    link.state = 'closed';
    clearTimeout(link.timer);
    rejectQueue(link, new TransportError(link.peer, `peer ${link.peer} unreachable: ${reason}`));
    link.sp.destroy();
    notifyWatchers();
    if (!closed && links.get(link.peer) === link && isMember(link.peer)) {
      const tries = (attempts.get(link.peer) ?? 0) + 1;
      attempts.set(link.peer, tries);
      // A link that never opened is tried again before anyone is told: on a loaded machine a
      // peer busy starting up misses the connect timeout, and reporting it at once had a
      // majority drop live peers (issue 12). A channel that dies after opening is the failover
      // signal: reported at once (and still tried again while the peer is a member).
      if (link.wasOpen || final || tries > linkRetries) emit((l) => l.unreachable?.(link.peer, reason));
      if (!final) retry(link, tries);
    }
  };

  /**
   * A link to a member that failed (it did not open in time on a loaded machine, or the channel
   * died) is tried again: the side with the smaller seq offers again after a backoff, and the
   * other side answers a fresh offer on a closed link (onSignal). The unreachable report above
   * still goes to the server, which drops a peer only when a majority cannot reach it.
   */
  const retry = (failed: Link, n: number): void => {
    const mySeq = seqOf(self);
    const theirSeq = seqOf(failed.peer);
    if (n > linkRetries || mySeq === undefined || theirSeq === undefined || mySeq > theirSeq) return;
    setTimeout(() => {
      if (!closed && links.get(failed.peer) === failed && isMember(failed.peer)) connect(failed.peer, true);
    }, 1000 * 2 ** (n - 1));
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

  /**
   * A connecting link the other side replaced by a new offer: silenced (no more signals, its
   * sends rejected) but destroyed only with the transport, because destroying a wrtc peer
   * connection in the middle of its negotiation, with others busy, has crashed the process.
   */
  const retired: SimplePeer.Instance[] = [];
  const retire = (link: Link): void => {
    link.state = 'closed';
    clearTimeout(link.timer);
    rejectQueue(link, new TransportError(link.peer, `the link to ${link.peer} was replaced by a new offer`));
    retired.push(link.sp);
    notifyWatchers();
  };

  const channelOf = (link: Link): ChannelLike | null => (link.sp as unknown as { _channel: ChannelLike | null })._channel;

  /** simple-peer's send() silently drops data while it is destroying, so a send must check first */
  const isDestroying = (link: Link): boolean => {
    const sp = link.sp as unknown as { destroying?: boolean; destroyed?: boolean };
    return sp.destroying === true || sp.destroyed === true;
  };

  /**
   * Make room for `frameBytes` more under the high-water mark. `link.buffered` bounds the real
   * bufferedAmount from above (it only shrinks by draining, and every send is added), so while
   * the budget allows no reading is needed: each reading is a blocking call into wrtc's thread,
   * milliseconds on a loaded machine. Returns false when the link died meanwhile.
   */
  const makeRoom = async (link: Link, frameBytes: number): Promise<boolean> => {
    const channel = channelOf(link);
    const usable = (): boolean => {
      if (link.state !== 'open') return false;
      if (!channel || isDestroying(link) || channel.readyState !== 'open') {
        // a closing channel takes what it is given and drops it: fail now, visibly
        fail(link, `data channel ${channel?.readyState ?? 'gone'} while sending`);
        return false;
      }
      return true;
    };
    const read = (): number => {
      stats.bufferReads++;
      link.buffered = channel!.bufferedAmount;
      return link.buffered;
    };
    if (!usable()) return false;
    if (read() + frameBytes <= highWater) return true;
    stats.backpressureWaits++;
    await new Promise<void>((resolve) => {
      const started = Date.now();
      // the event is the fast path but may be stale (queued before this wait began), so it only
      // triggers a reading; the poll covers implementations that never fire it, and a channel
      // that closes or a peer that stops reading while we wait
      const check = () => {
        if (!usable() || read() <= lowWater) return done();
        if (Date.now() - started > drainTimeoutMs) {
          fail(link, `send buffer stuck at ${link.buffered} bytes for ${drainTimeoutMs} ms`);
          done();
        }
      };
      const done = () => {
        clearInterval(poll);
        channel?.removeEventListener?.('bufferedamountlow', check);
        resolve();
      };
      const poll = setInterval(check, 25);
      channel?.addEventListener?.('bufferedamountlow', check);
    });
    return link.state === 'open';
  };

  const pump = async (link: Link): Promise<void> => {
    if (link.pumping) return;
    link.pumping = true;
    try {
      while (link.state === 'open' && link.queue.length > 0) {
        const msg = link.queue[0];
        const id = link.nextId;
        link.nextId = (id + 1) >>> 0;
        for (const frame of encodeFrames(id, msg.bytes, chunkBytes)) {
          // the message stays queued until fully sent, so fail() rejects it if the channel dies
          if (link.buffered + frame.byteLength > highWater && !(await makeRoom(link, frame.byteLength))) return;
          if (isDestroying(link)) {
            fail(link, 'peer connection destroyed while sending');
            return;
          }
          link.sp.send(frame);
          link.buffered += frame.byteLength;
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

  const sendHello = (link: Link): boolean => {
    try {
      const hello = encodeHello();
      link.sp.send(hello);
      stats.framesSent++;
      stats.bytesSent += hello.byteLength;
      return true;
    } catch (err) {
      fail(link, `hello failed: ${(err as Error).message}`);
      return false;
    }
  };

  /** Data flows once both ends are wired up: ours (connect + HELLO sent) and theirs (HELLO in). */
  const maybeOpen = (link: Link): void => {
    if (link.state !== 'connecting' || !link.localReady || !link.peerReady) return;
    link.state = 'open';
    link.wasOpen = true;
    clearTimeout(link.timer);
    attempts.delete(link.peer);
    notifyWatchers();
    void pump(link);
  };

  const onFrame = (link: Link, data: unknown): void => {
    if (link.state === 'closed') return;
    stats.framesReceived++;
    if (!(data instanceof Uint8Array)) {
      stats.malformedFrames++;
      return;
    }
    stats.bytesReceived += data.byteLength;
    const control = decodeControl(data);
    if (control) {
      if (control.kind === 'hello') {
        if (link.peerReady) return;
        link.peerReady = true;
        // our own HELLO may have reached their end before it was wired up, and be lost there;
        // this answer is sent after theirs arrived, so it cannot be
        if (link.localReady) sendHello(link);
        maybeOpen(link);
      } else {
        // a peer that cannot speak our framing can never exchange a message with us
        stats.malformedFrames++;
        fail(link, control.reason, true);
      }
      return;
    }
    const result = link.rx.push(data);
    if (result.kind === 'malformed') stats.malformedFrames++;
    else if (result.kind === 'message') {
      if (result.abandoned !== undefined) stats.malformedFrames++;
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
      localReady: false,
      peerReady: false,
      buffered: 0,
      offered: false,
      wasOpen: false,
    };
    link.timer = setTimeout(
      () => fail(link, `${link.localReady ? 'no hello from the peer' : 'no data channel'} after ${connectTimeoutMs} ms`),
      connectTimeoutMs,
    );
    sp.on('signal', (data: unknown) => {
      if (link.state !== 'closed') signaling.sendSignal(peer, data as SignalData);
    });
    sp.on('connect', () => {
      if (link.state !== 'connecting' || link.localReady) return;
      const channel = channelOf(link);
      if (channel && typeof channel.bufferedAmountLowThreshold === 'number') channel.bufferedAmountLowThreshold = lowWater;
      link.localReady = true;
      if (sendHello(link)) maybeOpen(link);
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
    let link = links.get(from) ?? connect(from, false);
    if (data.type === 'offer' && isMember(from) && (link.state === 'closed' || link.offered)) {
      // a second offer: the other side gave this link up and tries again (retry)
      if (link.state !== 'closed') retire(link);
      link = connect(from, false);
    }
    if (data.type === 'offer') link.offered = true;
    if (link.state === 'closed') return;
    try {
      link.sp.signal(data as SimplePeer.SignalData);
    } catch (err) {
      fail(link, `bad signal: ${(err as Error).message}`);
    }
  };

  const unsubscribe = signaling.subscribe({
    membership: applyMembership,
    signal: onSignal,
    // without the membership authority epochs stop, so the mesh cannot be trusted to be current
    disconnect: (reason, dropped) => {
      if (closed) return;
      const why = dropped ?? `signaling connection lost (${reason})`;
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
      for (const sp of retired.splice(0)) sp.destroy();
      notifyWatchers();
      listeners.clear();
      if (options.closeSignaling ?? true) signaling.close();
      // simple-peer finishes destroying in a microtask; let it release the peer connections
      await new Promise((r) => setTimeout(r, 0));
    },
  };
  return transport;
}
