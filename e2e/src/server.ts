import { createSignalingServer, type SignalingServer } from '@signvote/signaling';
import { ensureClientBuild } from './build';

/**
 * The real signaling server on a free port, serving a fresh client build and its default
 * datasets (`/datasets/mnist-train.bin`, ...).
 */
export async function startServer(): Promise<SignalingServer> {
  const staticDir = await ensureClientBuild();
  return createSignalingServer({ port: 0, staticDir, logger: false });
}
