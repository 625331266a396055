import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeOf, httpExitCode, CliError } from './exit';

describe('exit codes', () => {
  it('a 503 (the session store out of reach) is "cannot be reached", not a refusal', () => {
    expect(httpExitCode(503, EXIT.refused)).toBe(EXIT.unreachable);
    expect(httpExitCode(404, EXIT.refused)).toBe(EXIT.refused);
    expect(httpExitCode(400, EXIT.usage)).toBe(EXIT.usage);
  });

  it('signaling refusals are 4, an unreachable server 3, a CliError its own code', () => {
    expect(exitCodeOf(Object.assign(new Error('x'), { code: 'unknown-session' }))).toBe(EXIT.refused);
    expect(exitCodeOf(Object.assign(new Error('x'), { code: 'connect' }))).toBe(EXIT.unreachable);
    expect(exitCodeOf(new CliError('y', EXIT.unreachable))).toBe(EXIT.unreachable);
  });
});
