import { describe, expect, it } from 'vitest';
import { watchFewerPeers } from './fewer-peers';

describe('watchFewerPeers', () => {
  it('says once per new low when members drop below the split, and again after the session was full', () => {
    const w = watchFewerPeers(3);
    expect(w.members(3)).toBeNull(); // no shard yet: nothing to say
    expect(w.shard({ shard: 0, shards: 3, size: 2000 })).toBeNull();
    expect(w.members(2)).toBe('2 of the 3 peers the data was split for train now: 1 shard is not trained from here');
    expect(w.members(2)).toBeNull();
    expect(w.members(1)).toBe("this peer trains alone now: the data was split for 3 peers, and only this peer's shard 1 of 3 (2000 samples) is trained from here");
    expect(w.members(3)).toBeNull();
    expect(w.members(2)).toMatch(/^2 of the 3 peers/);
  });

  it('counts own-data sessions against the expected peers, and is quiet after the last round', () => {
    const w = watchFewerPeers(2);
    expect(w.shard({ shard: 0, shards: 1, size: 240 })).toBeNull();
    w.done();
    expect(w.members(1)).toBeNull();
    const v = watchFewerPeers(2);
    v.shard({ shard: 0, shards: 1, size: 240 });
    expect(v.members(1)).toBe('this peer trains alone now (the session was made for 2), on its own data only');
  });
});
