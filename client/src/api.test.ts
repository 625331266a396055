import { describe, expect, it } from 'vitest';
import { joinLink, readJoinParams } from './api';

describe('join links', () => {
  it('round-trips session and token through the link', () => {
    const link = joinLink('http://127.0.0.1:8080/some/path?x=1#frag', 'abc_12-Z', 't0k/en+=');
    expect(link).toBe('http://127.0.0.1:8080/some/path?session=abc_12-Z&token=t0k%2Fen%2B%3D');
    expect(readJoinParams(new URL(link).search)).toEqual({ session: 'abc_12-Z', token: 't0k/en+=' });
  });

  it('ignores links missing a part or carrying oversized values', () => {
    expect(readJoinParams('?session=abc')).toBeNull();
    expect(readJoinParams('?token=t')).toBeNull();
    expect(readJoinParams('?session=%20&token=t')).toBeNull();
    expect(readJoinParams(`?session=${'a'.repeat(201)}&token=t`)).toBeNull();
    expect(readJoinParams('?session=s&token=t&backend=wasm')).toEqual({ session: 's', token: 't' });
  });
});
