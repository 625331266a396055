import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeOf, httpExitCode, CliError } from './exit';
import { fetchCause, fetchFailure } from './net-errors';

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

  it('a config the server refuses is a usage error (2), as `session create` and `start` both meet it', () => {
    const refused = Object.assign(new Error('invalid session config: data: the session names 3 classes, its model has 10 outputs'), { code: 'invalid' });
    expect(exitCodeOf(refused)).toBe(EXIT.usage);
    expect(exitCodeOf(Object.assign(new Error('bad join'), { code: 'invalid' }))).toBe(EXIT.refused);
  });

  it('the server saying its Redis is out of reach is 3 (try again), over HTTP (503) and over the socket', () => {
    expect(exitCodeOf(Object.assign(new Error('x'), { code: 'unavailable' }))).toBe(EXIT.unreachable);
    expect(exitCodeOf(Object.assign(new Error('the session store (Redis) is unreachable; try again shortly'), { code: 'internal' }))).toBe(EXIT.unreachable);
    expect(exitCodeOf(Object.assign(new Error('internal error'), { code: 'internal' }))).toBe(EXIT.error);
  });

  it('a fetch failure names its cause; an untrusted certificate is usage (2), not unreachable', () => {
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
    expect(fetchCause(refused)).toBe('ECONNREFUSED');
    expect(fetchFailure('http://a', refused)).toMatchObject({ code: EXIT.unreachable, message: 'cannot reach signaling server http://a: ECONNREFUSED' });
    const cert = new TypeError('fetch failed', { cause: Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }) });
    const failure = fetchFailure('https://a', cert);
    expect(failure.code).toBe(EXIT.usage);
    expect(failure.message).toMatch(/^the certificate of https:\/\/a is not trusted here \(DEPTH_ZERO_SELF_SIGNED_CERT\): run with NODE_EXTRA_CA_CERTS=/);
  });
});
