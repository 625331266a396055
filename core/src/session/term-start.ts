import type { RecordPoint, SessionRecordView } from '../record/record';
import type { PeerId } from '../transport/transport';

/**
 * Where a term's first round starts (docs/session.md, "The peer side of the record"): the most
 * advanced state among the members' statuses, made to fit the session record. Pure, so the rule
 * is read and tested in one place.
 *
 * - No record: the most advanced state (`best`).
 * - A finished record: its end, from a member that holds it, else from the stored snapshot.
 * - A running one: `best` if it is the committed head or beyond it (every state beyond the head
 *   was decided by a term that started from it); else the head, from a member that holds it or
 *   from the stored snapshot of it. After every peer left (`resumable`), `best` or the stored
 *   snapshot, whichever is further (the record accepts a report from a point it knows).
 * - Otherwise nobody can reach the committed state: `fail`, with the reason.
 */
export type TermStart =
  | { readonly kind: 'peer'; readonly round: number; readonly hash: string; readonly holders: readonly PeerId[] }
  | { readonly kind: 'record'; readonly point: RecordPoint }
  | { readonly kind: 'fail'; readonly reason: string };

export function termStart(
  record: SessionRecordView | null,
  best: Extract<TermStart, { kind: 'peer' }>,
  members: readonly PeerId[],
  statusOf: (peer: PeerId) => { readonly round: number; readonly hash: string } | undefined,
): TermStart {
  if (record === null) return best;
  const fromPeers = (point: RecordPoint): TermStart | null => {
    const holders = members.filter((p) => {
      const s = statusOf(p);
      return s !== undefined && s.round === point.round && s.hash === point.hash;
    });
    return holders.length > 0 ? { kind: 'peer', round: point.round, hash: point.hash, holders } : null;
  };
  const stored = record.snapshot;
  if (record.status === 'finished' && record.finished) {
    const end = { round: record.finished.round, hash: record.finished.hash };
    return fromPeers(end) ?? { kind: 'record', point: end };
  }
  if (record.hash === null) return best;
  const head = { round: record.round, hash: record.hash };
  if (best.round > head.round || (best.round === head.round && best.hash === head.hash)) return best;
  const held = fromPeers(head);
  if (held) return held;
  if (record.resumable) {
    if (stored && stored.round > best.round) return { kind: 'record', point: { round: stored.round, hash: stored.hash } };
    return best;
  }
  if (stored && stored.round === head.round && stored.hash === head.hash) return { kind: 'record', point: head };
  return {
    kind: 'fail',
    reason:
      `the session record holds round ${head.round} (parameters ${head.hash}), which no member holds ` +
      `(the most advanced is at round ${best.round}) and the stored snapshot ${stored ? `is of round ${stored.round}` : 'does not exist'}`,
  };
}
