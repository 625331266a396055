import { existsSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The browser client's build (`npm run build -w @signvote/client`), or undefined when not built. */
export function builtClientDir(): string | undefined {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'client', 'dist');
  return existsSync(join(dir, 'index.html')) ? dir : undefined;
}

/** the command that builds the client (README: `npm start` runs it first) */
export const BUILD_CLIENT = 'npm run build -w @signvote/client';

/**
 * What `/` answers on a server without the built client: the page a person opened is not there,
 * why, and the one command that fixes it. Plain text, so it reads the same in a browser and in
 * curl; 404 like any missing page.
 */
export function sendClientNotBuilt(res: ServerResponse, method: string): void {
  const body = [
    'signvote: the browser UI is not built, so this server has no page to show.',
    '',
    'Build it once, in the signvote checkout:',
    '',
    `    ${BUILD_CLIENT}`,
    '',
    'then restart the server (`npm start` builds it and starts a demo session).',
    'Everything else works without it: /healthz, POST /api/sessions, and `npx signvote peer`.',
    '',
  ].join('\n');
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache' });
  res.end(method === 'HEAD' ? undefined : body);
}
