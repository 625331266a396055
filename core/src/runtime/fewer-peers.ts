/**
 * Says when fewer peers train than the session's data was split for: shards are fixed once a
 * session starts (docs/session.md "Shards"), so when members leave or are removed, their shards
 * are not trained from then on, and a peer left alone trains on its own shard only. The CLI
 * prints the sentence on stderr, a browser tab in its log.
 *
 * Feed it the session's expected peers, this peer's shard once assigned, each term's member
 * count, and the last round applied; `members()` returns a sentence when the count drops below
 * the split (once per new low, again after the session is back to full), else null. After the
 * last round the others leave as they finish: that is not training with fewer, so it says nothing.
 */
export interface FewerPeersWatch {
  shard(info: { readonly shard: number; readonly shards: number; readonly size: number }): string | null;
  members(count: number): string | null;
  /** the session's last round was applied: nothing more to say */
  done(): void;
}

export function watchFewerPeers(expectedPeers: number): FewerPeersWatch {
  let shard: { shard: number; shards: number; size: number } | undefined;
  /** null until the first term is heard */
  let members: number | null = null;
  let noted = Infinity;
  let done = false;
  const check = (): string | null => {
    if (done || !shard || members === null) return null;
    // own data: every peer is its own shard, so the session's size is what it was made for
    const split = shard.shards > 1 ? shard.shards : expectedPeers;
    if (members >= split) {
      noted = Infinity;
      return null;
    }
    if (members >= noted) return null;
    noted = members;
    return fewerPeers(members, split, shard);
  };
  return {
    shard(info) {
      shard = { shard: info.shard, shards: info.shards, size: info.size };
      return check();
    },
    members(count) {
      members = count;
      return check();
    },
    done() {
      done = true;
    },
  };
}

function fewerPeers(now: number, split: number, shard: { shard: number; shards: number; size: number }): string {
  if (shard.shards === 1) return now === 1 ? `this peer trains alone now (the session was made for ${split}), on its own data only` : `${now} of the ${split} peers the session was made for train now`;
  const missing = split - now;
  if (now === 1) return `this peer trains alone now: the data was split for ${split} peers, and only this peer's shard ${shard.shard + 1} of ${shard.shards} (${shard.size} samples) is trained from here`;
  return `${now} of the ${split} peers the data was split for train now: ${missing} shard${missing === 1 ? ' is' : 's are'} not trained from here`;
}
