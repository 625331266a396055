import { CliError, EXIT } from './exit';
import { fetchCause, fetchFailure } from './net-errors';

/**
 * `--server URL1,URL2,...`: server processes of the same sessions (on one Redis). Starts with the
 * first that answers, so a peer started while one is down still joins; the rest are where it
 * resumes its seat when its server goes away (docs/signaling.md, "Several servers on one Redis").
 * None answering is exit 3 naming every URL and why; an untrusted certificate exit 2 (net-errors.ts).
 */
export async function serverList(flag: string): Promise<string[]> {
  const urls = flag.split(',').map((u) => u.trim().replace(/\/+$/, '')).filter((u) => u.length > 0);
  if (urls.length === 0) throw new CliError('--server: give at least one signaling server URL', EXIT.usage);
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new CliError(`--server: ${JSON.stringify(u)} is not a URL (e.g. http://127.0.0.1:8080)`, EXIT.usage);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new CliError(`--server: ${u} is not http(s)`, EXIT.usage);
  }
  // Each server is asked for /healthz in turn: the first that answers ok goes first. A server
  // that answers at all (even 503: its Redis is out of reach) may still serve; one that cannot
  // be reached is named with its cause, and when none can be, every URL and cause is said
  const failures: string[] = [];
  let answered: number | null = null;
  for (let i = 0; i < urls.length; i++) {
    try {
      const res = await fetch(`${urls[i]}/healthz`, { signal: AbortSignal.timeout(3000) });
      if (res.ok) return [...urls.slice(i), ...urls.slice(0, i)];
      answered ??= i;
    } catch (err) {
      // slow under load is not down: the request that follows has no such deadline
      const name = (err as { name?: unknown } | null)?.name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        answered ??= i;
        continue;
      }
      const failure = fetchFailure(urls[i], err);
      // a certificate refused: every server of the same deployment would be refused alike
      if (failure.code === EXIT.usage) throw failure;
      failures.push(`${urls[i]} (${fetchCause(err)})`);
    }
  }
  if (answered !== null) return [...urls.slice(answered), ...urls.slice(0, answered)];
  throw new CliError(
    `cannot reach signaling server${urls.length === 1 ? '' : 's'} ${failures.join(', ')}: is it running, and is the URL right? (try again once it is up)`,
    EXIT.unreachable,
  );
}
