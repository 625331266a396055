/** `@signvote/signaling`: the socket.io signaling server (docs/signaling.md). */
export { createSignalingServer, defaultLimits, type SignalingLimits, type SignalingServer, type SignalingServerOptions } from './server';
export { builtClientDir } from './client-dist';
