import { encodeMessage, PROTOCOL_VERSION, type Message } from '../protocol/messages';
import type { PeerId, Transport } from '../transport/transport';
import type { Outgoing, SessionView } from './context';
import type { Replica } from './replica';
import type { RoundReport } from './round-report';
import { snapshotPieces } from './snapshot';

/**
 * How a peer's messages leave: a role writes the message body; the outbox adds the protocol
 * version, the session and the current term, encodes it (checked, so a bug here never reaches
 * the wire), counts the bytes and sends. A broadcast is encoded once and the same bytes go to
 * every other member. A snapshot goes to a peer once per (term, round, hash), however often
 * that peer asks.
 */
export interface Outbox {
  send(to: PeerId, body: Outgoing): void;
  broadcast(body: Outgoing): void;
  sendSnapshot(to: PeerId): void;
  /** a new term: snapshots may be sent again */
  newTerm(): void;
}

export interface OutboxOptions {
  readonly transport: Transport;
  readonly session: string;
  readonly view: SessionView;
  readonly replica: Replica;
  readonly report: RoundReport;
  readonly fail: (where: string, e: unknown) => void;
  readonly isStopped: () => boolean;
}

export function createOutbox(o: OutboxOptions): Outbox {
  const { transport, view, replica, report } = o;
  const self = transport.self;
  const header = { v: PROTOCOL_VERSION, session: o.session } as const;
  /** per peer, the term/round/hash of the snapshot sent to it */
  const snapshotSentTo = new Map<PeerId, string>();

  const encode = (body: Outgoing): Uint8Array | null => {
    // the protocol's key order: v, session, type, term, then the body's fields
    const { type, ...fields } = body;
    const msg = { ...header, type, term: view.term, ...fields } as Message;
    try {
      return encodeMessage(msg);
    } catch (e) {
      o.fail(`encoding ${msg.type}`, e);
      return null;
    }
  };
  const sendBytes = (to: PeerId, bytes: Uint8Array): void => {
    report.sent(bytes.byteLength);
    // a peer that left mid-send is the membership's business, not an error of this round
    transport.send(to, bytes).catch(() => {});
  };
  const send = (to: PeerId, body: Outgoing): void => {
    if (o.isStopped()) return;
    const bytes = encode(body);
    if (bytes !== null) sendBytes(to, bytes);
  };

  return {
    send,
    broadcast(body) {
      if (o.isStopped() || view.peers.length < 2) return;
      const bytes = encode(body);
      if (bytes === null) return;
      for (const p of view.peers) if (p !== self) sendBytes(p, bytes);
    },
    sendSnapshot(to) {
      const key = `${view.term}/${replica.round}/${replica.hash}`;
      if (snapshotSentTo.get(to) === key) return;
      snapshotSentTo.set(to, key);
      report.snapshotSent();
      for (const piece of snapshotPieces({ round: replica.round, x: replica.x, xPrev: replica.xPrev })) send(to, { type: 'snapshot', ...piece });
    },
    newTerm() {
      snapshotSentTo.clear();
    },
  };
}
