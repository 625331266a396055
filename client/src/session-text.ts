import type { Role, VoteSplit } from './peer-messages';
import type { SessionSnapshot } from './session-model';

/**
 * What the session view says in words, read from a snapshot (session-model.ts): the state line,
 * roles, the vote split, and how long a notice stays up. Pure functions, so the page and the
 * tests read the same sentences.
 */

/**
 * A role as the page says it: `worker`, or with k > 1 vote shards `worker · tallies range 3/4`
 * (ranges counted from 1 on the page; the protocol's index counts from 0).
 */
export function describeRole(role: Role, voteShard: { readonly index: number; readonly of: number } | undefined | null): string {
  return voteShard && voteShard.of > 1 ? `${role} · tallies range ${voteShard.index + 1}/${voteShard.of}` : role;
}

/** The vote shards in effect vs asked, e.g. `4 (asked 8: at most one per member)`; `—` until known. */
export function describeSplit(split: VoteSplit | null, d: number | null): string {
  if (split === null) return '—';
  if (split.k >= split.asked) return String(split.k);
  const why = split.limit === 'members' ? 'at most one per member' : `at most one per 8 coordinates${d === null ? '' : `, d = ${d}`}`;
  return `${split.k} (asked ${split.asked}: ${why})`;
}

/**
 * How long a notice stays up: at least this many rounds and this many ms, so it can be read
 * both in a slow session and in one that runs ten rounds a second.
 */
export const noticeRounds = 10;
export const noticeMs = 10_000;

const recent = (round: number, at: number, s: SessionSnapshot, now: number): boolean =>
  s.round - round <= noticeRounds || now - at < noticeMs;

/** True while the "aggregator changed" notice should stay up. */
export function aggregatorRecentlyChanged(s: SessionSnapshot, now = Date.now()): boolean {
  return s.aggregatorChangedAt !== null && s.aggregatorChangedTime !== null && s.state !== 'finished' && recent(s.aggregatorChangedAt, s.aggregatorChangedTime, s, now);
}

/** True while the "your ballot was not counted" notice should stay up. */
export function recentlyNotCounted(s: SessionSnapshot, now = Date.now()): boolean {
  return s.notCounted !== null && s.state === 'training' && recent(s.notCounted.round, s.notCounted.at, s, now);
}

/** The plain-language state line the page shows. */
export function describeState(s: SessionSnapshot): string {
  switch (s.state) {
    case 'idle':
      return 'Not started';
    case 'connecting':
      return 'Connecting to peers…';
    case 'waiting': {
      // the aggregator's count, else the members this tab knows of: every role says n of N
      const count = s.detail ?? (s.expectedPeers !== null && s.peers.length > 0 ? `${s.peers.length} of ${s.expectedPeers} peers` : null);
      return count ? `Waiting for peers (${count})` : 'Waiting for peers';
    }
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

/** `1 peer`, `2 peers`: a count and its noun, for the page's sentences. */
export function plural(n: number | string, noun: string): string {
  return `${n} ${noun}${Number(n) === 1 ? '' : 's'}`;
}
