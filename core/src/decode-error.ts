/**
 * The error every decoder of untrusted bytes throws: session messages (ProtocolError, a
 * subclass), ballot and verdict payloads, snapshot pieces, checkpoints and datasets. A caller
 * tells "the input was bad" from a bug in this program with one `instanceof DecodeError`, and
 * the message says what was wrong. Anything else a decoder throws is a bug (the fuzz tests in
 * core/src/fuzz check that none escapes).
 */
export class DecodeError extends Error {
  override name: string = 'DecodeError';
}

/**
 * Runs a validity check that the encoders share (it throws a RangeError or TypeError naming the
 * problem, a caller's bug when encoding) as a step of decoding, where the same failure means bad
 * input: those two become a DecodeError with the same message; anything else passes through.
 */
export function decodeCheck<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof RangeError || e instanceof TypeError) throw new DecodeError(e.message, { cause: e });
    throw e;
  }
}

/**
 * A short description of an untrusted value for an error message. Never throws and never long:
 * `String(v)` on a decoded map whose `toString` key is not a function throws a TypeError, and
 * `JSON.stringify` of a 64 MiB string makes a 64 MiB message.
 */
export function describeValue(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return v.length <= 40 ? JSON.stringify(v) : `${JSON.stringify(v.slice(0, 40))}... (${v.length} characters)`;
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(v);
    case 'bigint':
      return `${v}n`;
    case 'object':
      if (v === null) return 'null';
      if (v instanceof Uint8Array) return `binary (${v.byteLength} bytes)`;
      if (Array.isArray(v)) return `an array of ${v.length}`;
      return 'a map';
    default:
      return typeof v;
  }
}
