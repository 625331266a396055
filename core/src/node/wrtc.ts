import { RTCIceCandidate, RTCPeerConnection, RTCSessionDescription } from 'node-datachannel/polyfill';
import type { WrtcImplementation } from '../transport/webrtc';

/**
 * WebRTC for Node peers: node-datachannel's W3C polyfill over libdatachannel. Kept under
 * src/node/ so the isomorphic core never pulls a native module into a browser bundle; browsers
 * pass nothing and simple-peer uses the page's own RTCPeerConnection.
 *
 * Not @roamhq/wrtc: its RTCDataChannel::Send checks the native channel pointer, makes a blocking
 * call to the signaling thread, then reads the pointer again, while a close from the other end
 * (a tab closing) clears that pointer on the signaling thread. A send in that window dereferenced
 * null and killed the process with SIGSEGV, more often the longer the JS thread waits to be
 * scheduled, i.e. under CPU load (docs/signaling.md "Node's WebRTC"; the regression test is
 * e2e/transport/remote-close.test.ts). libdatachannel's channels keep their state on the JS side
 * and a send to a closed channel throws instead.
 */
export function nodeWrtc(): WrtcImplementation {
  return { RTCPeerConnection: PeerConnection, RTCSessionDescription, RTCIceCandidate } as unknown as WrtcImplementation;
}

/**
 * The polyfill, fitted to simple-peer. simple-peer writes `description.sdp` (its sdpTransform hook) on what createOffer/createAnswer
 * return, and the polyfill's descriptions are read-only: hand out plain `{ type, sdp }` objects,
 * as browsers' RTCSessionDescriptionInit.
 */
class PeerConnection extends RTCPeerConnection {
  override async createOffer(): Promise<RTCSessionDescriptionInit> {
    const d = await super.createOffer();
    return { type: d.type, sdp: d.sdp };
  }

  /**
   * libdatachannel has already set its offer when the data channel was created; simple-peer sets
   * it again, and a second local offer restarted the connection's ICE agent, so the answer's
   * candidates then met no ICE transport ("Got a remote candidate without ICE transport").
   */
  override async setLocalDescription(d: RTCSessionDescriptionInit): Promise<void> {
    if (d.type === 'offer' && this.signalingState === 'have-local-offer') return;
    return super.setLocalDescription(d);
  }

  override async createAnswer(): Promise<RTCSessionDescriptionInit> {
    const d = await super.createAnswer();
    return { type: d.type, sdp: d.sdp };
  }
}
