import { encodeMessage, PROTOCOL_VERSION, type Message } from '../protocol/messages';
import type { PeerId, Transport } from '../transport/transport';
import type { Outgoing, SessionView } from './context';
import type { Replica } from './replica';
import type { RoundReport } from './round-report';
import { snapshotPieces, type SnapshotState } from './snapshot';

/**
 * How a peer's messages leave: a role writes the message body; the outbox adds the protocol
 * version, the session and the current term, encodes it (checked, so a bug here never reaches
 * the wire), counts the bytes and sends. A broadcast is encoded once and the same bytes go to
 * every other member. A snapshot goes to a peer once per (term, round, hash), however often
 * that peer asks.
 *
 * A snapshot is x || x_prev, 8d bytes (80 MB at d = 10M). Its pieces are made and handed to the
 * transport as the channel drains, at most SNAPSHOT_WINDOW of them waiting at a time, from the
 * replica's own arrays (held, so the next rounds write new ones instead of reusing them): making
 * them all at once cost three more copies of 8d (the pieces, their encodings, the transport's
 * copies). Messages to that peer while its snapshot streams wait behind it, so it sees them in
 * the order they were sent, as if the snapshot had been one message.
 */
export interface Outbox {
  send(to: PeerId, body: Outgoing): void;
  broadcast(body: Outgoing): void;
  sendSnapshot(to: PeerId): void;
  /** a new term: snapshots may be sent again */
  newTerm(): void;
  /**
   * Resolves once the transport has taken every message handed to it so far (each send settled,
   * sent or failed) and no snapshot is streaming: what a peer about to leave waits for.
   */
  flushed(): Promise<void>;
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

/** snapshot pieces handed to the transport and not yet sent, per snapshot (4 MiB of 64 KiB pieces) */
const SNAPSHOT_WINDOW = 64;

interface SnapshotItem {
  readonly state: SnapshotState;
  /** the term it was asked for in: a new term abandons it */
  readonly term: number;
  readonly release: () => void;
}
type LaneItem = { readonly bytes: Uint8Array } | SnapshotItem;

export function createOutbox(o: OutboxOptions): Outbox {
  const { transport, view, replica, report } = o;
  const self = transport.self;
  const header = { v: PROTOCOL_VERSION, session: o.session } as const;
  /** per peer, the term/round/hash of the snapshot sent to it */
  const snapshotSentTo = new Map<PeerId, string>();
  /**
   * per peer with a snapshot streaming to it: what waits behind it (messages, and snapshots with
   * the state held as it was when asked for), in the order it was sent
   */
  const lanes = new Map<PeerId, LaneItem[]>();
  /** sends the transport has not settled yet, and snapshots streaming: what `flushed` waits for */
  const pending = new Set<Promise<void>>();
  const track = (work: Promise<void>): Promise<void> => {
    const settled: Promise<void> = work.then(
      () => void pending.delete(settled),
      () => void pending.delete(settled),
    );
    pending.add(settled);
    return work;
  };

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
  // a peer that left mid-send is the membership's business, not an error of this round
  const toTransport = (to: PeerId, bytes: Uint8Array): void => void track(transport.send(to, bytes)).catch(() => {});
  const sendBytes = (to: PeerId, bytes: Uint8Array): void => {
    report.sent(bytes.byteLength);
    const lane = lanes.get(to);
    if (lane !== undefined) lane.push({ bytes });
    else toTransport(to, bytes);
  };

  /** Hands one snapshot's pieces to the transport as it drains; gives up on a new term, a stop or a failed send. */
  const stream = async (to: PeerId, item: SnapshotItem): Promise<void> => {
    const inFlight = new Set<Promise<void>>();
    let failed = false;
    for (const piece of snapshotPieces(item.state)) {
      while (inFlight.size >= SNAPSHOT_WINDOW && !failed) await Promise.race(inFlight);
      if (failed || o.isStopped() || view.term !== item.term) return;
      const bytes = encode({ type: 'snapshot', ...piece });
      if (bytes === null) return;
      report.sent(bytes.byteLength);
      const sending: Promise<void> = track(transport.send(to, bytes)).then(
        () => void inFlight.delete(sending),
        () => {
          inFlight.delete(sending);
          failed = true;
        },
      );
      inFlight.add(sending);
    }
  };

  const drain = async (to: PeerId, lane: LaneItem[]): Promise<void> => {
    for (let item = lane.shift(); item !== undefined; item = lane.shift()) {
      if ('bytes' in item) {
        toTransport(to, item.bytes);
        continue;
      }
      try {
        await stream(to, item);
      } catch (e) {
        o.fail('sending a snapshot', e);
      } finally {
        item.release();
      }
    }
    // the transport keeps one peer's messages in order: from here on they go to it directly
    lanes.delete(to);
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
      if (o.isStopped()) return;
      report.snapshotSent();
      // held until its last piece is made: the rounds applied meanwhile write new arrays
      const item: SnapshotItem = { state: { round: replica.round, x: replica.x, xPrev: replica.xPrev }, term: view.term, release: replica.hold() };
      const lane = lanes.get(to);
      if (lane !== undefined) return void lane.push(item);
      const fresh = [item];
      lanes.set(to, fresh);
      void track(drain(to, fresh));
    },
    newTerm() {
      snapshotSentTo.clear();
    },
    async flushed() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
