import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { isIP } from 'node:net';
import { generate } from 'selfsigned';
import { lanAddresses } from './lan';

/**
 * The HTTPS certificate for `serve --https`. A page loaded over plain HTTP from a LAN address is
 * no secure context, so a phone would get neither WebGPU nor the clipboard; over HTTPS it gets
 * both once it accepts the certificate (docs/signaling.md, "HTTPS for phones").
 */
export interface TlsFiles {
  /** PEM */
  readonly cert: string;
  /** PEM */
  readonly key: string;
  readonly certPath: string;
  /** made here by `selfsigned` rather than given */
  readonly selfSigned: boolean;
}

/** $XDG_CONFIG_HOME/signvote/tls, else ~/.config/signvote/tls */
export function defaultTlsDir(): string {
  const config = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(config, 'signvote', 'tls');
}

/** the names a self-signed certificate covers: this machine by name and every address it has */
export function localNames(): string[] {
  return ['localhost', hostname(), '127.0.0.1', '::1', ...lanAddresses()];
}

/** Reads a given certificate and key (PEM files); errors name the file that is missing or bad. */
export async function readTls(certPath: string, keyPath: string): Promise<TlsFiles> {
  const read = async (path: string, what: string) => {
    try {
      return await readFile(resolve(path), 'utf8');
    } catch (err) {
      throw new Error(`cannot read the TLS ${what} ${path}: ${(err as Error).message}`);
    }
  };
  const [cert, key] = await Promise.all([read(certPath, 'certificate'), read(keyPath, 'key')]);
  try {
    new X509Certificate(cert);
  } catch (err) {
    throw new Error(`${certPath} is not a PEM certificate: ${(err as Error).message}`);
  }
  return { cert, key, certPath: resolve(certPath), selfSigned: false };
}

const day = 24 * 60 * 60 * 1000;

/** true while `pem` is valid for 30 more days and covers every name in `names` */
function stillGood(pem: string, names: readonly string[], now: number): boolean {
  try {
    const x = new X509Certificate(pem);
    if (Date.parse(x.validTo) - now < 30 * day) return false;
    return names.every((n) => (isIP(n) ? x.checkIP(n) !== undefined : x.checkHost(n) !== undefined));
  } catch {
    return false;
  }
}

/**
 * A self-signed certificate for this machine's names and addresses, kept in `dir`
 * (cert.pem, key.pem) so a phone that trusted it once keeps trusting it. A new one is made when
 * there is none, when it expires within 30 days, or when the machine got an address it does not
 * cover (another network).
 */
export async function selfSignedTls(dir = defaultTlsDir(), names: readonly string[] = localNames(), now = Date.now()): Promise<TlsFiles> {
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  const [cert, key] = await Promise.all([readFile(certPath, 'utf8').catch(() => null), readFile(keyPath, 'utf8').catch(() => null)]);
  if (cert && key && stillGood(cert, names, now)) return { cert, key, certPath, selfSigned: true };
  const unique = [...new Set(names)];
  const made = await generate([{ name: 'commonName', value: `signvote on ${hostname()}` }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - day),
    // browsers refuse server certificates valid for more than 398 days
    notAfterDate: new Date(now + 397 * day),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: unique.map((n) => (isIP(n) ? { type: 7 as const, ip: n } : { type: 2 as const, value: n })) },
    ],
  });
  await mkdir(dir, { recursive: true });
  await writeFile(keyPath, made.private, { mode: 0o600 });
  await writeFile(certPath, made.cert);
  return { cert: made.cert, key: made.private, certPath, selfSigned: true };
}

/**
 * The certificate the `--https`, `--cert` and `--key` flags ask for: the given pair, a
 * self-signed one (`--https` alone), or none (plain HTTP).
 */
export async function tlsFromFlags(flags: { https?: boolean; cert?: string; key?: string }): Promise<TlsFiles | undefined> {
  if (flags.cert !== undefined || flags.key !== undefined) {
    if (flags.cert === undefined || flags.key === undefined) throw new Error('--cert and --key go together');
    return readTls(flags.cert, flags.key);
  }
  return flags.https ? selfSignedTls() : undefined;
}
