import type { z } from 'zod';
import { algorithmConfigSchema, type AlgorithmConfig } from '../config';
import { createEfSignSgdStrategy } from './ef-signsgd';
import { createSgdMomentumStrategy } from './sgd-m';
import { createSignVoteStrategy } from './sign-vote';
import type { Strategy } from './strategy';

/** The paper's algorithms as strategies; see docs/algorithms.md. */
export type {
  Ballot,
  BallotKind,
  Update,
  UpdateKind,
  GradientFn,
  WorkerContext,
  WorkerState,
  Strategy,
  Tally,
  Trusted,
  TrustedBallot,
  TrustedUpdate,
} from './strategy';
export {
  encodeBallot,
  decodeBallot,
  encodeUpdate,
  decodeUpdate,
  ballotBytes,
  updateBytes,
  encodedUpdateBytes,
  checkBallot,
  checkUpdate,
  trustBallot,
  trustUpdate,
} from './codec';
export { lrAt } from './schedule';
export { effectiveVoteShards, voteShardRanges, sliceBallot, joinUpdates, type VoteShardRange } from './vote-shards';

export type AlgorithmConfigInput = z.input<typeof algorithmConfigSchema>;

/**
 * The strategy for `config.name`. The config is validated here (it may come off the wire),
 * with defaults filled in; a bad value (theta outside [0, 1), R <= 0, ...) throws an error
 * that names the field.
 */
export function createStrategy(config: AlgorithmConfigInput | AlgorithmConfig): Strategy {
  const parsed = algorithmConfigSchema.safeParse(config ?? {});
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new RangeError(`invalid algorithm config: ${detail}`);
  }
  const c = parsed.data;
  switch (c.name) {
    case 'sgd-m':
      return createSgdMomentumStrategy(c);
    case 'ef-signsgd':
      return createEfSignSgdStrategy(c);
    default:
      return createSignVoteStrategy(c);
  }
}
