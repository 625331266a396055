/**
 * V8 flags a peer process runs with: the bin's shebang (`#!/usr/bin/env -S node ...`) passes
 * them when `signvote` is run as a command, and whoever spawns `node cli/bin/signvote.mjs peer`
 * itself (`signvote start`'s local peers, the e2e harness, the p2p benches) passes these.
 *
 * `--max-semi-space-size=32` (MiB; V8's default here is 16): a peer allocates a few d-sized
 * arrays and many small per-message objects a round, and with the default young generation the
 * message objects of a round get promoted and set off a full mark-compact every second or third
 * round. Measured with 16 peers of mlp-wide (d = 1.33M) on 2 cores, steady rounds, `--trace-gc`:
 * with the default, 4.8 mark-compacts a round over all peers at k = 1 and 8.2 at k = 16 vote
 * shards; with 32 MiB, 2.6 and 1.75, and CPU per round 517 -> 503 ms (k = 1) and 1106 -> 695 ms
 * (k = 16). Costs at most 32 MiB more RSS a peer (docs/cli.md, "Node flags of a peer").
 */
export const PEER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];

/** argv for spawning `node <flags> <bin> ...args`, the way a peer is run */
export function peerNodeArgs(bin: string, args: readonly string[]): string[] {
  return [...PEER_NODE_FLAGS, bin, ...args];
}
