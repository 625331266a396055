import { CliError, EXIT } from './exit';

/**
 * `--server URL1,URL2,...`: server processes of the same sessions (on one Redis). Starts with the
 * first that answers, so a peer started while one is down still joins; the rest are where it
 * resumes its seat when its server goes away (docs/signaling.md, "Several servers on one Redis").
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
  if (urls.length === 1) return urls;
  for (let i = 0; i < urls.length; i++) {
    const ok = await fetch(`${urls[i]}/healthz`, { signal: AbortSignal.timeout(3000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return [...urls.slice(i), ...urls.slice(0, i)];
  }
  return urls;
}
