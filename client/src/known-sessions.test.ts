import { describe, expect, it } from 'vitest';
import { creatorKey, forgetSessions, knownSessions, maxKnown, rememberSession } from './known-sessions';
import { peerCommand } from './api';

/** the Storage interface over a Map: Node has no localStorage */
function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => void m.delete(k),
    setItem: (k, v) => void m.set(k, String(v)),
  };
}

describe('sessions this browser knows', () => {
  it('keeps the newest first, once each, at most maxKnown, and forgets the ones named', () => {
    const store = memoryStorage();
    rememberSession('a', 'ta', { now: 1, store });
    rememberSession('b', 'tb', { now: 2, store });
    rememberSession('a', 'ta', { now: 3, store });
    expect(knownSessions(store).map((s) => s.id)).toEqual(['a', 'b']);
    for (let i = 0; i < maxKnown + 5; i++) rememberSession(`s${i}`, 't', { now: 10 + i, store });
    expect(knownSessions(store)).toHaveLength(maxKnown);
    expect(knownSessions(store)[0].id).toBe(`s${maxKnown + 4}`);
    forgetSessions([`s${maxKnown + 4}`], store);
    expect(knownSessions(store)[0].id).toBe(`s${maxKnown + 3}`);
  });

  it('keeps the creator key of a session created here when it is opened again, and knows none for others', () => {
    const store = memoryStorage();
    rememberSession('mine', 'tm', { admin: 'key-1', now: 1, store });
    rememberSession('theirs', 'tt', { now: 2, store });
    // the session view remembers the session again on every open, without the key
    rememberSession('mine', 'tm', { now: 3, store });
    expect(creatorKey('mine', store)).toBe('key-1');
    expect(creatorKey('theirs', store)).toBeNull();
    expect(creatorKey('unknown', store)).toBeNull();
    forgetSessions(['mine'], store);
    expect(creatorKey('mine', store)).toBeNull();
  });

  it('reads junk in storage as nothing known', () => {
    const store = memoryStorage();
    store.setItem('signvote.sessions', '{not json');
    expect(knownSessions(store)).toEqual([]);
    store.setItem('signvote.sessions', JSON.stringify([{ id: '', token: 1 }]));
    expect(knownSessions(store)).toEqual([]);
    expect(knownSessions(null)).toEqual([]);
  });
});

describe('the headless peer command the create page shows', () => {
  it('is the npx command, with the certificate fetched first for a self-signed server', () => {
    expect(peerCommand('http://127.0.0.1:8080', 'S', 'T', null)).toBe('npx signvote peer --server http://127.0.0.1:8080 --session S --token T');
    expect(peerCommand('https://192.168.1.23:8443', 'S', 'T', { shareUrl: 'https://192.168.1.23:8443', https: true, selfSigned: true }).split('\n')).toEqual([
      'curl -fsSk -o signvote-cert.pem https://192.168.1.23:8443/cert.pem',
      'NODE_EXTRA_CA_CERTS=signvote-cert.pem npx signvote peer --server https://192.168.1.23:8443 --session S --token T',
    ]);
  });
});
