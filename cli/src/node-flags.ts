/**
 * V8 flags a peer process runs with: the bin's shebang (`#!/usr/bin/env -S node ...`) passes
 * them when `signvote` is run as a command, and whoever spawns `node cli/bin/signvote.mjs peer`
 * itself (`signvote start`'s local peers, the e2e harness, the p2p and evaluation benches)
 * passes these.
 *
 * `--max-semi-space-size=32` (MiB; V8's default here is 16): a peer allocates a few d-sized
 * arrays and many small per-message objects a round, and with the default young generation the
 * message objects of a round get promoted and set off a full mark-compact every second or third
 * round. Measured with 16 peers of mlp-wide (d = 1.33M) on 2 cores, steady rounds (bench
 * `p2p wire` with `--trace-gc`): full GCs a round over all peers 5.0 -> 3.1 at k = 1 and 8.4 -> 2.8
 * at k = 16 vote shards; CPU a round 498 -> 495 ms (k = 1) and 922 -> 684 ms (k = 16). Costs at
 * most 32 MiB more RSS a peer (docs/cli.md, "Node flags of a peer").
 */
export const PEER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];

/** argv for spawning `node <flags> <bin> ...args`, the way a peer is run */
export function peerNodeArgs(bin: string, args: readonly string[]): string[] {
  return [...PEER_NODE_FLAGS, bin, ...args];
}
