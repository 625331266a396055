import fc from 'fast-check';
import { DecodeError } from '../decode-error';

/**
 * Shared pieces of the fuzz tests (docs/protocol.md "Fuzzing"): the seed and budget, the
 * "typed error or valid value" check, and mutations of valid inputs.
 *
 * CI runs every property with a fixed seed and a short budget; `FUZZ_RUNS=n` runs each
 * property n times instead and `FUZZ_SEED=s` changes the seed, e.g.
 *
 *   FUZZ_RUNS=100000 npx vitest run core/src/fuzz signaling/src/server.fuzz.test.ts
 *
 * Each file prints how many cases it ran. A failure prints fast-check's counterexample, shrunk,
 * with the seed and path that replay it.
 */

export const FUZZ_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 0x5167;
const FUZZ_RUNS = process.env.FUZZ_RUNS !== undefined ? Number(process.env.FUZZ_RUNS) : undefined;
if (!Number.isSafeInteger(FUZZ_SEED)) throw new RangeError(`FUZZ_SEED must be an integer, got ${process.env.FUZZ_SEED}`);
if (FUZZ_RUNS !== undefined && !(Number.isSafeInteger(FUZZ_RUNS) && FUZZ_RUNS > 0)) {
  throw new RangeError(`FUZZ_RUNS must be a positive integer, got ${process.env.FUZZ_RUNS}`);
}

/** per-test time limit: vitest's 60 s in CI; a long run (FUZZ_RUNS) may take hours */
export const FUZZ_TIMEOUT_MS = FUZZ_RUNS === undefined ? 60_000 : 24 * 3600_000;

/** Cases run per property: `FUZZ_RUNS` if set, else the property's CI budget, scaled by `weight`. */
export function budget(ci: number, weight = 1): number {
  return FUZZ_RUNS === undefined ? ci : Math.max(1, Math.round(FUZZ_RUNS * weight));
}

/** cases run by the properties of this test file (printed by `reportCases`) */
let cases = 0;

function parameters<T>(runs: number): fc.Parameters<T> {
  // endOnFailure: report the first counterexample (shrunk) instead of hunting for more
  return { seed: FUZZ_SEED, numRuns: runs, endOnFailure: true };
}

/** Runs a property `runs` times (see `budget`); throws fast-check's report on a counterexample. */
export function check<Ts>(property: fc.IProperty<Ts>, runs: number): void {
  const out = fc.check(property, parameters<Ts>(runs));
  cases += out.numRuns;
  if (out.failed) throw failure(out);
}

export async function checkAsync<Ts>(property: fc.IAsyncProperty<Ts>, runs: number): Promise<void> {
  const out = await fc.check(property, parameters<Ts>(runs));
  cases += out.numRuns;
  if (out.failed) throw failure(out);
}

function failure<Ts>(out: fc.RunDetails<Ts>): Error {
  const thrown = out.errorInstance instanceof Error ? `\n${out.errorInstance.message}` : '';
  return new Error(`${fc.defaultReportMessage(out) ?? 'property failed'}${thrown}`, { cause: out.errorInstance });
}

/** One line for the test log: how many cases this file ran, and how to replay them. */
export function reportCases(file: string): void {
  console.log(`fuzz ${file}: ${cases} cases (seed ${FUZZ_SEED}${FUZZ_RUNS !== undefined ? `, FUZZ_RUNS=${FUZZ_RUNS}` : ''})`);
}

/**
 * The fuzz property of a decoder: it returns a value, or throws `errorType` (DecodeError unless
 * given) with a message that says something in a few lines. Anything else it throws fails the
 * property with what was thrown, so fast-check shrinks towards the input that causes it.
 */
export function decodeOrTypedError<T>(decode: () => T, errorType: abstract new (...args: never[]) => Error = DecodeError): { value: T } | { error: Error } {
  try {
    return { value: decode() };
  } catch (e) {
    if (!(e instanceof errorType)) {
      const what = e instanceof Error ? `${e.name}: ${e.message}` : `a non-error ${typeof e}`;
      throw new Error(`decoder threw ${what}, not a ${errorType.name}`, { cause: e });
    }
    if (e.message.length === 0 || e.message.length > 600) throw new Error(`unclear ${e.name} message (${e.message.length} characters): ${e.message.slice(0, 200)}`);
    return { error: e };
  }
}

