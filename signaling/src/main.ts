import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { BUILD_CLIENT, builtClientDir } from './client-dist';
import { parseRedisUrl } from './redis-url';
import { createSignalingServer } from './server';
import { tlsFromFlags } from './tls';

/** CLI: `tsx signaling/src/main.ts --port 8080 --host 0.0.0.0 --static client/dist [--https]` */
const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is an integer in 0..65535');
  return n;
};

const program = new Command()
  .name('signvote-signaling')
  .description('signvote signaling server: sessions, membership epochs, WebRTC signal relay, datasets, the client build')
  .option('-p, --port <port>', 'port to listen on (0: any free port)', port, Number(process.env.PORT ?? 8080))
  .option('-H, --host <host>', 'interface to bind; 0.0.0.0 accepts phones and other machines on the LAN', process.env.HOST ?? '127.0.0.1')
  .option('-s, --static <dir>', 'directory with the built client to serve at / (default: client/dist when built)')
  .option('--public-url <url>', 'base URL for join links (default: the LAN address when bound to 0.0.0.0)')
  .option('--https', 'serve HTTPS with a self-signed certificate (kept in ~/.config/signvote/tls)')
  .option('--cert <file>', 'serve HTTPS with this PEM certificate (with --key)')
  .option('--key <file>', 'PEM private key of --cert')
  .option('--redis <url>', 'keep sessions in this Redis (redis://host:port or redis+sentinel://host1:26379,host2:26379/NAME) and share them with every server process started with it', process.env.REDIS_URL)
  .option('--redis-prefix <prefix>', 'Redis key prefix: servers with the same --redis and prefix serve the same sessions', 'signvote:')
  .parse();

const opts = program.opts<{ port: number; host: string; static?: string; publicUrl?: string; https?: boolean; cert?: string; key?: string; redis?: string; redisPrefix: string }>();
if (opts.redis !== undefined) {
  try {
    parseRedisUrl(opts.redis);
  } catch (err) {
    console.error(`--redis / REDIS_URL: ${(err as Error).message}`);
    process.exit(2);
  }
}
const staticDir = opts.static ? resolve(opts.static) : builtClientDir();
const tls = await tlsFromFlags(opts);
const server = await createSignalingServer({
  port: opts.port,
  host: opts.host,
  staticDir,
  publicUrl: opts.publicUrl,
  tls,
  redis: opts.redis,
  redisPrefix: opts.redisPrefix,
});
console.log(`signaling server on ${server.url}${server.shareUrl !== server.url ? ` (other machines: ${server.shareUrl})` : ''}${staticDir ? `, serving ${staticDir}` : ` (client not built: ${BUILD_CLIENT})`}`);
if (tls?.selfSigned) console.log(`self-signed certificate: ${tls.certPath} (also at ${server.shareUrl}/cert.pem)`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
