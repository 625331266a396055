import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { nodeWrtc } from '@signvote/core/node';

/**
 * The answering end for remote-close.test.ts, a process of its own (forked with tsx), so that a
 * native crash shows as this process dying by a signal. For each offer from the parent it
 * answers, and once the channel is open it calls send / bufferedAmount / readyState in a tight
 * loop while the parent closes its peer connection. Busy worker threads keep every core taken
 * meanwhile: the crash needed the JS thread to wait for a core between two native steps.
 */

const Signal = z.union([
  z.object({ kind: z.literal('offer'), sdp: z.string() }),
  z.object({ kind: z.literal('candidate'), candidate: z.string(), sdpMid: z.string().nullable() }),
]);

const wrtc = nodeWrtc() as unknown as { RTCPeerConnection: typeof RTCPeerConnection };
const send = (m: unknown) => process.send!(m);
/** the busy threads' share of a round; the loop itself runs until the close arrives */
const loadMs = 400;
/** a close that has not arrived by then is reported as not seen */
const capMs = 10_000;
let pc: RTCPeerConnection | null = null;

/** threads that only burn CPU, for the length of one spin */
function loadCores(ms: number): void {
  const code = `const end = Date.now() + ${ms}; while (Date.now() < end) {}`;
  for (let i = 0; i < availableParallelism(); i++) new Worker(code, { eval: true }).unref();
}

function hammer(channel: RTCDataChannel, peer: RTCPeerConnection): void {
  send({ kind: 'open' });
  loadCores(loadMs);
  const frame = new Uint8Array(64);
  const until = Date.now() + capMs;
  let sends = 0;
  let refused = 0;
  const slice = () => {
    // synchronous slices, so the close from the other end lands while a call is in progress
    const stop = Date.now() + 20;
    while (Date.now() < stop) {
      try {
        if (channel.bufferedAmount < 1 << 20) {
          channel.send(frame);
          sends++;
        }
        void channel.readyState;
      } catch {
        refused++;
      }
    }
    const closed = refused > 0 && channel.readyState === 'closed';
    if (!closed && Date.now() < until) return void setImmediate(slice);
    peer.close();
    send({ kind: 'done', sends, refused, closed });
  };
  slice();
}

process.on('message', (raw: unknown) => {
  const m = Signal.parse(raw);
  if (m.kind === 'candidate') {
    void pc?.addIceCandidate({ candidate: m.candidate, sdpMid: m.sdpMid }).catch(() => undefined);
    return;
  }
  const peer = new wrtc.RTCPeerConnection({ iceServers: [] });
  pc = peer;
  peer.onicecandidate = (e) => {
    if (e.candidate) send({ kind: 'candidate', candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid });
  };
  peer.ondatachannel = (e) => {
    const channel = e.channel;
    channel.binaryType = 'arraybuffer';
    if (channel.readyState === 'open') hammer(channel, peer);
    else channel.onopen = () => hammer(channel, peer);
  };
  void (async () => {
    await peer.setRemoteDescription({ type: 'offer', sdp: m.sdp });
    const answer = await peer.createAnswer();
    await peer.setLocalDescription(answer);
    send({ kind: 'answer', sdp: answer.sdp });
  })();
});
send({ kind: 'ready' });
