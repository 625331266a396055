import { InvalidArgumentError, type Command } from 'commander';
import type { Logger } from 'pino';
import { CliError, EXIT } from './exit';

/**
 * The server flags of `signvote serve` and `signvote start`: where it listens, the base of join
 * links for other machines, and HTTPS (docs/cli.md, docs/signaling.md "HTTPS for phones").
 */

export interface ServerFlags {
  port: number;
  host: string;
  publicUrl?: string;
  https?: boolean;
  cert?: string;
  key?: string;
  redis?: string;
  redisPrefix?: string;
}

/** `--port`: a TCP port, checked here so a typo is a usage error (exit 2), not Node's RangeError */
export function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n > 65535) throw new InvalidArgumentError('a port is a whole number from 0 to 65535 (0: any free port)');
  return n;
}

/** `--public-url`: where other machines reach this server, so it must be an http(s) URL */
export function publicUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('not a URL; give the address other machines reach this server at, e.g. https://192.168.1.20:8080');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`${url.protocol} is not http: or https:; e.g. https://192.168.1.20:8080`);
  return value;
}

export function addServerFlags(cmd: Command): Command {
  return cmd
    .option('-p, --port <port>', 'port, 0 to 65535 (0: any free port; the chosen URL is printed)', port, 8080)
    .option('-H, --host <host>', 'interface; 0.0.0.0 accepts phones and other computers on the LAN (join links then use the LAN address)', '127.0.0.1')
    .option('--public-url <url>', 'base http(s) URL of join links for other machines (default: the LAN address with --host 0.0.0.0)', publicUrl)
    .option('--https', 'HTTPS with a self-signed certificate, kept in ~/.config/signvote/tls (phones need HTTPS for WebGPU)')
    .option('--cert <file>', 'HTTPS with this PEM certificate (with --key)')
    .option('--key <file>', 'PEM private key of --cert')
    .option(
      '--redis <url>',
      'keep sessions in this Redis (redis://host:port, or redis+sentinel://host1:26379,host2:26379/NAME for a Sentinel-managed primary) and share them with every server process started with it (docs/signaling.md)',
    )
    .option('--redis-prefix <prefix>', 'Redis key prefix: servers with the same --redis and prefix serve the same sessions', 'signvote:');
}

/**
 * The server of `serve` and `start`, with its certificate when HTTPS was asked for, and the lines
 * that tell a person where to reach it.
 */
export async function startServer(opts: ServerFlags, logger: Logger | false) {
  const { createSignalingServer, builtClientDir, tlsFromFlags, BUILD_CLIENT, parseRedisUrl, withoutPassword } = await import('@signvote/signaling');
  const clientDist = builtClientDir();
  let tls;
  try {
    tls = await tlsFromFlags(opts);
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.usage);
  }
  if (opts.redis !== undefined) {
    try {
      parseRedisUrl(opts.redis);
    } catch (err) {
      throw new CliError(`--redis: ${(err as Error).message}`, EXIT.usage);
    }
  }
  let server;
  try {
    server = await createSignalingServer({ port: opts.port, host: opts.host, publicUrl: opts.publicUrl, staticDir: clientDist, tls, logger, redis: opts.redis, redisPrefix: opts.redisPrefix });
  } catch (err) {
    if (opts.redis !== undefined && /cannot reach Redis/.test((err as Error).message)) throw new CliError((err as Error).message, EXIT.unreachable);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`port ${opts.port} on ${opts.host} is taken (another server is listening there): pass another --port, or --port 0 for any free one`, EXIT.usage);
    if (code === 'EACCES') throw new CliError(`this user may not listen on port ${opts.port} (ports below 1024 need privileges): pass --port 8080, or --port 0 for any free one`, EXIT.usage);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new CliError(`--host ${opts.host}: no such address on this machine (${code}); e.g. 127.0.0.1, or 0.0.0.0 for every interface`, EXIT.usage);
    throw err;
  }
  const lines = [`signaling server on ${server.url}${clientDist ? '' : ` (client not built: ${BUILD_CLIENT})`}`];
  if (server.shareUrl !== server.url) lines.push(`other computers and phones: ${server.shareUrl}`);
  else if (opts.host === '0.0.0.0' || opts.host === '::') lines.push('no LAN address found: other machines need --public-url');
  if (opts.redis !== undefined) lines.push(`sessions in Redis ${withoutPassword(opts.redis)} (prefix ${opts.redisPrefix ?? 'signvote:'}), shared with every server started with it`);
  if (tls?.selfSigned) lines.push(`self-signed certificate ${tls.certPath}; a phone can install it from ${server.shareUrl}/cert.pem (docs/signaling.md)`);
  return { server, tls, lines, clientBuilt: clientDist !== undefined, buildClient: BUILD_CLIENT };
}
