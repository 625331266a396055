import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addSessionFlags, sessionConfigFromFlags, type SessionFlags } from './session-flags';

const parse = (...args: string[]): SessionFlags => {
  const cmd = addSessionFlags(new Command().exitOverride().configureOutput({ writeErr: () => {} }));
  cmd.parse(args, { from: 'user' });
  return cmd.opts<SessionFlags>();
};

describe('session flags', () => {
  it('--vote-shards sets voteShards; without it the session has one aggregator', () => {
    expect(sessionConfigFromFlags(parse('--vote-shards', '4', '--peers', '4'))).toMatchObject({ voteShards: 4, expectedPeers: 4 });
    expect(sessionConfigFromFlags(parse())).toMatchObject({ voteShards: 1 });
    expect(() => parse('--vote-shards', '0')).toThrow(/vote-shards must be an integer >= 1/);
  });
});
