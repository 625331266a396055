/** `@signvote/signaling`: the socket.io signaling server (docs/signaling.md). */
export { createSignalingServer, defaultLimits, type SignalingLimits, type SignalingServer, type SignalingServerOptions } from './server';
export { BUILD_CLIENT, builtClientDir } from './client-dist';
export { lanAddresses, isLoopbackHost } from './lan';
export { defaultTlsDir, readTls, selfSignedTls, tlsFromFlags, type TlsFiles } from './tls';
export type { ListedSession, ServerInfo, SessionSummary } from './directory';
export { startRedisServer, type RedisServer } from './redis-server';
export { parseRedisUrl, RedisUrlError, withoutPassword, type RedisTarget } from './redis-url';
