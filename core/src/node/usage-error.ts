/**
 * How `npm run simulate` and `npm run experiment` end on bad input: exit 2, as `signvote` does
 * (docs/cli.md, "Exit codes"), so a script can tell a typo from a run that failed (exit 1).
 */

export const USAGE_EXIT = 2;

/** a flag or config the command cannot run with; the message says which and why */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * The exit code of an error that ended a command: 0 for --help and --version, 2 for commander's
 * own usage errors (already printed) and UsageErrors, 1 for the rest. `printed`: whether
 * commander wrote the message itself.
 */
export function commandExit(err: unknown): { code: number; printed: boolean } {
  const code = (err as { code?: unknown }).code;
  if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return { code: 0, printed: true };
  if (typeof code === 'string' && code.startsWith('commander.')) return { code: USAGE_EXIT, printed: true };
  return { code: err instanceof UsageError ? USAGE_EXIT : 1, printed: false };
}
