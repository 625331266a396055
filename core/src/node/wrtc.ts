import wrtc from '@roamhq/wrtc';
import type { WrtcImplementation } from '../transport/webrtc';

/**
 * WebRTC for Node peers (the native @roamhq/wrtc binding). Kept under src/node/ so the
 * isomorphic core never pulls a native module into a browser bundle; browsers pass nothing and
 * simple-peer uses the page's own RTCPeerConnection.
 */
export function nodeWrtc(): WrtcImplementation {
  return wrtc as unknown as WrtcImplementation;
}
