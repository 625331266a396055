import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { CliError, EXIT } from './exit';
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

describe('session config files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signvote-config-'));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const usage = (fn: () => unknown): CliError => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(CliError);
      expect((err as CliError).code).toBe(EXIT.usage);
      return err as CliError;
    }
    throw new Error('no error');
  };

  it('refuses unknown keys with their path and the near known key', () => {
    const typo = file('typo.json', JSON.stringify({ expectedPeer: 2, round: 10, algorithm: { name: 'signsgd', lrr: 0.1 } }));
    expect(usage(() => sessionConfigFromFlags(parse('--config', typo))).message).toBe(
      `--config ${typo}: unknown keys expectedPeer (did you mean expectedPeers?), round (did you mean rounds?), algorithm.lrr (did you mean lr?) (the keys: docs/cli.md, "signvote session create")`,
    );
    // a flag's name in the file points to the key it sets
    const flagNames = file('flags.json', JSON.stringify({ peers: 2, batch: 8 }));
    expect(usage(() => sessionConfigFromFlags(parse('--config', flagNames))).message).toMatch(/unknown keys peers \(did you mean expectedPeers\?\), batch \(did you mean batchSize\?\)/);
    expect(usage(() => sessionConfigFromFlags(parse('--config', '/nonexistent/c.json'))).message).toBe('--config /nonexistent/c.json: no such file');
    const bogus = file('bogus.json', JSON.stringify({ expectedPeers: 2, bogusKey: 1 }));
    expect(usage(() => sessionConfigFromFlags(parse('--config', bogus))).message).toMatch(/unknown key bogusKey \(the keys/);
    const ok = file('ok.json', JSON.stringify({ expectedPeers: 2, rounds: 10, algorithm: { name: 'signsgd', lr: 0.01 }, partition: { kind: 'iid' } }));
    expect(sessionConfigFromFlags(parse('--config', ok))).toMatchObject({ expectedPeers: 2, rounds: 10 });
  });

  it('refuses a file that is not one JSON object', () => {
    const arr = file('arr.json', '[1,2]');
    expect(usage(() => sessionConfigFromFlags(parse('--config', arr))).message).toMatch(/a session config is one JSON object.*not an array/);
    const num = file('num.json', '3');
    expect(usage(() => sessionConfigFromFlags(parse('--config', num))).message).toMatch(/not 3$/);
  });

  it('refuses --dataset with --data-spec (one of them trains)', () => {
    const spec = file('spec.json', JSON.stringify({ format: 'csv', classes: ['a', 'b'] }));
    expect(usage(() => sessionConfigFromFlags(parse('--dataset', 'mnist', '--data-spec', spec))).message).toBe(
      `--dataset mnist and --data-spec ${spec} ask for both the server's data and each peer's own: give one of them`,
    );
    expect(sessionConfigFromFlags(parse('--data-spec', spec)).data).toMatchObject({ format: 'csv' });
  });

  it('an empty --model file says so, as model check does', () => {
    const empty = file('empty.onnx', '');
    expect(usage(() => sessionConfigFromFlags(parse('--model', empty))).message).toBe(`--model ${empty}: the model file is empty (0 bytes); export it again (docs/models.md)`);
  });
});
