import { describe, expect, it } from 'vitest';
import { joinLink, reachableFromOtherDevices, readJoinLink, readJoinParams, shareLink } from './api';

describe('join links', () => {
  it('round-trips session and token through the link', () => {
    const link = joinLink('http://127.0.0.1:8080/some/path?x=1#frag', 'abc_12-Z', 't0k/en+=');
    expect(link).toBe('http://127.0.0.1:8080/some/path?session=abc_12-Z&token=t0k%2Fen%2B%3D');
    expect(readJoinParams(new URL(link).search)).toEqual({ session: 'abc_12-Z', token: 't0k/en+=', servers: [] });
  });

  it('ignores links missing a part or carrying oversized values', () => {
    expect(readJoinParams('?session=abc')).toBeNull();
    expect(readJoinParams('?token=t')).toBeNull();
    expect(readJoinParams('?session=%20&token=t')).toBeNull();
    expect(readJoinParams(`?session=${'a'.repeat(201)}&token=t`)).toBeNull();
    expect(readJoinParams('?session=s&token=t&backend=wasm')).toEqual({ session: 's', token: 't', servers: [] });
    // other server processes of the session: http(s) origins only, and a link carries them along
    const withServers = joinLink('http://a:8080/', 's', 't', ['http://b:8080']);
    expect(readJoinParams(new URL(withServers).search)).toEqual({ session: 's', token: 't', servers: ['http://b:8080'] });
    expect(readJoinParams('?session=s&token=t&servers=http://10.0.0.2:8080/,javascript:alert(1),nope,https://b.example')).toEqual({
      session: 's',
      token: 't',
      servers: ['http://10.0.0.2:8080', 'https://b.example'],
    });
  });
});

describe('links that cannot join', () => {
  const problem = (search: string) => {
    const link = readJoinLink(search);
    return link && 'problem' in link ? link.problem : null;
  };
  it('names no session: the home page', () => {
    expect(readJoinLink('')).toBeNull();
    expect(readJoinLink('?backend=wasm')).toBeNull();
  });
  it('says a link lacks its token instead of showing the home page', () => {
    expect(problem('?session=abc123')).toMatch(/^This link lacks its token: session abc123 /);
    expect(problem('?token=t')).toMatch(/names no session/);
    expect(problem('?session=&token=')).toMatch(/^This link is malformed: it names no session/);
  });
  it('calls ids the server never makes malformed, before any request', () => {
    for (const bad of ['a/b', '..%2F..%2Fapi', 'a'.repeat(199), '%E0%A4%A', '%F0%9F%92%A9', 'a%20b']) {
      expect(problem(`?session=${bad}&token=x`), bad).toMatch(/^This link is malformed: ".*" is not a session id/);
    }
    expect(problem(`?session=${'a'.repeat(64)}&token=x`)).toBeNull();
  });
  it('calls a token no HTTP header can carry malformed (fetch would blame the server)', () => {
    for (const bad of ['%00', 'a%0Ab', '%C3%A9t%C3%A9', 'x'.repeat(501)]) {
      expect(problem(`?session=abc&token=${bad}`), bad).toMatch(/^This link is malformed: its token has characters/);
    }
    expect(readJoinLink('?session=abc&token=t0k%2Fen%2B%3D')).toEqual({ join: { session: 'abc', token: 't0k/en+=', servers: [] } });
  });
});

describe('links for other devices', () => {
  const lan = { shareUrl: 'http://192.168.1.23:8080', https: false, selfSigned: false };
  it('swaps a loopback page address for the server share URL', () => {
    expect(shareLink('http://127.0.0.1:8080/?session=s&token=t', lan, 's', 't')).toBe('http://192.168.1.23:8080/?session=s&token=t');
    expect(shareLink('http://localhost:8080/', lan, 's', 't')).toBe('http://192.168.1.23:8080/?session=s&token=t');
  });
  it('keeps an address other devices already reach, and a loopback one when the server knows no better', () => {
    expect(shareLink('https://pc.lan:8443/?session=s&token=t', lan, 's', 't')).toBe('https://pc.lan:8443/?session=s&token=t');
    expect(shareLink('http://127.0.0.1:8080/', { ...lan, shareUrl: 'http://127.0.0.1:8080' }, 's', 't')).toBe('http://127.0.0.1:8080/?session=s&token=t');
    expect(shareLink('http://127.0.0.1:8080/', null, 's', 't')).toBe('http://127.0.0.1:8080/?session=s&token=t');
    expect(reachableFromOtherDevices('http://127.0.0.1:8080/?session=s')).toBe(false);
    expect(reachableFromOtherDevices('http://192.168.1.23:8080/?session=s')).toBe(true);
  });
});
