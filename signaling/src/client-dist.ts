import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The browser client's build (`npm run build -w @signvote/client`), or undefined when not built. */
export function builtClientDir(): string | undefined {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'client', 'dist');
  return existsSync(join(dir, 'index.html')) ? dir : undefined;
}
