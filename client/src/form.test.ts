import { describe, expect, it } from 'vitest';
import { parseSessionConfig, sessionConfigSchema } from '@signvote/core';
import { configToForm, defaultForm, fieldLabels, fieldOrder, formToConfig, parseIceServers } from './form';

describe('session form', () => {
  it('the default form is the schema default config', () => {
    const r = formToConfig(defaultForm());
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config).toEqual(sessionConfigSchema.parse({}));
  });

  it('round-trips a non-default config through the form', () => {
    const config = parseSessionConfig({
      model: 'cnn',
      dataset: 'fashion-mnist',
      algorithm: { name: 'fed-mv-sto-signsgd-sim', lr: 0.02, schedule: { kind: 'step', milestones: [10, 20], factor: 0.5 }, theta: 0.8, R: 0.5, alpha: 4, K: 3, eta: 0.05, ties: 'zero' },
      partition: { kind: 'dirichlet', alpha: 0.3 },
      batchSize: 16,
      rounds: 90,
      expectedPeers: 3,
      voteShards: 3,
      seed: 42,
      deadlineMs: 800,
      evalEvery: 5,
      iceServers: [{ urls: 'stun:example.org:3478' }, { urls: ['turn:a.org', 'turn:b.org'], username: 'u', credential: 'p' }],
    });
    const r = formToConfig(configToForm(config));
    expect(r).toEqual({ ok: true, config });
  });

  it('reports each bad value on its own field in plain words', () => {
    const f = { ...defaultForm(), voteShards: '0', lr: '-1', theta: '1', K: '2.5', batchSize: '', seed: 'abc', partition: 'dirichlet' as const, dirichletAlpha: '0' };
    const r = formToConfig(f);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.lr).toBe('must be greater than 0');
    expect(r.errors.theta).toBe('must be less than 1');
    expect(r.errors.K).toBe('must be a whole number');
    expect(r.errors.batchSize).toBe('must be a number');
    expect(r.errors.seed).toBe('must be a number');
    expect(r.errors.dirichletAlpha).toBe('must be greater than 0');
    expect(r.errors.voteShards).toBe('must be at least 1');
    expect(r.errors.rounds).toBeUndefined();
  });

  it('validates schedule details only for the chosen schedule', () => {
    expect(formToConfig({ ...defaultForm(), schedule: 'constant', milestones: 'junk', rate: 'junk' }).ok).toBe(true);
    const step = formToConfig({ ...defaultForm(), schedule: 'step', milestones: '10, x', factor: '2' });
    expect(step.ok || step.errors).toEqual({ milestones: expect.any(String), factor: 'must be at most 1' });
    const exp = formToConfig({ ...defaultForm(), schedule: 'exponential', rate: '0.99' });
    expect(exp.ok && exp.config.algorithm.schedule).toEqual({ kind: 'exponential', rate: 0.99 });
  });

  it('parses ICE servers one per line and rejects malformed lines', () => {
    expect(parseIceServers('')).toEqual({ servers: [] });
    expect(parseIceServers('stun:a:1\nturn:b,turns:c user pass')).toEqual({
      servers: [{ urls: 'stun:a:1' }, { urls: ['turn:b', 'turns:c'], username: 'user', credential: 'pass' }],
    });
    expect(parseIceServers('http://x').error).toMatch(/line 1/);
    expect(parseIceServers('stun:a\nturn:b user').error).toMatch(/line 2: give both/);
    // the schema's RFC 7064/7065 check, entry named: a scheme alone is not enough
    expect(parseIceServers('stun:a\nturn:b,turn:bad host?x user pass').error).toMatch(/^line 2: /);
    expect(parseIceServers('stun:ok.org,stun:').error).toBe('line 1: "stun:" is not a STUN or TURN URL: write stun:host[:port], stuns:host[:port], turn:host[:port][?transport=udp|tcp] or turns:host[:port][?transport=udp|tcp] (RFC 7064, 7065)');
    expect(parseIceServers('stun:a?transport=udp').error).toMatch(/"stun:a\?transport=udp" is not a STUN or TURN URL/);
    expect(parseIceServers('turn:a:3478?transport=tcp').error).toBeUndefined();
  });

  it('reads decimal numbers only: hex, binary and Infinity are refused', () => {
    for (const text of ['0x10', '0b11', '0o7', 'Infinity', '1_000', '1e']) {
      const r = formToConfig({ ...defaultForm(), rounds: text, milestones: text, schedule: 'step' });
      expect(r.ok, text).toBe(false);
      if (r.ok) continue;
      expect(r.errors.rounds, text).toBe('must be a number');
      expect(r.errors.milestones, text).toBeDefined();
    }
    const r = formToConfig({ ...defaultForm(), rounds: ' 16 ', lr: '.5e-2', theta: '+0.5' });
    expect(r.ok && [r.config.rounds, r.config.algorithm.lr, r.config.algorithm.theta]).toEqual([16, 0.005, 0.5]);
  });

  it('lists the errors in form order, so the first bad field on screen gets the focus', () => {
    expect([...fieldOrder].sort()).toEqual(Object.keys(fieldLabels).sort());
    const r = formToConfig({ ...defaultForm(), seed: 'x', iceServers: 'notaurl', schedule: 'step', milestones: '', lr: '0' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(Object.keys(r.errors)).toEqual(['seed', 'lr', 'milestones', 'iceServers']);
  });
});
