import { broadcastShape, type GraphBuilder, type Value } from './builder';
import { DataType } from './onnx-proto';

/**
 * Elementwise ops and their backward rules, as functions on a GraphBuilder (the builder keeps
 * the tape; these only say what each op emits forwards and backwards). Binary ops broadcast
 * numpy-style; their gradients are summed back to each operand's shape (unbroadcast).
 */

export function sub(b: GraphBuilder, x: Value, y: Value): Value {
  const out = b.emit('Sub', [x, y], {}, broadcastShape(x.shape, y.shape));
  return b.record([x, y], out, (g, needs) => [
    needs[0] ? b.unbroadcast(g, x.shape) : null,
    needs[1] ? b.unbroadcast(b.emit('Neg', [g], {}, g.shape), y.shape) : null,
  ]);
}

export function mul(b: GraphBuilder, x: Value, y: Value): Value {
  const out = b.emit('Mul', [x, y], {}, broadcastShape(x.shape, y.shape));
  return b.record([x, y], out, (g, needs) => [
    needs[0] ? b.unbroadcast(b.emit('Mul', [g, y], {}, g.shape), x.shape) : null,
    needs[1] ? b.unbroadcast(b.emit('Mul', [g, x], {}, g.shape), y.shape) : null,
  ]);
}

/** d(x/y)/dy = -(x/y)/y, so the backward reuses the output */
export function div(b: GraphBuilder, x: Value, y: Value): Value {
  const out = b.emit('Div', [x, y], {}, broadcastShape(x.shape, y.shape));
  return b.record([x, y], out, (g, needs) => [
    needs[0] ? b.unbroadcast(b.emit('Div', [g, y], {}, g.shape), x.shape) : null,
    needs[1] ? b.unbroadcast(b.emit('Neg', [b.emit('Div', [b.emit('Mul', [g, out], {}, g.shape), y], {}, g.shape)], {}, g.shape), y.shape) : null,
  ]);
}

/** x ** p for a constant exponent p (no gradient to p): d/dx = p * x ** (p - 1) */
export function pow(b: GraphBuilder, x: Value, p: Value): Value {
  if (b.isTracked(p)) throw new RangeError('pow: the exponent must be a constant');
  const out = b.emit('Pow', [x, p], {}, broadcastShape(x.shape, p.shape));
  return b.record([x, p], out, (g) => {
    const lower = b.emit('Pow', [x, b.emit('Sub', [p, b.scalar(1)], {}, p.shape)], {}, out.shape);
    return [b.unbroadcast(b.emit('Mul', [g, b.emit('Mul', [lower, p], {}, out.shape)], {}, out.shape), x.shape), null];
  });
}

export function neg(b: GraphBuilder, x: Value): Value {
  const out = b.emit('Neg', [x], {}, x.shape);
  return b.record([x], out, (g) => [b.emit('Neg', [g], {}, g.shape)]);
}

/** d sqrt(x) = g / (2 sqrt(x)) */
export function sqrt(b: GraphBuilder, x: Value): Value {
  const out = b.emit('Sqrt', [x], {}, x.shape);
  return b.record([x], out, (g) => [b.emit('Div', [b.emit('Mul', [g, b.scalar(0.5)], {}, g.shape), out], {}, g.shape)]);
}

/** d tanh(x) = g (1 - y^2) */
export function tanh(b: GraphBuilder, x: Value): Value {
  const out = b.emit('Tanh', [x], {}, x.shape);
  return b.record([x], out, (g) => {
    const slope = b.emit('Sub', [b.scalar(1), b.emit('Mul', [out, out], {}, x.shape)], {}, x.shape);
    return [b.emit('Mul', [g, slope], {}, x.shape)];
  });
}

/** d sigmoid(x) = g y (1 - y) */
export function sigmoid(b: GraphBuilder, x: Value): Value {
  const out = b.emit('Sigmoid', [x], {}, x.shape);
  return b.record([x], out, (g) => {
    const slope = b.emit('Mul', [out, b.emit('Sub', [b.scalar(1), out], {}, x.shape)], {}, x.shape);
    return [b.emit('Mul', [g, slope], {}, x.shape)];
  });
}

/** d erf(x) = g 2/sqrt(pi) exp(-x^2) (GELU as exporters write it: x * 0.5 * (1 + erf(x / sqrt 2))) */
export function erf(b: GraphBuilder, x: Value): Value {
  const out = b.emit('Erf', [x], {}, x.shape);
  return b.record([x], out, (g) => {
    const gauss = b.emit('Exp', [b.emit('Neg', [b.emit('Mul', [x, x], {}, x.shape)], {}, x.shape)], {}, x.shape);
    return [b.emit('Mul', [g, b.emit('Mul', [gauss, b.scalar(2 / Math.sqrt(Math.PI))], {}, x.shape)], {}, x.shape)];
  });
}

/** slope 1 for x > 0, alpha otherwise (at 0 too, like the subgradient ORT's forward implies) */
export function leakyRelu(b: GraphBuilder, x: Value, alpha: number): Value {
  const out = b.emit('LeakyRelu', [x], { alpha: { float: alpha } }, x.shape);
  return b.record([x], out, (g) => {
    const positive = b.emit('Greater', [x, b.scalar(0)], {}, x.shape, DataType.BOOL);
    return [b.emit('Where', [positive, g, b.emit('Mul', [g, b.scalar(alpha)], {}, x.shape)], {}, x.shape)];
  });
}

/** softmax along one axis (opset >= 13 semantics): dx = y (g - sum(g y)) */
export function softmax(b: GraphBuilder, x: Value, axis: number): Value {
  const out = b.emit('Softmax', [x], { axis }, x.shape);
  return b.record([x], out, (g) => {
    const dot = b.reduceSum(b.emit('Mul', [g, out], {}, x.shape), [axis], true);
    return [b.emit('Mul', [out, b.emit('Sub', [g, dot], {}, x.shape)], {}, x.shape)];
  });
}

/** log-softmax along one axis: dx = g - exp(y) sum(g) */
export function logSoftmax(b: GraphBuilder, x: Value, axis: number): Value {
  const out = b.emit('LogSoftmax', [x], { axis }, x.shape);
  return b.record([x], out, (g) => {
    const total = b.reduceSum(g, [axis], true);
    return [b.emit('Sub', [g, b.emit('Mul', [b.emit('Exp', [out], {}, x.shape), total], {}, x.shape)], {}, x.shape)];
  });
}
