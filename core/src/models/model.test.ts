import { describe, expect, it } from 'vitest';
import { createModel, modelNames, type ModelName } from './model';

describe('createModel', () => {
  it('MLP has the paper layout, d = 55,050', () => {
    const m = createModel('mlp');
    expect(m.d).toBe(55_050);
    expect(m.layout.map((e) => [e.name, e.shape])).toEqual([
      ['fc1.weight', [784, 64]], ['fc1.bias', [64]],
      ['fc2.weight', [64, 64]], ['fc2.bias', [64]],
      ['fc3.weight', [64, 10]], ['fc3.bias', [10]],
    ]);
  });

  it.each(modelNames)('%s layout tiles the flat vector with no gaps', (name: ModelName) => {
    const m = createModel(name);
    let offset = 0;
    for (const e of m.layout) {
      expect(e.offset).toBe(offset);
      expect(e.size).toBe(e.shape.reduce((a, b) => a * b, 1));
      offset += e.size;
    }
    expect(offset).toBe(m.d);
  });

  it('CNN is sized for 28x28 inputs', () => {
    const m = createModel('cnn');
    expect(m.inputShape).toEqual([1, 28, 28]);
    expect(m.layout.find((e) => e.name === 'fc1.weight')?.shape).toEqual([784, 64]);
    expect(m.d).toBe(8 * 25 + 8 + 16 * 8 * 25 + 16 + 784 * 64 + 64 + 64 * 10 + 10);
  });

  it('init is seeded: same seed same vector, other seed other vector', () => {
    const m = createModel('mlp');
    expect(m.init(3)).toEqual(m.init(3));
    expect(m.init(3)).not.toEqual(m.init(4));
  });

  it('init uses He for ReLU layers, Glorot for the logits layer, zero biases', () => {
    const m = createModel('mlp');
    const x = m.init(5);
    const view = (name: string) => {
      const e = m.layout.find((l) => l.name === name)!;
      return x.subarray(e.offset, e.offset + e.size);
    };
    const std = (v: Float32Array) => Math.sqrt(v.reduce((a, b) => a + b * b, 0) / v.length);
    expect(std(view('fc1.weight'))).toBeCloseTo(Math.sqrt(2 / 784), 3);
    expect(std(view('fc2.weight'))).toBeCloseTo(Math.sqrt(2 / 64), 2);
    const limit = Math.sqrt(6 / (64 + 10));
    const fc3 = view('fc3.weight');
    expect(Math.max(...fc3.map(Math.abs))).toBeLessThanOrEqual(limit);
    expect(std(fc3)).toBeCloseTo(limit / Math.sqrt(3), 1);
    expect(view('fc1.bias').every((v) => v === 0)).toBe(true);
  });

  it('rejects unknown names', () => {
    expect(() => createModel('resnet' as ModelName)).toThrow(/unknown model/);
  });
});
