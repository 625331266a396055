import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ballotBytes, checkBallot, checkUpdate, decodeBallot, decodeUpdate, encodeBallot, encodeUpdate, type Ballot, type Update } from '../optim';
import { checkVerdict, decodeVerdict, encodeVerdict, type Verdict } from '../signs';
import { budget, check, concat, decodeOrTypedError, mutated, reportCases, FUZZ_TIMEOUT_MS } from './harness';

/** Ballot and verdict payloads: the opaque bytes inside ballot and verdict messages (optim/codec.ts). */

afterAll(() => reportCases('payloads'));

/** lengths around the byte and word boundaries the bit kernels care about */
const dim = fc.oneof(fc.integer({ min: 1, max: 80 }), fc.constantFrom(1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 257));

/** d sign bits with zero padding */
function signBits(d: number): fc.Arbitrary<Uint8Array> {
  return fc.uint8Array({ minLength: (d + 7) >>> 3, maxLength: (d + 7) >>> 3 }).map((b) => {
    if (d & 7) b[b.length - 1] &= (1 << (d & 7)) - 1;
    return b;
  });
}

const finite = fc.float({ noNaN: true, noDefaultInfinity: true });

function validBallot(d: number): fc.Arbitrary<Ballot> {
  return fc.oneof(
    signBits(d).map((bits): Ballot => ({ kind: 'signs', bits })),
    fc.float32Array({ minLength: d, maxLength: d, noNaN: true, noDefaultInfinity: true }).map((values): Ballot => ({ kind: 'dense', values })),
    fc.tuple(finite.map(Math.abs), signBits(d)).map(([scale, bits]): Ballot => ({ kind: 'scaled-signs', scale, bits })),
  );
}

function validVerdict(d: number): fc.Arbitrary<Verdict> {
  return fc.tuple(signBits(d), fc.option(signBits(d), { nil: null })).map(([signs, ties]) => {
    if (ties === null || ties.every((b) => b === 0)) return { signs, ties: null };
    return { signs: signs.map((s, i) => s & ~ties[i]), ties };
  });
}

function validUpdate(d: number): fc.Arbitrary<Update> {
  return fc.oneof(
    validVerdict(d).map((v): Update => ({ kind: 'verdict', ...v })),
    fc.float32Array({ minLength: d, maxLength: d, noNaN: true, noDefaultInfinity: true }).map((values): Update => ({ kind: 'dense', values })),
  );
}

/** bytes of every kind's exact length with its tag, the rest arbitrary: past the length checks */
function nearValid(d: number, tags: readonly number[], lengths: readonly number[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.constantFrom(...tags), fc.constantFrom(...lengths))
    .chain(([tag, n]) => fc.uint8Array({ minLength: n - 1, maxLength: n - 1 }).map((rest) => concat(Uint8Array.of(tag), rest)));
}

/** a decoded ballot is well-formed and is exactly the bytes it came from (one byte form) */
function ballotProperty(d: number, bytes: Uint8Array): void {
  const out = decodeOrTypedError(() => decodeBallot(bytes, d));
  if ('error' in out) return;
  checkBallot(out.value, d);
  expect(encodeBallot(out.value, d)).toEqual(bytes);
}

/** a decoded update is well-formed and encodes back to an equal update */
function updateProperty(d: number, bytes: Uint8Array): void {
  const out = decodeOrTypedError(() => decodeUpdate(bytes, d));
  if ('error' in out) return;
  checkUpdate(out.value, d);
  expect(decodeUpdate(encodeUpdate(out.value, d), d)).toEqual(out.value);
}

function verdictProperty(d: number, bytes: Uint8Array): void {
  const out = decodeOrTypedError(() => decodeVerdict(bytes, d));
  if ('error' in out) return;
  checkVerdict(out.value, d);
  expect(decodeVerdict(encodeVerdict(out.value, d), d)).toEqual(out.value);
}

