/** How `signvote` ends: exit codes, so scripts can tell a typo from a dead server (docs/cli.md). */

/** Exit codes (docs/cli.md, "Exit codes"). */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  unreachable: 3,
  refused: 4,
  /** the session had finished before this peer joined: nothing was trained here */
  finished: 5,
  /** this peer cannot reach the state the session record holds (docs/session.md) */
  diverged: 6,
  /** the signaling server removed this peer: a majority of the others could not reach it over WebRTC */
  dropped: 7,
  interrupted: 130,
  terminated: 143,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** An HTTP answer that is not a refusal of the request: 503, the server's session store (Redis) is out of reach for now. */
export function httpExitCode(status: number, otherwise: number): number {
  return status === 503 ? EXIT.unreachable : otherwise;
}

/** Signaling refusals (unknown session, wrong token, full) vs. a server that is not there. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.code;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : '';
  // 'unavailable': an HTTP 503; the socket refuses a join with 'internal' and the same sentence
  // (signaling redis-health.ts STORE_UNREACHABLE) when the server's Redis is out of reach
  if (code === 'connect' || code === 'timeout' || code === 'unavailable' || /cannot reach signaling server|\(Redis\) is unreachable; try again/.test(message)) return EXIT.unreachable;
  if (code === 'finished') return EXIT.finished;
  // a config the server refuses (code 'invalid', as `start` meets it in-process) is the flags' fault, as when the CLI refuses it
  if (/^invalid session config/.test(message)) return EXIT.usage;
  if (typeof code === 'string' && ['unknown-session', 'bad-token', 'session-full', 'invalid', 'not-creator'].includes(code)) return EXIT.refused;
  if (/^(unknown session|wrong token)/.test(message)) return EXIT.refused;
  return EXIT.error;
}
