import SimplePeer from 'simple-peer';
import { io, type Socket } from 'socket.io-client';
import { encodeMessage, type Message, encodeFrames, encodeHello, SIGNALING_EVENTS } from '@signvote/core';
import { nodeWrtc } from '@signvote/core/node';

/**
 * A misbehaving client built from the raw libraries (socket.io-client, simple-peer, the Node WebRTC of core/src/node/wrtc.ts), not
 * from the project's own client code, so it can send what that code never would.
 */

export interface Ack {
  ok: boolean;
  code?: string;
  error?: string;
  peerId?: string;
}

export function rawSocket(url: string): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, timeout: 10_000 });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

export async function emitAck(socket: Socket, event: string, payload: unknown, timeoutMs = 5000): Promise<Ack> {
  return (await socket.timeout(timeoutMs).emitWithAck(event, payload)) as Ack;
}

/** Resolves with the disconnect reason, or null if the socket is still up after `ms`. */
export function disconnectedWithin(socket: Socket, ms: number): Promise<string | null> {
  if (socket.disconnected) return Promise.resolve('already disconnected');
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

export interface RogueMember {
  readonly peerId: string;
  readonly socket: Socket;
  /** the latest membership epoch, i.e. the current term */
  epoch(): number;
  /** resolves when data channels to `n` members are open */
  connected(n: number, timeoutMs?: number): Promise<string[]>;
  /** raw bytes as one data-channel message (no framing) */
  sendRaw(to: string, bytes: Uint8Array): void;
  /** a protocol message, framed like the real transport frames it */
  sendFramed(to: string, bytes: Uint8Array): void;
  message(msg: Message): Uint8Array;
  close(): void;
}

/**
 * Joins legitimately (right session, right token), answers the members' WebRTC offers (they
 * initiate: lower join sequence numbers offer), and then can put anything on the channels.
 */
export async function joinAsRogue(url: string, sessionId: string, token: string): Promise<RogueMember> {
  const socket = await rawSocket(url);
  let epoch = 0;
  const peers = new Map<string, SimplePeer.Instance>();
  const open = new Set<string>();
  const frameIds = new Map<string, number>();
  const onChange = new Set<() => void>();
  socket.on(SIGNALING_EVENTS.membership, (m: { epoch: number }) => {
    epoch = Math.max(epoch, m.epoch);
  });
  const onSignal = (msg: { from: string; data: SimplePeer.SignalData }) => {
    let sp = peers.get(msg.from);
    if (!sp) {
      sp = new SimplePeer({ initiator: false, wrtc: nodeWrtc(), trickle: true, iceCompleteTimeout: 250 });
      const from = msg.from;
      sp.on('signal', (data) => socket.emit(SIGNALING_EVENTS.signal, { to: from, data }));
      sp.on('connect', () => {
        // speak the framing handshake, so members open their side of the link to us
        sp?.send(encodeHello());
        open.add(from);
        for (const f of onChange) f();
      });
      sp.on('error', () => open.delete(from));
      sp.on('close', () => open.delete(from));
      // whatever the members send us (opens, snapshots) is ignored
      sp.on('data', () => {});
      peers.set(from, sp);
    }
    sp.signal(msg.data);
  };
  socket.on(SIGNALING_EVENTS.signal, onSignal);
  // the server relays the signals of one batch as one `signals` event (docs/signaling.md)
  socket.on(SIGNALING_EVENTS.signals, (batch: { from: string; data: SimplePeer.SignalData }[]) => batch.forEach(onSignal));
  const ack = await emitAck(socket, SIGNALING_EVENTS.join, { sessionId, token, info: { backend: 'node', label: 'rogue' } });
  if (!ack.ok || !ack.peerId) throw new Error(`rogue could not join: ${ack.error}`);
  epoch = Math.max(epoch, (ack as unknown as { membership: { epoch: number } }).membership.epoch);
  const peerId = ack.peerId;
  return {
    peerId,
    socket,
    epoch: () => epoch,
    connected: (n, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (open.size >= n) {
            clearTimeout(timer);
            onChange.delete(check);
            resolve([...open]);
          }
        };
        const timer = setTimeout(() => reject(new Error(`rogue: ${open.size}/${n} channels open after ${timeoutMs} ms`)), timeoutMs);
        onChange.add(check);
        check();
      }),
    sendRaw: (to, bytes) => peers.get(to)?.send(bytes),
    sendFramed: (to, bytes) => {
      const id = frameIds.get(to) ?? 0;
      frameIds.set(to, id + 1);
      for (const frame of encodeFrames(id, bytes)) peers.get(to)?.send(frame);
    },
    message: (msg) => encodeMessage(msg),
    close: () => {
      for (const sp of peers.values()) sp.destroy();
      socket.disconnect();
    },
  };
}