describe('fuzz: ballot payloads (decodeBallot)', () => {
  it('valid ballots round-trip', () => {
    check(fc.property(dim.chain((d) => fc.tuple(fc.constant(d), validBallot(d))), ([d, b]) => ballotProperty(d, encodeBallot(b, d))), budget(300));
  }, FUZZ_TIMEOUT_MS);
  it('arbitrary bytes: a DecodeError or a valid ballot', () => {
    check(fc.property(dim, fc.uint8Array({ maxLength: 300 }), (d, bytes) => ballotProperty(d, bytes)), budget(1500));
  }, FUZZ_TIMEOUT_MS);
  it('right tag and length, arbitrary content: a DecodeError or a valid ballot', () => {
    const arb = dim.chain((d) => fc.tuple(fc.constant(d), nearValid(d, [1, 2, 3], [ballotBytes('signs', d), ballotBytes('dense', d), ballotBytes('scaled-signs', d)])));
    check(fc.property(arb, ([d, bytes]) => ballotProperty(d, bytes)), budget(1500));
  }, FUZZ_TIMEOUT_MS);
  it('mutated valid ballots: a DecodeError or a valid ballot', () => {
    const arb = dim.chain((d) => fc.tuple(fc.constant(d), mutated(validBallot(d).map((b) => encodeBallot(b, d)))));
    check(fc.property(arb, ([d, bytes]) => ballotProperty(d, bytes)), budget(2000));
  }, FUZZ_TIMEOUT_MS);
  it('a valid ballot read with the wrong d: a DecodeError', () => {
    const arb = fc.tuple(dim, fc.integer({ min: 1, max: 80 })).filter(([d, e]) => d !== e);
    check(
      fc.property(arb.chain(([d, e]) => fc.tuple(fc.constant(d), fc.constant(e), validBallot(d))), ([d, e, b]) => {
        // signs of d and e coordinates in the same whole bytes are told apart only by padding
        const out = decodeOrTypedError(() => decodeBallot(encodeBallot(b, d), e));
        if ('value' in out) expect(b.kind !== 'dense' && (d + 7) >>> 3 === (e + 7) >>> 3).toBe(true);
      }),
      budget(500),
    );
  }, FUZZ_TIMEOUT_MS);
});

describe('fuzz: update and verdict payloads (decodeUpdate, decodeVerdict)', () => {
  it('valid updates round-trip', () => {
    check(fc.property(dim.chain((d) => fc.tuple(fc.constant(d), validUpdate(d))), ([d, u]) => {
      expect(decodeUpdate(encodeUpdate(u, d), d)).toEqual(u);
    }), budget(300));
  }, FUZZ_TIMEOUT_MS);
  it('arbitrary bytes: a DecodeError or a valid update / verdict', () => {
    check(fc.property(dim, fc.uint8Array({ maxLength: 300 }), (d, bytes) => {
      updateProperty(d, bytes);
      verdictProperty(d, bytes);
    }), budget(1500));
  }, FUZZ_TIMEOUT_MS);
  it('right tag and length, arbitrary content: a DecodeError or a valid update / verdict', () => {
    const arb = dim.chain((d) => {
      const B = (d + 7) >>> 3;
      return fc.tuple(fc.constant(d), nearValid(d, [0, 1, 2, 0x80], [1 + B, 1 + 2 * B, 1 + B + 8, 1 + 4 * d]));
    });
    check(fc.property(arb, ([d, bytes]) => {
      updateProperty(d, bytes);
      verdictProperty(d, bytes);
    }), budget(1500));
  }, FUZZ_TIMEOUT_MS);
  it('tie lists with arbitrary counts and indices: a DecodeError or a valid verdict', () => {
    const arb = dim.chain((d) => {
      const B = (d + 7) >>> 3;
      return fc.tuple(fc.constant(d), signBits(d), fc.array(fc.oneof(fc.nat({ max: d + 2 }), fc.nat()), { maxLength: 12 }), fc.nat({ max: 20 })).map(([, signs, indices, k]) => {
        const out = new Uint8Array(1 + B + 4 + 4 * indices.length);
        const view = new DataView(out.buffer);
        out[0] = 2;
        out.set(signs, 1);
        view.setUint32(1 + B, k % 3 === 0 ? indices.length : k, true);
        indices.forEach((i, j) => view.setUint32(1 + B + 4 + 4 * j, i, true));
        return [d, out] as const;
      });
    });
    check(fc.property(arb, ([d, bytes]) => verdictProperty(d, bytes)), budget(1000));
  }, FUZZ_TIMEOUT_MS);
  it('mutated valid updates: a DecodeError or a valid update', () => {
    const arb = dim.chain((d) => fc.tuple(fc.constant(d), mutated(validUpdate(d).map((u) => encodeUpdate(u, d)))));
    check(fc.property(arb, ([d, bytes]) => {
      updateProperty(d, bytes);
      verdictProperty(d, bytes);
    }), budget(2000));
  }, FUZZ_TIMEOUT_MS);
});
