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
  /** paths without an extension get index.html (client-side routes) */
  readonly spa?: boolean;
  /** extra headers on every answer (CORS for datasets) */
  readonly headers?: Readonly<Record<string, string>>;
}

export function staticFiles(dir: string, options: StaticOptions): StaticHandler {
  const serve = sirv(dir, {
    dev: false,
    etag: true,
    gzip: true,
    brotli: true,
    single: options.spa ?? false,
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
