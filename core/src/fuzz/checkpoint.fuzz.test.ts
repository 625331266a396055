import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecodeError } from '../decode-error';
import { createFileCheckpointStore } from '../node/checkpoint-file';
import { createRng } from '../random';
import { checkCheckpoint, decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../session/checkpoint';
import { hashPair } from '../session/hash';
import { budget, check, checkAsync, decodeOrTypedError, hostileValue, mapMutation, mutated, mutateMap, reportCases, FUZZ_TIMEOUT_MS } from './harness';

/** Checkpoint files (session/checkpoint.ts, node/checkpoint-file.ts): what a resumed peer reads from disk. */

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'signvote-fuzz-'));
});
afterAll(async () => {
  reportCases('checkpoint');
  await rm(dir, { recursive: true, force: true });
});

const floats = (d: number): fc.Arbitrary<Float32Array> => fc.float32Array({ minLength: d, maxLength: d });

const validCheckpoint: fc.Arbitrary<Checkpoint> = fc.integer({ min: 1, max: 12 }).chain((d) =>
  fc
    .record({
      session: fc.string({ minLength: 1, maxLength: 16 }),
      round: fc.nat(),
      x: floats(d),
      xPrev: floats(d),
      savedAt: fc.integer({ min: 0, max: 2 ** 42 }),
      memory: fc.option(
        fc.record({
          momentum: fc.option(floats(d), { nil: null }),
          error: fc.option(floats(d), { nil: null }),
          coins: fc.option(fc.nat().map((seed) => createRng(seed).state()), { nil: undefined }),
          data: fc.option(fc.uint8Array({ maxLength: 24 }), { nil: undefined }),
        }),
        { nil: undefined },
      ),
    })
    .map(({ memory, ...cp }): Checkpoint => {
      const m = memory && {
        momentum: memory.momentum,
        error: memory.error,
        ...(memory.coins ? { coins: memory.coins } : {}),
        ...(memory.data ? { data: memory.data } : {}),
      };
      return { ...cp, hash: hashPair(cp.x, cp.xPrev), ...(m ? { memory: m } : {}) };
    }),
);

/** decodeCheckpoint's contract: a DecodeError, or a checkpoint that passes its checks and round-trips */
function checkpointProperty(bytes: Uint8Array): void {
  const out = decodeOrTypedError(() => decodeCheckpoint(bytes));
  if ('error' in out) return;
  checkCheckpoint(out.value);
  expect(decodeCheckpoint(encodeCheckpoint(out.value))).toEqual(out.value);
}

describe('fuzz: checkpoint files (decodeCheckpoint)', () => {
  it('valid checkpoints round-trip', () => {
    check(fc.property(validCheckpoint, (cp) => {
      expect(decodeCheckpoint(encodeCheckpoint(cp))).toEqual(cp);
    }), budget(200));
  }, FUZZ_TIMEOUT_MS);
  it('arbitrary bytes and msgpack values: a DecodeError or a valid checkpoint', () => {
    check(fc.property(fc.uint8Array({ maxLength: 200 }), checkpointProperty), budget(1000));
    check(fc.property(hostileValue, (v) => checkpointProperty(new Uint8Array(packr.pack(v)))), budget(500));
  }, FUZZ_TIMEOUT_MS);
  it('mutated valid checkpoints: a DecodeError or a valid checkpoint', () => {
    check(fc.property(mutated(validCheckpoint.map(encodeCheckpoint)), checkpointProperty), budget(2000));
  }, FUZZ_TIMEOUT_MS);
  it('valid checkpoints with fields dropped, replaced or added: a DecodeError or a valid checkpoint', () => {
    check(
      fc.property(validCheckpoint, fc.array(mapMutation, { minLength: 1, maxLength: 3 }), (cp, ms) => {
        const map = mutateMap(packr.unpack(encodeCheckpoint(cp)) as Record<string, unknown>, ms);
        checkpointProperty(new Uint8Array(packr.pack(map)));
      }),
      budget(2000),
    );
  }, FUZZ_TIMEOUT_MS);
  it('a checkpoint file with mutated bytes loads as a DecodeError naming the file, or as a valid checkpoint', async () => {
    const path = join(dir, 'cp.bin');
    const store = createFileCheckpointStore(path);
    await checkAsync(
      fc.asyncProperty(mutated(validCheckpoint.map(encodeCheckpoint)), async (bytes) => {
        await writeFile(path, bytes);
        try {
          checkCheckpoint((await store.load())!);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
          expect((e as Error).message).toContain(path);
        }
      }),
      budget(100, 0.05),
    );
  }, FUZZ_TIMEOUT_MS);
});
