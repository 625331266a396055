import { describe, expect, it } from 'vitest';
import { DataType } from '../graph/onnx-proto';
import { fold, type ConstValue } from './fold';
import type { OnnxAttribute, OnnxNode } from './onnx-read';

/** Folding of the integer sub-graphs exporters write for shapes, the batch size carried as a mark. */

const node = (opType: string, attrs: Record<string, Omit<OnnxAttribute, 'name'>> = {}, inputs = 2): OnnxNode => ({
  name: `/${opType}`,
  opType,
  domain: '',
  inputs: Array.from({ length: inputs }, (_, i) => `in${i}`),
  outputs: ['out'],
  attributes: new Map(Object.entries(attrs).map(([name, a]) => [name, { name, ...a }])),
});
const ints = (values: number[], shape = [values.length], batch?: number[]): ConstValue => ({
  dataType: DataType.INT64, shape, data: Float64Array.from(values), batch: batch ? Uint8Array.from(values, (_, i) => (batch.includes(i) ? 1 : 0)) : null,
});
const floats = (values: number[], shape = [values.length]): ConstValue => ({ dataType: DataType.FLOAT, shape, data: Float64Array.from(values), batch: null });
const values = (c: ConstValue) => Array.from(c.data);

describe('fold', () => {
  // [N, 16, 5, 5] as Shape gives it: element 0 is the batch size
  const shape = ints([0, 16, 5, 5], [4], [0]);

  it('Gather / Unsqueeze / Concat keep the batch mark where it goes', () => {
    const n = fold(node('Gather', { axis: { i: 0 } }), [shape, ints([0], [])]);
    expect(n.shape).toEqual([]);
    expect(Array.from(n.batch!)).toEqual([1]);
    const n1 = fold(node('Unsqueeze'), [n, ints([0])]);
    const target = fold(node('Concat', { axis: { i: 0 } }, 2), [n1, ints([-1])]);
    expect(target.shape).toEqual([2]);
    expect(values(target)).toEqual([0, -1]);
    expect(Array.from(target.batch!)).toEqual([1, 0]);
    const tail = fold(node('Slice', {}, 3), [shape, ints([1]), ints([4])]);
    expect(values(tail)).toEqual([16, 5, 5]);
    expect(tail.batch?.some((b) => b)).toBe(false);
    const reversed = fold(node('Slice', {}, 5), [shape, ints([-1]), ints([-10]), ints([0]), ints([-2])]);
    expect(values(reversed)).toEqual([5, 16]);
  });

  it('arithmetic on the batch size is refused; on plain numbers it folds', () => {
    expect(() => fold(node('Mul'), [shape, ints([2])])).toThrow(/computes with the batch size/);
    const area = fold(node('Mul'), [fold(node('Slice', {}, 3), [shape, ints([2]), ints([3])]), fold(node('Slice', {}, 3), [shape, ints([3]), ints([4])])]);
    expect(values(area)).toEqual([25]);
    expect(values(fold(node('Div'), [ints([7, -7]), ints([2])]))).toEqual([3, -3]);
  });

  it('Equal, Where (broadcast), Range, ConstantOfShape, Expand, Cast', () => {
    const eq = fold(node('Equal'), [ints([3, -1, 4]), ints([-1])]);
    expect(eq.dataType).toBe(DataType.BOOL);
    expect(values(eq)).toEqual([0, 1, 0]);
    expect(values(fold(node('Where', {}, 3), [eq, ints([1]), ints([3, -1, 4])]))).toEqual([3, 1, 4]);
    expect(values(fold(node('Range', {}, 3), [ints([2], []), ints([9], []), ints([3], [])]))).toEqual([2, 5, 8]);
    const filled = fold(node('ConstantOfShape', { value: { t: { name: '', dims: [1], dataType: DataType.FLOAT, float: Float32Array.of(0.5), ints: null } } }, 1), [ints([2, 2])]);
    expect(filled.shape).toEqual([2, 2]);
    expect(values(filled)).toEqual([0.5, 0.5, 0.5, 0.5]);
    const expanded = fold(node('Expand'), [floats([1, 2], [2, 1]), ints([2, 3])]);
    expect(values(expanded)).toEqual([1, 1, 1, 2, 2, 2]);
    const cast = fold(node('Cast', { to: { i: DataType.INT64 } }, 1), [floats([2.7, -2.7])]);
    expect(values(cast)).toEqual([2, -2]);
    expect(() => fold(node('Cast', { to: { i: DataType.FLOAT } }, 1), [shape])).toThrow(/batch size/);
  });

  it('Constant in its attribute forms', () => {
    expect(values(fold(node('Constant', { value_float: { f: 0.25 } }, 0), []))).toEqual([0.25]);
    expect(fold(node('Constant', { value_ints: { ints: [1, 2] } }, 0), []).dataType).toBe(DataType.INT64);
    expect(() => fold(node('Constant', { value_string: { s: 'x' } }, 0), [])).toThrow(/only value, value_float/);
  });
});
