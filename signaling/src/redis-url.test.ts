import { describe, expect, it } from 'vitest';
import { parseRedisUrl, RedisUrlError, sentinelOptions, withoutPassword } from './redis-url';

/** The --redis / REDIS_URL forms (redis-url.ts): what each reads as, and what a wrong one is told. */

const refused = (url: string): string => {
  try {
    parseRedisUrl(url);
  } catch (err) {
    expect(err).toBeInstanceOf(RedisUrlError);
    return (err as Error).message;
  }
  throw new Error(`${url} was accepted`);
};

describe('parseRedisUrl', () => {
  it('passes one Redis through as it is', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379')).toEqual({ kind: 'single', url: 'redis://127.0.0.1:6379' });
    expect(parseRedisUrl('rediss://app:pw@redis.lan:6380/2')).toEqual({ kind: 'single', url: 'rediss://app:pw@redis.lan:6380/2' });
  });

  it('reads a Sentinel deployment: sentinels, default port, primary name, db, credentials', () => {
    expect(parseRedisUrl('redis+sentinel://10.0.0.1:26380,10.0.0.2,[::1]:26381/mymaster')).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26380 },
        { host: '10.0.0.2', port: 26379 },
        { host: '::1', port: 26381 },
      ],
      name: 'mymaster',
      db: 0,
    });
    const full = parseRedisUrl('redis+sentinel://app:p%40ss%3Aw@s1:26379,s2:26379/m-1.x?db=3&sentinelPassword=guard&sentinelUsername=watch');
    expect(full).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      name: 'm-1.x',
      db: 3,
      username: 'app',
      password: 'p@ss:w',
      sentinelUsername: 'watch',
      sentinelPassword: 'guard',
    });
    // a password with no user name, as requirepass wants
    expect(parseRedisUrl('redis+sentinel://:secret@s1/m')).toMatchObject({ password: 'secret', username: undefined });
    expect(sentinelOptions(full as Extract<typeof full, { kind: 'sentinel' }>)).toMatchObject({ name: 'm-1.x', db: 3, password: 'p@ss:w', sentinelPassword: 'guard', sentinels: [{ host: 's1' }, { host: 's2' }] });
  });

  it('says what is wrong with a bad URL, without its password', () => {
    expect(refused('localhost:6379')).toBe('bad Redis URL "localhost:6379": not a redis://, rediss:// or redis+sentinel:// URL');
    expect(refused('http://x')).toMatch(/not a redis:\/\/, rediss:\/\/ or redis\+sentinel:\/\/ URL/);
    expect(refused('redis://bad host:1')).toBe('bad Redis URL "redis://bad host:1": it does not parse as a URL');
    expect(refused('redis+sentinel://s1:26379')).toMatch(/^bad Redis URL "redis\+sentinel:\/\/s1:26379": name: no primary is named: the path is \/NAME/);
    expect(refused('redis+sentinel:///m')).toMatch(/sentinels: no sentinel is named/);
    expect(refused('redis+sentinel://s1,,s2/m')).toMatch(/sentinels\.1\.host: a sentinel has no host/);
    expect(refused('redis+sentinel://s1:http/m')).toMatch(/sentinels\.0\.port: the port is not a number/);
    expect(refused('redis+sentinel://s1:26379,s2:70000/m')).toMatch(/sentinels\.1\.port: a port is 1\.\.65535/);
    expect(refused('redis+sentinel://s1/m/0')).toMatch(/name: the primary name is letters, digits/);
    expect(refused('redis+sentinel://s1/m?db=x')).toMatch(/db: db is a database number/);
    expect(refused('redis+sentinel://s1/m?password=x')).toBe('bad Redis URL "redis+sentinel://s1/m?password=***": unknown option "password" (known: db, sentinelUsername, sentinelPassword)');
    expect(refused('redis+sentinel://s1/m#x')).toMatch(/a #fragment means nothing here/);
    const bad = refused('redis+sentinel://app:sesame@s1:0/m');
    expect(bad).toBe('bad Redis URL "redis+sentinel://app:***@s1:0/m": sentinels.0.port: a port is 1..65535');
    expect(refused('redis+sentinel://app:ses%ame@s1/m')).toBe('bad Redis URL "redis+sentinel://app:***@s1/m": the password has a stray "%" (percent-encode it as %25)');
  });
});

describe('withoutPassword', () => {
  it('hides every password, of one Redis or of a Sentinel URL', () => {
    expect(withoutPassword('redis://:sesame@10.0.0.5:6379')).toBe('redis://:***@10.0.0.5:6379');
    expect(withoutPassword('rediss://app:sesame@redis.lan:6380/2')).toBe('rediss://app:***@redis.lan:6380/2');
    expect(withoutPassword('redis://10.0.0.5:6379')).toBe('redis://10.0.0.5:6379');
    expect(withoutPassword('redis://app@10.0.0.5:6379')).toBe('redis://app@10.0.0.5:6379');
    expect(withoutPassword('redis+sentinel://app:s3cr@t@h1:26379,h2:26379/m?db=1&sentinelPassword=guard')).toBe('redis+sentinel://app:***@h1:26379,h2:26379/m?db=1&sentinelPassword=***');
    expect(withoutPassword('redis+sentinel://h1,h2/m')).toBe('redis+sentinel://h1,h2/m');
  });
});
