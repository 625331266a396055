import { describe, expect, it } from 'vitest';
import { parseSessionConfig } from '../config';
import { createStrategy } from '../optim';
import { createSkewedQuadratic } from '../sim/skewed-quadratic';
import { createMemoryHub } from '../transport/memory';
import { SessionEndedError, type SessionEvent } from './events';
import { createSessionPeer } from './peer';

/**
 * A worker step that throws (a sample the model cannot take, an engine that fails): retried at
 * once, since a lone peer has no next verdict to start another step; after three failures in a
 * row the peer gives up (`gave-up`, kind `failed`) instead of waiting forever without voting.
 */
function lonePeer(fails: (call: number) => boolean) {
  const config = parseSessionConfig({ rounds: 5, expectedPeers: 1, deadlineMs: 2000, evalEvery: 0, algorithm: { name: 'mv-sto-signsgd-sim', lr: 0.05 } });
  const problem = createSkewedQuadratic({ d: 32, seed: 3, noise: 0.5 });
  const grad = problem.gradient(0, 4);
  let calls = 0;
  const events: SessionEvent[] = [];
  const peer = createSessionPeer({
    transport: createMemoryHub().join(),
    config,
    strategy: createStrategy(config.algorithm),
    params: problem.x0,
    gradient: async (at) => {
      if (fails(calls++)) throw new Error('input 0 (sample 0) is 1.77, not a token id in [0, 32)');
      return grad(at);
    },
    onEvent: (e) => events.push(e),
  });
  return { peer, events };
}

describe('a worker step that fails', () => {
  it('three times in a row: the peer gives up saying why, instead of hanging', async () => {
    const { peer, events } = lonePeer(() => true);
    const ended = await peer.finished.then(() => null, (e: unknown) => e);
    expect(ended).toBeInstanceOf(SessionEndedError);
    expect((ended as SessionEndedError).kind).toBe('failed');
    expect(events.filter((e) => e.type === 'error')).toHaveLength(2);
    const gaveUp = events.find((e) => e.type === 'gave-up');
    expect(gaveUp).toMatchObject({ kind: 'failed', reason: 'its worker step failed 3 times in a row: input 0 (sample 0) is 1.77, not a token id in [0, 32)' });
    await peer.stop();
  });

  it('once: retried at once, and a lone peer trains to the end', async () => {
    const { peer, events } = lonePeer((call) => call === 2);
    const res = await peer.finished;
    expect(res.round).toBe(5);
    expect(events.filter((e) => e.type === 'error')).toHaveLength(1);
    expect(events.some((e) => e.type === 'gave-up')).toBe(false);
    await peer.stop();
  });
});
