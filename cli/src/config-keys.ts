/**
 * Keys of a JSON config that its schema does not know. The session schema (core config.ts)
 * drops unknown keys, so the server stays readable by older and newer peers; a person's file is
 * another matter: `expectedPeer` for `expectedPeers` would silently train with the default. The
 * parsed value is the schema's own answer: a key of the input missing from the parsed object at
 * the same path was not in the schema (defaults only add keys; nothing here renames them).
 */

/** one unknown key: its dotted path (`algorithm.lrr`, `iceServers.0.url`) and a near known key */
export interface UnknownKey {
  readonly path: string;
  readonly suggestion: string | null;
}

export function unknownKeys(input: unknown, parsed: unknown, known: readonly string[] = [], path: readonly string[] = []): UnknownKey[] {
  if (Array.isArray(input) && Array.isArray(parsed)) {
    return input.flatMap((item, i) => unknownKeys(item, parsed[i], [], [...path, String(i)]));
  }
  if (!isRecord(input) || !isRecord(parsed)) return [];
  const names = [...new Set([...known, ...Object.keys(parsed)])];
  const found: UnknownKey[] = [];
  for (const [key, value] of Object.entries(input)) {
    if (!(key in parsed)) found.push({ path: [...path, key].join('.'), suggestion: nearest(key, names) });
    else found.push(...unknownKeys(value, parsed[key], [], [...path, key]));
  }
  return found;
}

/** `path (did you mean X?)` for each key, for one error line */
export function describeUnknownKeys(keys: readonly UnknownKey[]): string {
  return keys.map((k) => `${k.path}${k.suggestion ? ` (did you mean ${k.suggestion}?)` : ''}`).join(', ');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** flag names a person may write in a config file for the schema's key (`--peers` is `expectedPeers`) */
const FLAG_KEYS: Readonly<Record<string, string>> = { peers: 'expectedPeers', batch: 'batchSize', deadline: 'deadlineMs', algo: 'algorithm', ice: 'iceServers' };

/** the known name closest to `key` by edit distance (case-insensitive), if it is close */
function nearest(key: string, names: readonly string[]): string | null {
  const flag = FLAG_KEYS[key];
  if (flag !== undefined && names.includes(flag)) return flag;
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const name of names) {
    const d = editDistance(key.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(key.length / 4)) ? best : null;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}
