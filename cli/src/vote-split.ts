import type { Role, TalliedRange, VoteSplit } from '@signvote/core';

/**
 * How the CLI tells a user about vote shards (docs/session.md "Vote shards"): the role label of a
 * progress line, the one note per term saying how the vote is split (and why k is below what was
 * asked), and the note at session creation when more shards are asked than peers are expected.
 * Ranges are counted from 1 here (range 1 of 4 .. 4 of 4); `--json` keeps the 0-based `index` of
 * the round event, as the protocol's `slice`.
 */

/** `worker`, or with k > 1 `worker · range 3/4` (the range this peer tallies, counted from 1). */
export function roleLabel(role: Role, split: VoteSplit, voteShard: TalliedRange | null): string {
  return split.k > 1 && voteShard !== null ? `${role} · range ${voteShard.index + 1}/${voteShard.of}` : role;
}

/** Why a term has fewer vote shards than asked, as the clause after "asked N: ". */
function limitReason(split: VoteSplit, d: number | undefined): string {
  if (split.limit === 'members') return 'at most one per member';
  return `at most one per 8 coordinates${d === undefined ? '' : `, d = ${d}`}`;
}

/**
 * The note for a term that applied rounds here, e.g. `term 3: vote in 4 shards (asked 8: at most
 * one per member); this peer tallies range 3 of 4, coordinates [24, 40)`. null for a session that
 * never asked for vote shards (k = asked = 1): nothing to say.
 */
export function describeVoteSplit(term: number, split: VoteSplit, voteShard: TalliedRange | null, d?: number): string | null {
  const { k, asked } = split;
  if (k === 1 && asked === 1) return null;
  const shards = `${k} shard${k === 1 ? '' : 's'}`;
  const why = k < asked ? ` (asked ${asked}: ${limitReason(split, d)})` : '';
  const mine =
    k === 1
      ? voteShard !== null
        ? 'this peer, the aggregator, tallies whole ballots'
        : "the term's aggregator tallies whole ballots"
      : voteShard !== null
        ? `this peer tallies range ${voteShard.index + 1} of ${k}, coordinates [${voteShard.start}, ${voteShard.end})`
        : `this peer tallies no range (members 1 to ${k} in join order do)`;
  return `term ${term}: vote in ${shards}${why}; ${mine}`;
}

/**
 * At session creation: asking more vote shards than peers are expected is allowed (a term with
 * more members gets more), but the user should know that k is at most one per member.
 */
export function voteShardsAtCreation(config: { readonly voteShards: number; readonly expectedPeers: number }): string | null {
  const { voteShards, expectedPeers } = config;
  if (voteShards <= expectedPeers) return null;
  return (
    `note: --vote-shards ${voteShards} with ${expectedPeers} expected peers: a term has at most one vote shard per member, ` +
    `so the vote is split ${expectedPeers} ways while ${expectedPeers} peers take part (each term's split is printed by the peers)`
  );
}