/** One edit of a byte string; positions are taken modulo the length where they land. */
export type ByteMutation =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'set'; readonly at: number; readonly byte: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'delete'; readonly at: number; readonly length: number }
  | { readonly op: 'duplicate'; readonly at: number; readonly length: number };

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.constantFrom(0, 1, 0x7f, 0x80, 0xc1, 0xff).chain((b) => fc.constantFrom(b, b ^ 0x55)) }), weight: 3 },
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
);

export function mutate(bytes: Uint8Array, mutations: readonly ByteMutation[]): Uint8Array {
  let b: Uint8Array = Uint8Array.from(bytes);
  for (const m of mutations) {
    const at = m.at % (b.length + 1);
    const inside = b.length === 0 ? -1 : m.at % b.length;
    switch (m.op) {
      case 'flip':
        if (inside >= 0) b[inside] ^= 1 << m.bit;
        break;
      case 'set':
        if (inside >= 0) b[inside] = m.byte;
        break;
      case 'truncate':
        b = b.slice(0, at);
        break;
      case 'insert':
        b = concat(b.subarray(0, at), m.bytes, b.subarray(at));
        break;
      case 'delete':
        b = concat(b.subarray(0, at), b.subarray(at + m.length));
        break;
      case 'duplicate':
        b = concat(b.subarray(0, at + m.length), b.subarray(at, at + m.length), b.subarray(at + m.length));
        break;
    }
  }
  return b;
}

/** `valid` after one to `max` byte edits */
export function mutated(valid: fc.Arbitrary<Uint8Array>, max = 4): fc.Arbitrary<Uint8Array> {
  return fc.tuple(valid, fc.array(byteMutation, { minLength: 1, maxLength: max })).map(([b, ms]) => mutate(b, ms));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Values a hostile peer can put in a decoded map's field: edge numbers, strings, binary,
 * nested maps and arrays, and maps whose `toString` / `valueOf` are not functions (what makes
 * a careless `String(v)` throw).
 */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), Number.MAX_VALUE, Number.NaN, Infinity, -Infinity, null, true, false, '', '0', 'ballot'),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 64 }),
  fc.constantFrom<unknown>({ toString: 1 }, { valueOf: {}, toString: {} }, { __proto__x: 1 }, [], [[[]]], {}),
  fc.anything({ maxDepth: 3, withNullPrototype: false, withTypedArray: false, withBigInt: false, withDate: false, withMap: false, withSet: false, withSparseArray: false, withBoxedValues: false }),
);

/** One edit of a decoded map: a field dropped, replaced by a hostile value, or a field added. */
export type MapMutation =
  | { readonly op: 'drop'; readonly key: number }
  | { readonly op: 'replace'; readonly key: number; readonly value: unknown }
  | { readonly op: 'add'; readonly name: string; readonly value: unknown };

export const mapMutation: fc.Arbitrary<MapMutation> = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), key: fc.nat() }),
  { arbitrary: fc.record({ op: fc.constant('replace' as const), key: fc.nat(), value: hostileValue }), weight: 4 },
  fc.record({ op: fc.constant('add' as const), name: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'toString', 'hash', 'x'), fc.string({ maxLength: 8 })), value: hostileValue }),
);

export function mutateMap(map: Record<string, unknown>, mutations: readonly MapMutation[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...map };
  for (const m of mutations) {
    const keys = Object.keys(out);
    if (m.op === 'add') {
      Object.defineProperty(out, m.name, { value: m.value, enumerable: true, writable: true, configurable: true });
    } else if (keys.length > 0) {
      const key = keys[m.key % keys.length];
      if (m.op === 'drop') delete out[key];
      else out[key] = m.value;
    }
  }
  return out;
}

/** 16 lowercase hex digits (a parameter hash) */
export const paramHash: fc.Arbitrary<string> = fc
  .uint8Array({ minLength: 8, maxLength: 8 })
  .map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(''));
