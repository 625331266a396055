import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/** One line a server logged, as pino writes it (JSON). */
export interface LogLine {
  level: number;
  msg: string;
  err?: { stack?: string };
}

/** A pino logger whose lines land in `lines`, for tests that assert what a server logs. */
export function captureLog(): { lines: LogLine[]; logger: Logger } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

/** Polls `cond` every `everyMs` until it holds; throws `what: not seen in ms` after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000, everyMs = 50): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not seen in ${ms} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
