import { encode as encodePng } from 'fast-png';
import { encode as encodeJpeg } from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { csvDataSchema, imageDataSchema } from './spec';
import { DataError, dataSpecMismatch, decodeImage, imageToSample, parseCsvDataset, prepareLocalData, resizeArea, type ImageFile } from './index';

/** A peer's own data: CSV rows and image folders become samples, or a DataError names the cell or file. */

const csvSpec = csvDataSchema.parse({ format: 'csv', labelColumn: 'species', classes: ['setosa', 'versicolor', 'virginica'], testFraction: 0.25 });
const model4x3 = { inputShape: [4], numClasses: 3 };
const csv = (text: string) => ({ kind: 'csv' as const, file: 'iris.csv', bytes: new TextEncoder().encode(text) });
const rows = (n: number) =>
  Array.from({ length: n }, (_, i) => `${i},${i / 2},"${i % 7}",${-i},${['setosa', 'versicolor', 'virginica'][i % 3]}`).join('\n');
const refused = (f: () => unknown): DataError => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(DataError);
    return err as DataError;
  }
  throw new Error('expected a DataError');
};

describe('CSV data', () => {
  it('reads features and labels, holds out a stratified test split, counts classes', () => {
    const data = prepareLocalData(csvSpec, csv(`a,b,c,d,species\r\n${rows(40)}\n`), model4x3, 1);
    expect(data.train.count + data.test.count).toBe(40);
    expect(data.test.count).toBe(10);
    expect(data.counts).toEqual([{ name: 'setosa', count: 14 }, { name: 'versicolor', count: 13 }, { name: 'virginica', count: 13 }]);
    // row i = [i, i/2, i%7, -i], label i%3: every sample keeps its row
    for (const split of [data.train, data.test]) {
      for (let j = 0; j < split.count; j++) {
        const i = split.inputs[j * 4];
        expect(Array.from(split.inputs.subarray(j * 4, j * 4 + 4))).toEqual([i, i / 2, i % 7, i === 0 ? 0 : -i]);
        expect(split.labels[j]).toBe(i % 3);
      }
    }
    // same seed, same split; another seed, another
    expect(prepareLocalData(csvSpec, csv(`a,b,c,d,species\n${rows(40)}`), model4x3, 1).test.inputs).toEqual(data.test.inputs);
    expect(prepareLocalData(csvSpec, csv(`a,b,c,d,species\n${rows(40)}`), model4x3, 2).test.inputs).not.toEqual(data.test.inputs);
  });

  it('takes the last column as the label by default, named features in their order, and standardizes', () => {
    const spec = csvDataSchema.parse({ format: 'csv', classes: ['no', 'yes'], features: ['y', 'x'], standardize: { mean: [1, 2], std: [2, 4] } });
    const text = 'x,y,z,label\n' + Array.from({ length: 10 }, (_, i) => `${i},${2 * i},9,${i % 2 ? 'yes' : 'no'}`).join('\n');
    const data = prepareLocalData(spec, csv(text), { inputShape: [2], numClasses: 2 }, 1);
    const all = [data.train, data.test].flatMap((d) => Array.from({ length: d.count }, (_, j) => [d.inputs[j * 2], d.inputs[j * 2 + 1], d.labels[j]]));
    for (const [y, x, label] of all) {
      const i = x * 4 + 2;
      expect(y).toBeCloseTo((2 * i - 1) / 2, 6);
      expect(label).toBe(i % 2);
    }
  });

  it.each([
    ['a non-number cell', `a,b,c,d,species\n1,2,3,4,setosa\n1,2,x3,4,versicolor\n`, /iris\.csv line 3, column "c": "x3" is not a number/, { line: 3, column: 'c' }],
    ['an empty cell', `a,b,c,d,species\n1,2,3,4,setosa\n1,,3,4,setosa\n`, /iris\.csv line 3, column "b": empty/, { line: 3, column: 'b' }],
    ['an unknown label', `a,b,c,d,species\n1,2,3,4,setosa\n1,2,3,4,virginca\n`, /line 3, column "species": label "virginca" is not one of the session's classes \(setosa, versicolor, virginica\)/, { line: 3, column: 'species' }],
    ['a short row', `a,b,c,d,species\n1,2,3,4,setosa\n\n1,2,3,setosa\n`, /iris\.csv line 4: 4 fields, the header has 5/, { line: 4 }],
    ['no label column', `a,b,c,d,kind\n1,2,3,4,setosa\n`, /no column "species" \(the session's label column\); the header has a, b, c, d, kind/, { line: 1, column: 'species' }],
    ['too many features', `a,b,c,d,e,species\n1,2,3,4,5,setosa\n`, /5 feature columns \(a, b, c, d, e\), the session's model takes 4 inputs/, { line: 1 }],
    ['an unclosed quote', `a,b,c,d,species\n1,2,"3,4,setosa\n`, /iris\.csv.*not valid CSV/, {}],
    ['only a header', `a,b,c,d,species\n`, /a header but no rows/, { line: 1 }],
    ['an empty file', ``, /iris\.csv: empty/, {}],
  ])('%s: a DataError naming the file, line and column', (_, text, message, where) => {
    const err = refused(() => prepareLocalData(csvSpec, csv(text), model4x3, 1));
    expect(err.message).toMatch(message);
    expect(err.file).toBe('iris.csv');
    expect(err.where).toMatchObject(where);
  });

  it('refuses too few rows to hold a test split, classes the model does not have, and a folder', () => {
    expect(refused(() => prepareLocalData(csvSpec, csv('a,b,c,d,species\n1,2,3,4,setosa\n'), model4x3, 1)).message).toMatch(/too few to hold out 25%/);
    expect(refused(() => prepareLocalData(csvSpec, csv(`a,b,c,d,species\n${rows(9)}`), { inputShape: [4], numClasses: 4 }, 1)).message).toMatch(/names 3 classes, its model has 4 outputs/);
    expect(refused(() => prepareLocalData(csvSpec, { kind: 'images', folder: 'pics', files: [] }, model4x3, 1)).message).toMatch(/expects a CSV file, got a folder/);
  });

  it('blames the session, not the file, when its standardize does not fit its model (a session created before the check)', () => {
    const spec = csvDataSchema.parse({ ...csvSpec, standardize: { mean: [0, 0], std: [1, 1] } });
    const err = refused(() => prepareLocalData(spec, csv(`a,b,c,d,species
${rows(9)}`), model4x3, 1));
    expect(err.message).toBe('the session standardizes 2 features, its model takes 4 inputs');
    // the parser alone (no fit check before it) says the same
    expect(refused(() => parseCsvDataset('iris.csv', `a,b,c,d,species
${rows(9)}`, spec, { features: 4, inputShape: [4] })).message).toBe('the session standardizes 2 features, its model takes 4 inputs');
  });
});

describe('a CSV data spec on its own', () => {
  it('refuses a feature column named twice, and the label column named as a feature', () => {
    const issues = (spec: unknown) => {
      const r = csvDataSchema.safeParse(spec);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues({ format: 'csv', classes: ['a', 'b'], features: ['x', 'x', 'y'] })).toEqual(['features: feature columns must be distinct']);
    expect(issues({ format: 'csv', classes: ['a', 'b'], labelColumn: 'y', features: ['x', 'y'] })).toEqual(['features: the label column cannot also be a feature column']);
    expect(issues({ format: 'csv', classes: ['a', 'b'], labelColumn: 'y', features: ['x', 'z'] })).toEqual([]);
  });
});

describe('a data spec against its model, before any file', () => {
  it('names what does not fit, and passes what does', () => {
    const classes = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);
    const csvOf = (extra: object) => csvDataSchema.parse({ format: 'csv', classes: classes(3), ...extra });
    const images = (extra: object) => imageDataSchema.parse({ format: 'images', classes: classes(3), height: 4, width: 4, ...extra });
    const m = (inputShape: number[], numClasses = 3) => ({ inputShape, numClasses });
    expect(dataSpecMismatch(csvOf({}), m([784], 10))).toBe('the session names 3 classes, its model has 10 outputs');
    expect(dataSpecMismatch(csvOf({ features: ['a', 'b', 'c', 'd'] }), m([12]))).toBe('the session names 4 features (a, b, c, d), its model takes 12 inputs');
    expect(dataSpecMismatch(csvOf({ features: ['a'] }), m([12]))).toBe('the session names 1 feature (a), its model takes 12 inputs');
    expect(dataSpecMismatch(csvOf({ standardize: { mean: [0, 0], std: [1, 1] } }), m([4]))).toBe('the session standardizes 2 features, its model takes 4 inputs');
    expect(dataSpecMismatch(images({}), m([12]))).toBe('the session makes 1x4x4 = 16 inputs per image, its model takes 12');
    expect(dataSpecMismatch(images({ channels: 3, standardize: { mean: [0], std: [1] } }), m([3, 4, 4]))).toBe('the session standardizes 1 channel, its images have 3');
    // what fits; a CSV spec without features or standardize leaves the count to the file
    expect(dataSpecMismatch(csvOf({}), m([12]))).toBeNull();
    expect(dataSpecMismatch(csvOf({ features: ['a', 'b'], standardize: { mean: [0, 1], std: [1, 2] } }), m([2]))).toBeNull();
    expect(dataSpecMismatch(images({ channels: 3, standardize: { mean: [0, 0, 0], std: [1, 1, 1] } }), m([48]))).toBeNull();
  });
});

const imageSpec = imageDataSchema.parse({ format: 'images', classes: ['bright', 'dark'], channels: 1, height: 4, width: 4, testFraction: 0.25 });
const png = (w: number, h: number, value: (x: number, y: number) => number): Uint8Array =>
  encodePng({ width: w, height: h, channels: 1, depth: 8, data: Uint8Array.from({ length: w * h }, (_, i) => value(i % w, Math.floor(i / w))) });
const jpeg = (w: number, h: number, grey: number): Uint8Array =>
  new Uint8Array(encodeJpeg({ width: w, height: h, data: new Uint8Array(w * h * 4).fill(grey) }, 95).data);

describe('image folders', () => {
  it('decodes PNG and JPEG by their bytes, resizes to the session size, labels by folder', () => {
    const files: ImageFile[] = [];
    for (let i = 0; i < 8; i++) files.push({ path: `bright/${i}.png`, bytes: png(8, 8, () => 250) });
    for (let i = 0; i < 8; i++) files.push({ path: `dark/${i}.jpg`, bytes: jpeg(6, 6, 10) });
    files.push({ path: 'README.md', bytes: new TextEncoder().encode('not a sample') }, { path: 'dark/.DS_Store', bytes: new Uint8Array(3) });
    const data = prepareLocalData(imageSpec, { kind: 'images', folder: 'pics', files }, { inputShape: [1, 4, 4], numClasses: 2 }, 1);
    expect(data.counts).toEqual([{ name: 'bright', count: 8 }, { name: 'dark', count: 8 }]);
    expect(data.train.count).toBe(12);
    for (const d of [data.train, data.test]) {
      for (let j = 0; j < d.count; j++) {
        const mean = d.inputs.subarray(j * 16, j * 16 + 16).reduce((a, b) => a + b, 0) / 16;
        if (d.labels[j] === 0) expect(mean).toBeCloseTo(250 / 255, 5);
        else expect(Math.abs(mean - 10 / 255)).toBeLessThan(0.02);
      }
    }
  });

  it('area resize: averages when shrinking, repeats when growing, keeps a same-size image', () => {
    const src = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    const half = new Float32Array(4);
    resizeArea(src, 4, 4, half, 2, 2);
    expect(Array.from(half)).toEqual([2.5, 4.5, 10.5, 12.5]);
    const same = new Float32Array(16);
    resizeArea(src, 4, 4, same, 4, 4);
    expect(same).toEqual(src);
    const up = new Float32Array(4);
    resizeArea(Float32Array.from([1, 3]), 2, 1, up, 4, 1);
    expect(Array.from(up)).toEqual([1, 1, 3, 3]);
  });

  it('luminance, alpha onto black, invert, standardize', () => {
    const img = { width: 1, height: 1, data: Uint8Array.from([255, 0, 0, 255]) };
    expect(imageToSample(img, { channels: 1, height: 1, width: 1, invert: false })[0]).toBeCloseTo(0.299, 5);
    expect(Array.from(imageToSample(img, { channels: 3, height: 1, width: 1, invert: false }))).toEqual([1, 0, 0]);
    const half = { width: 1, height: 1, data: Uint8Array.from([255, 255, 255, 51]) };
    expect(imageToSample(half, { channels: 1, height: 1, width: 1, invert: true })[0]).toBeCloseTo(0.8, 5);
    expect(imageToSample(img, { channels: 1, height: 1, width: 1, invert: false, standardize: { mean: [0.5], std: [0.25] } })[0]).toBeCloseTo((0.299 - 0.5) / 0.25, 5);
  });

  it.each([
    ['a corrupt PNG', { path: 'dark/bad.png', bytes: png(4, 4, () => 1).subarray(0, 40) }, /pics\/dark\/bad\.png: cannot decode the image/, 'pics/dark/bad.png'],
    ['a text file named .png', { path: 'dark/notes.png', bytes: new TextEncoder().encode('<html>') }, /pics\/dark\/notes\.png: not a PNG or JPEG file \(it starts with 3c 68 74 6d\)/, 'pics/dark/notes.png'],
    ['an empty file', { path: 'bright/empty.jpg', bytes: new Uint8Array(0) }, /empty\.jpg: not a PNG or JPEG file \(it starts with nothing: the file is empty\)/, 'pics/bright/empty.jpg'],
    ['a folder that is no class', { path: 'cat/1.png', bytes: png(4, 4, () => 1) }, /pics\/cat: folder "cat" is not one of the session's classes \(bright, dark\)/, 'pics/cat'],
    ['another extension', { path: 'dark/1.gif', bytes: png(4, 4, () => 1) }, /pics\/dark\/1\.gif: not a \.png, \.jpg or \.jpeg file/, 'pics/dark/1.gif'],
  ])('%s: a DataError naming the file', (_, bad, message, file) => {
    const files: ImageFile[] = [{ path: 'bright/a.png', bytes: png(4, 4, () => 200) }, { path: 'dark/a.png', bytes: png(4, 4, () => 2) }, bad];
    const err = refused(() => prepareLocalData(imageSpec, { kind: 'images', folder: 'pics', files }, { inputShape: [1, 4, 4], numClasses: 2 }, 1));
    expect(err.message).toMatch(message);
    expect(err.file).toBe(file);
  });

  it('refuses a size that does not fit the model, and a folder without images', () => {
    const files = [{ path: 'bright/a.png', bytes: png(4, 4, () => 200) }];
    expect(refused(() => prepareLocalData(imageSpec, { kind: 'images', folder: 'pics', files }, { inputShape: [784], numClasses: 2 }, 1)).message).toMatch(/1x4x4 = 16 inputs per image, its model takes 784/);
    expect(refused(() => prepareLocalData(imageSpec, { kind: 'images', folder: 'pics', files: [] }, { inputShape: [16], numClasses: 2 }, 1)).message).toMatch(/pics: no images; expected one sub-folder per class \(bright, dark\)/);
    expect(refused(() => decodeImage('x.bin', Uint8Array.from([0xff, 0xd8, 0xff, 0, 1]))).message).toMatch(/x\.bin: cannot decode the image/);
  });
});
