import { describe, expect, it } from 'vitest';
import { createModel } from '@signvote/core';
import { extractUnits, findFirstLayer, firstLayerPictures, unitToRgba } from './weights';

describe('first-layer weight pictures', () => {
  it('finds fc1 of the MLP and reads unit u as column u of the [784, 64] weight', () => {
    const model = createModel('mlp');
    const x = model.init(3);
    const layer = findFirstLayer(model.layout, 784);
    expect(layer?.entry.name).toBe('fc1.weight');
    const units = extractUnits(x, layer!, 784, 16);
    expect(units.length).toBe(16 * 784);
    const { offset, shape } = layer!.entry;
    for (const [u, i] of [[0, 0], [5, 300], [15, 783]]) expect(units[u * 784 + i]).toBe(x[offset + i * shape[1] + u]);
  });

  it('reads [units, inputs] layouts row by row and refuses a CNN', () => {
    const layout = [{ name: 'w', shape: [3, 4], offset: 2, size: 12 }];
    const params = Float32Array.from({ length: 14 }, (_, i) => i);
    const layer = findFirstLayer(layout, 4)!;
    expect(layer.unitsFirst).toBe(true);
    expect([...extractUnits(params, layer, 4, 2)]).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(findFirstLayer(createModel('cnn').layout, 784)).toBeNull();
  });

  it('draws the MLP as 28x28 units and the CNN as its 5x5 first-layer filters', () => {
    const mlp = createModel('mlp');
    const x = mlp.init(1);
    const p = firstLayerPictures(mlp.layout, mlp.inputShape, 16)!(x);
    expect([p.units, p.width, p.height, p.data.length]).toEqual([16, 28, 28, 16 * 784]);
    const cnn = createModel('cnn');
    const y = cnn.init(1);
    const q = firstLayerPictures(cnn.layout, cnn.inputShape, 16)!(y);
    expect([q.units, q.width, q.height]).toEqual([8, 5, 5]);
    expect([...q.data]).toEqual([...y.subarray(0, 8 * 25)]);
    expect(firstLayerPictures([{ name: 'w', shape: [10, 3], offset: 0, size: 30 }], [10], 4)).toBeNull();
  });

  it('maps zero to mid-gray and the extremes to black and white', () => {
    const rgba = unitToRgba(Float32Array.of(-2, 0, 1, 2));
    expect([rgba[0], rgba[4], rgba[8], rgba[12]]).toEqual([0, 128, 191, 255]);
    expect(rgba[3]).toBe(255);
    expect([...unitToRgba(new Float32Array(2))].filter((_, i) => i % 4 === 0)).toEqual([128, 128]);
  });
});
