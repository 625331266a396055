import { describe, expect, it } from 'vitest';
import type { SessionRecordView } from '@signvote/core';
import { describeRecord } from './session';

const record = (over: Partial<SessionRecordView>): SessionRecordView => ({
  status: 'waiting',
  round: 0,
  hash: null,
  term: 0,
  shards: null,
  startedAt: null,
  finished: null,
  eval: null,
  snapshot: null,
  resumable: false,
  updatedAt: 0,
  ...over,
});

describe('session status lines', () => {
  it('a waiting session says how many of the expected peers are present', () => {
    expect(describeRecord('s1', 100, record({}), 0, 4)).toEqual(['session s1 is waiting for peers, 0 of 4 peers present']);
    expect(describeRecord('s1', 100, record({}), 1, 1)).toEqual(['session s1 is waiting for peers, 1 of 1 peer present']);
  });

  it('a running session counts the peers present only', () => {
    expect(describeRecord('s1', 100, record({ status: 'running', round: 7, hash: 'ab', term: 2, shards: 3 }), 3, 4)).toEqual([
      'session s1 is running: round 7/100 committed (parameters ab, term 2), 3 shards, 3 peers present',
    ]);
  });
});
