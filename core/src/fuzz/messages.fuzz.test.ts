import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, ProtocolError, type Message } from '../protocol/messages';
import { validMessage } from './arbitraries';
import { budget, check, decodeOrTypedError, hostileValue, mapMutation, mutated, mutateMap, reportCases, FUZZ_TIMEOUT_MS } from './harness';

// as the protocol packs: plain maps, so a mutated map reaches the validator as the real one does
const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number', mapsAsObjects: true });

afterAll(() => reportCases('messages'));

/** decodeMessage's contract: a ProtocolError, or a message that encodes back to an equal one */
function decodesToValidOrProtocolError(bytes: Uint8Array): void {
  const out = decodeOrTypedError(() => decodeMessage(bytes), ProtocolError);
  if ('error' in out) return;
  const again = decodeMessage(encodeMessage(out.value));
  expect(again).toEqual(out.value);
}

describe('fuzz: session messages (decodeMessage)', () => {
  it('valid messages round-trip', () => {
    check(
      fc.property(validMessage, (m) => {
        expect(decodeMessage(encodeMessage(m))).toEqual(m);
      }),
      budget(300),
    );
  }, FUZZ_TIMEOUT_MS);

  it('arbitrary bytes: a ProtocolError or a valid message', () => {
    check(fc.property(fc.uint8Array({ maxLength: 200 }), decodesToValidOrProtocolError), budget(2000));
  }, FUZZ_TIMEOUT_MS);

  it('arbitrary msgpack values: a ProtocolError or a valid message', () => {
    check(
      fc.property(hostileValue, (v) => decodesToValidOrProtocolError(new Uint8Array(packr.pack(v)))),
      budget(1000),
    );
  }, FUZZ_TIMEOUT_MS);

  it('mutated valid bytes: a ProtocolError or a valid message', () => {
    check(fc.property(mutated(validMessage.map(encodeMessage)), decodesToValidOrProtocolError), budget(3000));
  }, FUZZ_TIMEOUT_MS);

  it('valid messages with fields dropped, replaced or added: a ProtocolError or a valid message', () => {
    check(
      fc.property(validMessage, fc.array(mapMutation, { minLength: 1, maxLength: 3 }), (m, ms) => {
        const map = mutateMap(m as unknown as Record<string, unknown>, ms);
        decodesToValidOrProtocolError(new Uint8Array(packr.pack(map)));
      }),
      budget(3000),
    );
  }, FUZZ_TIMEOUT_MS);

  it('a message over the size limit is refused before it is parsed', () => {
    check(
      fc.property(validMessage, (m) => {
        const bytes = encodeMessage(m);
        const out = decodeOrTypedError(() => decodeMessage(bytes, { maxBytes: bytes.byteLength - 1 }), ProtocolError);
        expect('error' in out && (out.error as ProtocolError).reason).toBe('too-large');
      }),
      budget(100),
    );
  }, FUZZ_TIMEOUT_MS);
});
