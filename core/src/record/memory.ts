import type { SessionConfig } from '../config';
import { decodeCheckpoint, encodeCheckpoint } from '../session/checkpoint';
import { hashPair } from '../session/hash';
import type { MemoryHub } from '../transport/memory';
import type { PeerId } from '../transport/transport';
import { RecordLedger } from './ledger';
import { RecordError, type SessionRecord, type SessionRecordView } from './record';

/**
 * The session record for peers on the in-memory hub: the signaling server's ledger (ledger.ts)
 * following the hub's epochs, with one `SessionRecord` port per peer. Answers and pushes arrive
 * asynchronously (a microtask later, per peer in call order), as over a socket, so the round
 * machine cannot tell it from the signaling server.
 */
export interface MemoryRecord {
  readonly ledger: RecordLedger;
  /** the port of one hub member (create it once per peer) */
  forPeer(peer: PeerId): SessionRecord;
  /** the creator's "start now": start with the members present */
  start(): SessionRecordView;
  /** stop following the hub */
  close(): void;
  /**
   * While on, every call of every port fails with a plain Error, as the signaling server answers
   * "internal error" when its store (Redis) is down; pushes stop too.
   */
  setOutage(on: boolean): void;
}

export interface MemoryRecordOptions {
  readonly hub: MemoryHub;
  readonly config: Pick<SessionConfig, 'rounds' | 'expectedPeers' | 'checkpointEvery'>;
  /** session id the round machine uses (default 'local', as createSessionPeer's) */
  readonly session?: string;
  readonly maxSnapshotBytes?: number;
}

export function createMemoryRecord(options: MemoryRecordOptions): MemoryRecord {
  const session = options.session ?? 'local';
  const ledger = new RecordLedger({
    session,
    rounds: options.config.rounds,
    expectedPeers: options.config.expectedPeers,
    checkpointEvery: options.config.checkpointEvery,
    maxSnapshotBytes: options.maxSnapshotBytes,
  });
  const current = options.hub.epoch;
  if (current.peers.length > 0) ledger.membership(current.epoch, current.peers);
  const unwatch = options.hub.watch((m) => ledger.membership(m.epoch, m.peers));

  let outage = false;
  /** the ledger's answer, a microtask later (errors reject) */
  const later = <T>(fn: () => T): Promise<T> =>
    Promise.resolve().then(() => {
      if (outage) throw new Error('internal error');
      return fn();
    });

  return {
    ledger,
    start: () => ledger.start(),
    close: unwatch,
    setOutage: (on) => {
      outage = on;
    },
    forPeer(peer) {
      let seen = ledger.view();
      const listeners = new Set<(v: SessionRecordView) => void>();
      const learn = (v: SessionRecordView): SessionRecordView => {
        if (v.updatedAt >= seen.updatedAt) seen = v;
        return v;
      };
      const learnRefusal = (e: unknown): never => {
        if (e instanceof RecordError && e.record) learn(e.record);
        throw e;
      };
      ledger.subscribe((v) =>
        queueMicrotask(() => {
          if (outage) return;
          learn(v);
          for (const l of listeners) l(v);
        }),
      );
      return {
        current: () => seen,
        assignment: () => ledger.assignment(peer),
        read: () => later(() => learn(ledger.view())),
        report: (report) => later(() => learn(ledger.report(peer, report))).catch(learnRefusal),
        storeSnapshot: (s) =>
          later(() => {
            const bytes = encodeCheckpoint({ session, round: s.round, x: s.x, xPrev: s.xPrev, hash: hashPair(s.x, s.xPrev), savedAt: Date.now() });
            return learn(ledger.storeSnapshot(bytes));
          }).catch(learnRefusal),
        readSnapshot: () =>
          later(() => {
            const bytes = ledger.snapshotBytes();
            if (bytes === null) return null;
            const cp = decodeCheckpoint(bytes);
            return { round: cp.round, x: cp.x, xPrev: cp.xPrev };
          }),
        subscribe(listener) {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
      };
    },
  };
}
