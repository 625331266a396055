import { fork, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createRng } from '@signvote/core';
import { nodeWrtc } from '@signvote/core/node';

/**
 * A Node peer must survive the other end closing a data channel while it is sending (a tab
 * closed mid-round). With @roamhq/wrtc it did not: RTCDataChannel::Send checks the native channel
 * pointer, makes a blocking call to the signaling thread, then reads the pointer again, and a
 * close from the other end clears it on that thread in between, so the send dereferenced null
 * (SIGSEGV in node_webrtc::RTCDataChannel::Send). This test killed a wrtc sender in each of 5
 * runs on the loaded 2-core machine, after 2 to 16 rounds of open / send in a tight loop / remote
 * close; it passes with node-datachannel (core/src/node/wrtc.ts), where a send after the close
 * throws instead.
 */

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');
const rounds = 40;

const Reply = z.union([
  z.object({ kind: z.literal('ready') }),
  z.object({ kind: z.literal('answer'), sdp: z.string() }),
  z.object({ kind: z.literal('candidate'), candidate: z.string(), sdpMid: z.string().nullable() }),
  z.object({ kind: z.literal('open') }),
  z.object({ kind: z.literal('done'), sends: z.number(), refused: z.number(), closed: z.boolean() }),
]);
type Reply = z.infer<typeof Reply>;

const wrtc = nodeWrtc() as unknown as { RTCPeerConnection: typeof RTCPeerConnection };
let sender: ChildProcess | undefined;

afterAll(() => {
  if (sender && sender.exitCode === null && sender.signalCode === null) sender.kill('SIGKILL');
});

describe('a Node peer whose neighbour closes mid-send', () => {
  it(`survives ${rounds} remote closes during a tight send loop`, async () => {
    const child = fork(resolve(here, 'remote-close-sender.ts'), [], { cwd: repoRoot, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    sender = child;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
    const inbox: Reply[] = [];
    const waiting = new Set<() => void>();
    child.on('message', (raw: unknown) => {
      inbox.push(Reply.parse(raw));
      for (const w of [...waiting]) w();
    });
    let died: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    void exited.then((e) => {
      died = e;
      for (const w of [...waiting]) w();
    });
    /** the next reply of `kind` (candidates go to `onCandidate`), or null once the sender died */
    const next = <K extends Reply['kind']>(kind: K): Promise<Extract<Reply, { kind: K }> | null> =>
      new Promise((resolveNext, reject) => {
        const timer = setTimeout(() => reject(new Error(`no '${kind}' from the sender in 30 s`)), 30_000);
        const check = () => {
          const i = inbox.findIndex((m) => m.kind === kind);
          if (i < 0 && died === null) return;
          clearTimeout(timer);
          waiting.delete(check);
          resolveNext(i < 0 ? null : (inbox.splice(i, 1)[0] as Extract<Reply, { kind: K }>));
        };
        waiting.add(check);
        check();
      });

    const rng = createRng('remote-close');
    const results: { sends: number; refused: number; closed: boolean }[] = [];
    expect(await next('ready')).not.toBeNull();
    for (let round = 0; round < rounds && died === null; round++) {
      const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
      const channel = pc.createDataChannel('ballots');
      channel.onmessage = () => {};
      pc.onicecandidate = (e) => {
        if (e.candidate && died === null) child.send({ kind: 'candidate', candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid });
      };
      // candidates left from the previous round belong to a closed connection
      for (let i = inbox.findIndex((m) => m.kind === 'candidate'); i >= 0; i = inbox.findIndex((m) => m.kind === 'candidate')) inbox.splice(i, 1);
      // the sender's candidates can come before its answer; they wait for it (as simple-peer's do)
      let answered = false;
      const candidates = setInterval(() => {
        if (!answered) return;
        for (let i = inbox.findIndex((m) => m.kind === 'candidate'); i >= 0; i = inbox.findIndex((m) => m.kind === 'candidate')) {
          const c = inbox.splice(i, 1)[0] as Extract<Reply, { kind: 'candidate' }>;
          void pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid }).catch(() => undefined);
        }
      }, 5);
      try {
        const offer = await pc.createOffer();
        await pc.setLocalDescription(offer);
        child.send({ kind: 'offer', sdp: offer.sdp });
        const answer = await next('answer');
        if (!answer) break;
        await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
        answered = true;
        if (!(await next('open'))) break;
        // the close lands somewhere in the sender's tight loop
        await new Promise((r) => setTimeout(r, 20 + rng.int(150)));
        pc.close();
        const done = await next('done');
        if (!done) break;
        results.push(done);
      } finally {
        clearInterval(candidates);
        pc.close();
      }
    }
    const alive = died === null;
    child.kill('SIGTERM');
    const end = await exited;
    expect(alive, `the sender died after ${results.length} of ${rounds} remote closes: ${JSON.stringify(end)}`).toBe(true);
    expect(results).toHaveLength(rounds);
    // each close landed while the sender was sending: its later sends were refused, not a crash
    const missed = results.filter((r) => !(r.sends > 0 && r.closed));
    expect(missed, JSON.stringify(results)).toEqual([]);
  }, 180_000);
});
