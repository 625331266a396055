import { CliError, EXIT } from './exit';

/**
 * A failed `fetch` to a signaling server, as a sentence and an exit code (docs/cli.md, "Exit
 * codes"). Node's fetch says only "fetch failed"; the reason is in `cause` (ECONNREFUSED, a TLS
 * verification code). A certificate this machine does not trust is no outage: trying again does
 * not help, so it is a usage error (exit 2) naming the fix, not "unreachable" (exit 3).
 */

/** Node's TLS verification failures (tls.TLSSocket `authorizationError` codes) */
const CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** the innermost code or message of a fetch error ("ECONNREFUSED", "DEPTH_ZERO_SELF_SIGNED_CERT") */
export function fetchCause(err: unknown): string {
  let e: unknown = err;
  let found: string | undefined;
  for (let depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string') found = code;
    else if (found === undefined && typeof message === 'string' && message !== 'fetch failed') found = message;
    e = (e as { cause?: unknown }).cause;
  }
  const cause = found ?? (err instanceof Error ? err.message : String(err));
  // undici refuses the ports browsers block (1, 9, 25, ...) before any connection is tried
  return cause === 'bad port' ? 'fetch refuses this port, one browsers block: serve on another' : cause;
}

export function isCertificateError(cause: string): boolean {
  return CERT_CODES.has(cause);
}

/** the sentence for a certificate this machine does not trust */
export function untrustedCertificate(server: string, cause: string): string {
  return (
    `the certificate of ${server} is not trusted here (${cause}): run with NODE_EXTRA_CA_CERTS=PATH-TO-ITS-cert.pem ` +
    `(a server started with --https keeps it in ~/.config/signvote/tls/cert.pem and serves it at ${server}/cert.pem; docs/signaling.md, "HTTPS for phones")`
  );
}

/** A failed fetch to `server` as a CliError: certificate refused (exit 2), else unreachable (exit 3). */
export function fetchFailure(server: string, err: unknown): CliError {
  const cause = fetchCause(err);
  if (isCertificateError(cause)) return new CliError(untrustedCertificate(server, cause), EXIT.usage);
  return new CliError(`cannot reach signaling server ${server}: ${cause}`, EXIT.unreachable);
}
