import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { builtClientDir } from './client-dist';
import { createSignalingServer } from './server';

/** CLI: `tsx signaling/src/main.ts --port 8080 --host 0.0.0.0 --static client/dist` */
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
  .option('--public-url <url>', 'base URL for join links (default: the Host header of the creating request)')
  .parse();

const opts = program.opts<{ port: number; host: string; static?: string; publicUrl?: string }>();
const staticDir = opts.static ? resolve(opts.static) : builtClientDir();
const server = await createSignalingServer({
  port: opts.port,
  host: opts.host,
  staticDir,
  publicUrl: opts.publicUrl,
});
console.log(`signaling server on ${server.url}${opts.host === '0.0.0.0' ? ' (all interfaces)' : ''}${staticDir ? `, serving ${staticDir}` : ''}`);

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
