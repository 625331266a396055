import { createRng, type Rng } from '../random';

/**
 * The random streams an in-process model run forks from its seed, named here once so that one
 * seed draws the same shards and mini-batches in `npm run simulate -- --model`, `npm run
 * experiment` and the tests. The names are the experiment runner's, under which results/ and
 * docs/RESULTS.md were drawn ('experiment' as the root label included), so those stay
 * reproducible. The session peers' own streams (stochastic signs, tie coins) are the
 * session's business: they fork from the session config's seed by peer id.
 */
export interface RunStreams {
  /** splits the training set over the peers (data/partition.ts) */
  readonly partition: Rng;
  /** peer `peer`'s mini-batch sampler (data/sampler.ts); peer i is the i-th to join */
  batches(peer: number): Rng;
}

export function runStreams(seed: number): RunStreams {
  const root = createRng(seed).fork('experiment');
  return { partition: root.fork('partition'), batches: (peer) => root.fork(`batch-${peer}`) };
}
