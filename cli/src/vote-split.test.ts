import { describe, expect, it } from 'vitest';
import { describeVoteSplit, roleLabel, voteShardsAtCreation } from './vote-split';

describe('the vote split in CLI lines', () => {
  it('says once per term how the vote is split, and why k is below what was asked', () => {
    expect(describeVoteSplit(3, { k: 4, asked: 8, limit: 'members' }, { index: 2, of: 4, start: 16, end: 24 }, 30)).toBe(
      'term 3: vote in 4 shards (asked 8: at most one per member); this peer tallies range 3 of 4, coordinates [16, 24)',
    );
    expect(describeVoteSplit(2, { k: 3, asked: 5, limit: 'coordinates' }, null, 20)).toBe(
      'term 2: vote in 3 shards (asked 5: at most one per 8 coordinates, d = 20); this peer tallies no range (members 1 to 3 in join order do)',
    );
    expect(describeVoteSplit(1, { k: 2, asked: 2, limit: null }, { index: 0, of: 2, start: 0, end: 32 })).toBe(
      'term 1: vote in 2 shards; this peer tallies range 1 of 2, coordinates [0, 32)',
    );
    // a lone peer of a session that asked for 4: the star, and the reason
    expect(describeVoteSplit(5, { k: 1, asked: 4, limit: 'members' }, { index: 0, of: 1, start: 0, end: 61 })).toBe(
      'term 5: vote in 1 shard (asked 4: at most one per member); this peer, the aggregator, tallies whole ballots',
    );
    // nobody asked: nothing to say
    expect(describeVoteSplit(1, { k: 1, asked: 1, limit: null }, null)).toBeNull();
  });

  it('labels the role with the range tallied only when the vote is split', () => {
    expect(roleLabel('aggregator', { k: 4, asked: 4, limit: null }, { index: 0, of: 4, start: 0, end: 8 })).toBe('aggregator · range 1/4');
    expect(roleLabel('worker', { k: 4, asked: 4, limit: null }, { index: 3, of: 4, start: 24, end: 30 })).toBe('worker · range 4/4');
    expect(roleLabel('worker', { k: 2, asked: 2, limit: null }, null)).toBe('worker');
    expect(roleLabel('aggregator', { k: 1, asked: 1, limit: null }, { index: 0, of: 1, start: 0, end: 30 })).toBe('aggregator');
  });

  it('notes at creation that more shards than expected peers are clamped', () => {
    expect(voteShardsAtCreation({ voteShards: 8, expectedPeers: 4 })).toMatch(/--vote-shards 8 with 4 expected peers: .*at most one vote shard per member.*split 4 ways/);
    expect(voteShardsAtCreation({ voteShards: 4, expectedPeers: 4 })).toBeNull();
  });
});
