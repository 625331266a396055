import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PEER_NODE_FLAGS, peerNodeArgs } from './node-flags';

describe('peer node flags', () => {
  it('the bin passes the same flags when run as a command', () => {
    const shebang = readFileSync(new URL('../bin/signvote.mjs', import.meta.url), 'utf8').split('\n')[0];
    expect(shebang.startsWith('#!/usr/bin/env -S node')).toBe(true);
    expect(shebang.split(' ').slice(3)).toEqual([...PEER_NODE_FLAGS]);
  });

  it('spawn argv puts the flags before the script', () => {
    expect(peerNodeArgs('/x/signvote.mjs', ['peer', '--json'])).toEqual([...PEER_NODE_FLAGS, '/x/signvote.mjs', 'peer', '--json']);
  });

  it('this node accepts the flags (an unknown option exits 9)', () => {
    const r = spawnSync(process.execPath, [...PEER_NODE_FLAGS, '-e', ''], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
