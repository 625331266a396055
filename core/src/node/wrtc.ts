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
 *
 * Local candidates are held back until the remote description is set, the trickled ones and
 * those libdatachannel writes into localDescription (only the offerer ever holds any: the
 * answerer gathers after it has the offer). libdatachannel (0.24.5, still so upstream) hands a
 * remote description to its ICE agent before it stores it for the DTLS fingerprint check. An answerer that already knew our candidates had connected ICE (our agent
 * answers its checks before it has the answer) and sent its DTLS ClientHello, which waited
 * here; the answer then connected ICE at once and the whole handshake ran on libdatachannel's
 * threads while the JS thread was still between the two steps. The check found no remote
 * description, the handshake failed ("DTLS alert: unknown CA"), the connection went
 * failed -> closed, and the answer's trickled candidates met "Got a remote candidate without
 * ICE transport" (about half the runs of e2e/transport/webrtc.test.ts under load; see
 * docs/signaling.md "Node's WebRTC"). Without our candidates the answerer cannot reach us before
 * the description is stored.
 */
class PeerConnection extends RTCPeerConnection {
  #heldCandidates: Event[] = [];

  override dispatchEvent(event: Event): boolean {
    if (event.type === 'icecandidate' && !this.remoteDescription?.type) {
      this.#heldCandidates.push(event);
      return true;
    }
    return super.dispatchEvent(event);
  }

  /** simple-peer signals this rather than the offer, and libdatachannel adds gathered candidates to it */
  override get localDescription(): globalThis.RTCSessionDescription {
    const d = super.localDescription;
    if (!d?.type || this.remoteDescription?.type) return d;
    const sdp = d.sdp
      .split('\r\n')
      .filter((line) => !line.startsWith('a=candidate:') && line !== 'a=end-of-candidates')
      .join('\r\n');
    return new RTCSessionDescription({ type: d.type, sdp });
  }

  override async setRemoteDescription(d: RTCSessionDescriptionInit): Promise<void> {
    // the polyfill's call into libdatachannel is synchronous: the description is stored when it returns
    await super.setRemoteDescription(d);
    for (const event of this.#heldCandidates.splice(0)) super.dispatchEvent(event);
  }

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
