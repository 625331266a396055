import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSignalingClient, type SignalingClient } from '@signvote/core';
import { PEER_NODE_FLAGS } from '@signvote/cli/node-flags';
import { bin, createSession, killAll, startPeerProcess, startServer, type CreatedSession, type ServerProcess } from './harness';

/**
 * A peer the session removes because the others cannot reach it over WebRTC, across real
 * processes: the server's reason reaches the `signvote peer` process, which says it (with what
 * to check) and exits 7; a peer whose partner is gone says that it trains alone, on one shard.
 */

let server: ServerProcess;
let rogue: SignalingClient | undefined;
/** human-mode peers (the harness tracks only its own) */
const humans: ChildProcess[] = [];

beforeAll(async () => {
  server = await startServer();
}, 60_000);

afterAll(async () => {
  rogue?.close();
  for (const c of humans) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  killAll();
  await server?.stop();
});

/** a `signvote peer` in human mode (no --json): its stderr lines, as a user sees them */
function humanPeer(session: CreatedSession, label: string) {
  const child = spawn(process.execPath, [...PEER_NODE_FLAGS, bin, 'peer', '--server', server.url, '--session', session.id, '--token', session.token, '--label', label], { stdio: ['ignore', 'ignore', 'pipe'] });
  humans.push(child);
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stderr! }).on('line', (l) => {
    lines.push(l);
    for (const w of [...waiters]) w();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const waitFor = (re: RegExp, ms: number) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${label}: no line like ${re} in ${ms} ms: ${lines.slice(-6).join(' | ')}`)), ms);
      const check = () => {
        const hit = lines.find((l) => re.test(l));
        if (hit === undefined) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(hit);
      };
      waiters.add(check);
      check();
    });
  return { child, lines, exited, waitFor };
}

describe('a peer removed as unreachable over WebRTC', () => {
  it('is told why by the signaling server, says what to check, and exits 7', async () => {
    const session = await createSession(server.url, { expectedPeers: 2, rounds: 20 });
    const peer = startPeerProcess('victim', server.url, session);
    const joined = await peer.waitForEvent((e) => e.event === 'joined', 120_000);
    // a member that never answers WebRTC and reports the peer: with two members one report drops it
    rogue = createSignalingClient(server.url, { transports: ['websocket'] });
    await rogue.join({ sessionId: session.id, token: session.token, info: { backend: 'node', label: 'reporter' } });
    rogue.reportUnreachable(String(joined.peerId));
    expect((await peer.exited).code).toBe(7);
    const disconnected = peer.events.find((e) => e.event === 'disconnected');
    expect(disconnected).toMatchObject({ reason: 'io server disconnect', dropped: expect.stringMatching(/^the signaling server removed this peer from the session: the only other member \(.+\) reported that it could not open a WebRTC connection to it\. Check that no firewall blocks UDP/) });
    const left = peer.events.find((e) => e.event === 'left');
    expect(String(left?.reason)).toContain("a TURN server relays where direct connections fail. The ICE servers are the session's: `signvote session create --ice turn:HOST:3478 ...`");
  }, 180_000);

  it('the peer left behind says it trains alone, on its shard of the data only', async () => {
    const session = await createSession(server.url, { expectedPeers: 2, rounds: 5000, evalEvery: 0 });
    const [a, b] = [humanPeer(session, 'a'), humanPeer(session, 'b')];
    await Promise.all([a.waitFor(/^round 3\//, 180_000), b.waitFor(/^round 3\//, 180_000)]);
    expect(a.lines.concat(b.lines).some((l) => l.includes('trains alone'))).toBe(false);
    b.child.kill('SIGKILL');
    const line = await a.waitFor(/trains alone/, 60_000);
    const shard = a.lines.find((l) => l.startsWith('training shard '))!.match(/^training shard (\d) of 2 \((\d+) samples\)$/)!;
    expect(line).toBe(`this peer trains alone now: the data was split for 2 peers, and only this peer's shard ${shard[1]} of 2 (${shard[2]} samples) is trained from here`);
    // and it goes on training
    const now = a.lines.filter((l) => l.startsWith('round ')).length;
    await a.waitFor(new RegExp(`^round ${now + 5}/`), 60_000);
    a.child.kill('SIGTERM');
    await a.exited;
  }, 300_000);
});
