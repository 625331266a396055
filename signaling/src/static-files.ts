import type { IncomingMessage, ServerResponse } from 'node:http';
import sirv from 'sirv';

/**
 * Static files through sirv: it serves the `.br` / `.gz` copy of a file next to it when the
 * request's Accept-Encoding allows (the client build writes them, see client/vite.config.ts;
 * datasets get them in dataset-files.ts), answers Range and If-None-Match (ETag) requests, and
 * only ever serves files found under `dir` when the handler was made, so a URL cannot name a
 * path outside it.
 */

/** true when the request was answered, false when `dir` has no such file */
export type StaticHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

export interface StaticOptions {
  /** Cache-Control for a request path */
  readonly cacheControl: (pathname: string) => string;
  /** extra headers on every answer (CORS for datasets) */
  readonly headers?: Readonly<Record<string, string>>;
}

export function staticFiles(dir: string, options: StaticOptions): StaticHandler {
  const serve = sirv(dir, {
    dev: false,
    etag: true,
    gzip: true,
    brotli: true,
    // no client-side routes: an unknown path is a 404, not the page (sendNoPage)
    single: false,
    // a dotfile under dir is never published
    dotfiles: false,
    setHeaders: (res, pathname) => {
      res.setHeader('Cache-Control', options.cacheControl(pathname));
      for (const [name, value] of Object.entries(options.headers ?? {})) res.setHeader(name, value);
    },
  });
  return (req, res) =>
    new Promise<boolean>((resolve) => {
      serve(req, res, () => resolve(false));
      // sirv answers synchronously (writeHead, then streams) or calls next()
      if (res.headersSent) resolve(true);
    });
}

/** hashed asset names from vite never change content; index.html must be revalidated */
export function clientCacheControl(pathname: string): string {
  return pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
}

/**
 * A GET for a path that is no page and no file (`/foo/bar`): plain text, so a person who typed or
 * pasted a wrong address reads what happened, in a browser as in curl. Never index.html: its
 * relative asset URLs would resolve under the wrong folder and show a blank page.
 */
export function sendNoPage(res: ServerResponse, method: string, pathname: string): void {
  const body = `signvote: not found: there is no page at ${pathname}. The app is at the server's address itself (/), and join links open there.\n`;
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache' });
  res.end(method === 'HEAD' ? undefined : body);
}
