import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, dot, expectClose, expectCode, gradCheck } from './helpers/compare';
import { bot } from './helpers/lib';
import { digests } from './helpers/digests';
import { Win, poolRef, win } from './helpers/reference/pool';
import { backendTest } from './helpers/backend';

const { ops } = bot;
// The addon itself, to check that the core re-checks what the TypeScript layer validates.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const addon: { ops: Record<string, (...args: unknown[]) => unknown> } = require('../../dist/native').native();

const EXACT = { atol: 0, rtol: 0 };

function maxBackwardRef(x: ArrayLike<number>, shape: number[], w: Win, dy: ArrayLike<number>): Float64Array {
  const { arg } = poolRef(x, shape, w, 'max');
  const dx = new Float64Array(x.length);
  for (let o = 0; o < arg.length; o++) dx[arg[o]] += dy[o];
  return dx;
}

function globalRef(x: ArrayLike<number>, shape: number[]): Float64Array {
  const [n, h, wd, c] = shape;
  const y = new Float64Array(n * c);
  for (let b = 0; b < n; b++) for (let i = 0; i < h * wd; i++) for (let j = 0; j < c; j++) y[b * c + j] += x[(b * h * wd + i) * c + j] / (h * wd);
  return y;
}

// --- cases ------------------------------------------------------------------------------

type Opts = Parameters<typeof ops.avgPool2d>[1];

// [input shape, options]: the ResNet stem, the ResNet-D shortcut, odd sizes, rectangular
// and asymmetric windows, ceil mode with and without padding.
const CASES: Array<[number[], Opts]> = [
  [[2, 13, 13, 8], { kernel: 3, stride: 2, padding: 1 }],
  [[1, 7, 7, 3], { kernel: 3, stride: 2, padding: 1 }],
  [[2, 9, 11, 5], { kernel: 2, stride: 2, ceilMode: true, countIncludePad: false }],
  [[1, 7, 7, 17], { kernel: 2, stride: 2, ceilMode: true, countIncludePad: true }],
  [[3, 6, 6, 4], { kernel: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: true }],
  [[3, 6, 6, 4], { kernel: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }],
  [[2, 8, 10, 6], { kernel: [2, 3], stride: [1, 2], padding: [1, 0] }],
  [[1, 10, 9, 7], { kernel: [3, 5], stride: [3, 2], padding: [1, 2], ceilMode: true, countIncludePad: false }],
  [[2, 5, 5, 9], { kernel: 2, stride: 2, padding: 1, ceilMode: true }],
  [[1, 4, 6, 2], { kernel: 1, stride: 1 }],
  [[1, 12, 12, 33], { kernel: 5, stride: 3, padding: 2, ceilMode: true }],
  [[2, 6, 7, 3], { kernel: 4, stride: 1, padding: 2, countIncludePad: false }],
  [[1, 1, 1, 6], { kernel: 2, stride: 2, ceilMode: true, countIncludePad: false }],
];

const maxOpts = (o: Opts) => ({ kernel: o.kernel, stride: o.stride, padding: o.padding, ceilMode: o.ceilMode });

backendTest(test);

test('output sizes follow PyTorch (floor, ceil, and the ceil-mode rule for the last window)', () => {
  const shape = (s: number, o: Opts) => ops.pool2dOutputShape([1, s, s, 1], o)[1];
  assert.is(shape(112, { kernel: 3, stride: 2, padding: 1 }), 56, 'ResNet stem');
  assert.is(shape(56, { kernel: 2, stride: 2, ceilMode: true }), 28, 'ResNet-D shortcut, even');
  assert.is(shape(7, { kernel: 2, stride: 2, ceilMode: true }), 4, '7 ceil');
  assert.is(shape(7, { kernel: 2, stride: 2 }), 3, '7 floor');
  assert.is(shape(6, { kernel: 3, stride: 2, padding: 1, ceilMode: true }), 4, '6 ceil pad 1');
  // 5 + 2 pad, kernel 2, stride 2, ceil: 4 windows, but the 4th would start in the right padding.
  assert.is(shape(5, { kernel: 2, stride: 2, padding: 1, ceilMode: true }), 3, 'last window dropped');
  assert.is(shape(1, { kernel: 2, stride: 2, ceilMode: true }), 1, '1 ceil');
  assert.equal(ops.pool2dOutputShape([2, 9, 10, 3], { kernel: [3, 2], stride: [2, 3] }), [2, 4, 3, 3]);
});

test('max pool forward matches the float64 definition', () => {
  for (const [i, [shape, o]] of CASES.entries()) {
    const seed = 2000 + i;
    const rng = new Rng(seed);
    const x = rng.tensor(shape);
    const ref = poolRef(x.data, shape, win(o), 'max');
    const y = ops.maxPool2d(x, maxOpts(o));
    assert.equal(y.shape, ref.shape, `shape ${JSON.stringify(o)}`);
    expectClose(y.data, ref.y, { op: 'maxPool2d', shape, seed, options: o }, EXACT);
    expectClose(ops.maxPool2dReference(x, maxOpts(o)).data, ref.y, { op: 'maxPool2dReference', shape, seed }, EXACT);
  }
});

test('max pool: padding never wins, ties go to the first element, NaN propagates', () => {
  // All negative: a padded zero would win if padding took part.
  const x = { data: Float32Array.from({ length: 25 }, (_, i) => -1 - i), shape: [1, 5, 5, 1] };
  const y = ops.maxPool2d(x, { kernel: 3, stride: 2, padding: 1 });
  assert.equal(Array.from(y.data), [-1, -2, -4, -6, -7, -9, -16, -17, -19]);
  // Ties: every window holds equal values; the gradient goes to the first in row-major order.
  const ones = { data: new Float32Array(2 * 4 * 4 * 3).fill(1), shape: [2, 4, 4, 3] };
  const dy = { data: Float32Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => i + 1), shape: [2, 2, 2, 3] };
  const dx = ops.maxPool2dBackward(ones, dy, { kernel: 2, stride: 2 });
  const expected = new Float32Array(ones.data.length);
  for (let b = 0; b < 2; b++) {
    for (let p = 0; p < 2; p++) {
      for (let q = 0; q < 2; q++) for (let j = 0; j < 3; j++) expected[((b * 4 + 2 * p) * 4 + 2 * q) * 3 + j] = dy.data[((b * 2 + p) * 2 + q) * 3 + j];
    }
  }
  assert.equal(Array.from(dx.data), Array.from(expected));
  // Overlapping windows with ties (3x3 stride 1 over a constant): each dy lands on its window's first element.
  const flat = { data: new Float32Array(16).fill(2), shape: [1, 4, 4, 1] };
  const dx2 = ops.maxPool2dBackward(flat, { data: new Float32Array(4).fill(1), shape: [1, 2, 2, 1] }, { kernel: 3, stride: 1 });
  assert.equal(Array.from(dx2.data), [1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const nan = { data: Float32Array.from([1, NaN, 3, 2]), shape: [1, 2, 2, 1] };
  assert.ok(Number.isNaN(ops.maxPool2d(nan, { kernel: 2 }).data[0]), 'NaN propagates');
});

test('max pool backward matches the argmax scatter and finite differences', () => {
  for (const [i, [shape, o]] of CASES.entries()) {
    const seed = 2100 + i;
    const rng = new Rng(seed);
    const x = rng.tensor(shape);
    const w = win(o);
    const yShape = poolRef(x.data, shape, w, 'max').shape;
    const dy = rng.tensor(yShape);
    const dx = ops.maxPool2dBackward(x, dy, maxOpts(o));
    assert.equal(dx.shape, shape);
    const ctx = { op: 'maxPool2dBackward', shape, seed, options: o };
    expectClose(dx.data, maxBackwardRef(x.data, shape, w, dy.data), ctx, { atol: 1e-6, rtol: 1e-6 });
    gradCheck((xs) => dot(poolRef(xs, shape, w, 'max').y, dy.data), x.data, dx.data, { ...ctx, rng, h: 1e-5 });
  }
});

test('average pool forward matches the float64 definition (both divisor rules)', () => {
  for (const [i, [shape, o]] of CASES.entries()) {
    for (const countIncludePad of [true, false]) {
      const seed = 2200 + i;
      const rng = new Rng(seed);
      const x = rng.tensor(shape);
      const opts = { ...o, countIncludePad };
      const ref = poolRef(x.data, shape, win(opts), 'avg');
      const y = ops.avgPool2d(x, opts);
      assert.equal(y.shape, ref.shape);
      const ctx = { op: 'avgPool2d', shape, seed, options: opts };
      expectClose(y.data, ref.y, ctx, { atol: 1e-6, rtol: 1e-6 });
      expectClose(ops.avgPool2dReference(x, opts).data, ref.y, { ...ctx, op: 'avgPool2dReference' }, { atol: 1e-6, rtol: 1e-6 });
    }
  }
});

test('average pool 2x2/2 ceil on 7x7: edge windows divide by 2, the corner by 1 (by hand)', () => {
  const x = { data: Float32Array.from({ length: 49 }, (_, i) => i), shape: [1, 7, 7, 1] }; // x[h][w] = 7h + w
  const at = (h: number, w: number) => 7 * h + w;
  const mean = (...v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  for (const countIncludePad of [false, true]) {
    // With no padding, PyTorch clips the window to the (padded = real) input in both modes.
    const y = ops.avgPool2d(x, { kernel: 2, stride: 2, ceilMode: true, countIncludePad });
    assert.equal(y.shape, [1, 4, 4, 1]);
    const expected: number[] = [];
    for (let p = 0; p < 4; p++) {
      for (let q = 0; q < 4; q++) {
        const rows = p < 3 ? [2 * p, 2 * p + 1] : [6];
        const cols = q < 3 ? [2 * q, 2 * q + 1] : [6];
        expected.push(mean(...rows.flatMap((h) => cols.map((w) => at(h, w)))));
      }
    }
    expectClose(y.data, expected, { op: 'avgPool2d 7x7 ceil', countIncludePad }, { atol: 1e-6, rtol: 0 });
    assert.is(y.data[3], (6 + 13) / 2, 'right edge: 2 elements');
    assert.is(y.data[12], (42 + 43) / 2, 'bottom edge: 2 elements');
    assert.is(y.data[15], 48, 'corner: 1 element');
    // Backward: the corner input gets its full dy, edge inputs half.
    const dx = ops.avgPool2dBackward({ data: new Float32Array(16).fill(1), shape: [1, 4, 4, 1] }, { inputShape: x.shape, kernel: 2, stride: 2, ceilMode: true, countIncludePad });
    assert.is(dx.data[48], 1);
    assert.is(dx.data[at(0, 6)], 0.5);
    assert.is(dx.data[at(0, 0)], 0.25);
  }
});

test('average pool 3x3/2 pad 1 ceil on 6x6: count_include_pad counts the padding, not past it (by hand)', () => {
  const x = { data: Float32Array.from({ length: 36 }, (_, i) => 10 * Math.floor(i / 6) + (i % 6)), shape: [1, 6, 6, 1] };
  const opts = { kernel: 3, stride: 2, padding: 1, ceilMode: true };
  const incl = ops.avgPool2d(x, { ...opts, countIncludePad: true });
  const excl = ops.avgPool2d(x, { ...opts, countIncludePad: false });
  assert.equal(incl.shape, [1, 4, 4, 1]);
  // Window (0, 0) covers rows/cols -1..1: 4 real elements, 9 in the padded input.
  assert.is(incl.data[0], Math.fround((0 + 1 + 10 + 11) / 9));
  assert.is(excl.data[0], Math.fround((0 + 1 + 10 + 11) / 4));
  // Window (3, 3) covers rows/cols 5..7: only x[5][5] is real; rows/cols 6 are padding and
  // 7 lies past it, so the divisor is 2x2 = 4 with count_include_pad, else 1.
  assert.is(incl.data[15], 55 / 4);
  assert.is(excl.data[15], 55);
  // Window (0, 3): rows -1..1 (2 real, 3 padded) x cols 5..7 (1 real, 2 padded).
  assert.is(incl.data[3], Math.fround((5 + 15) / 6));
  assert.is(excl.data[3], (5 + 15) / 2);
});

test('average pool backward matches the float64 scatter and finite differences', () => {
  for (const [i, [shape, o]] of CASES.entries()) {
    for (const countIncludePad of [true, false]) {
      const seed = 2300 + i;
      const rng = new Rng(seed);
      const x = rng.tensor(shape);
      const opts = { ...o, countIncludePad };
      const w = win(opts);
      const yShape = poolRef(x.data, shape, w, 'avg').shape;
      const dy = rng.tensor(yShape);
      const dx = ops.avgPool2dBackward(dy, { ...opts, inputShape: shape });
      assert.equal(dx.shape, shape);
      const ctx = { op: 'avgPool2dBackward', shape, seed, options: opts, rng };
      gradCheck((xs) => dot(poolRef(xs, shape, w, 'avg').y, dy.data), x.data, dx.data, { ...ctx, samples: 40 });
    }
  }
});

test('fast pooling equals the native references on a ResNet-sized layer', () => {
  const rng = new Rng(2400);
  const x = rng.tensor([2, 56, 56, 64]);
  const stem = { kernel: 3, stride: 2, padding: 1 };
  expectClose(ops.maxPool2d(x, stem).data, ops.maxPool2dReference(x, stem).data, { op: 'maxPool2d stem', seed: 2400 }, EXACT);
  const down = { kernel: 2, stride: 2, ceilMode: true, countIncludePad: false };
  const x2 = rng.tensor([4, 27, 27, 40]);
  expectClose(ops.avgPool2d(x2, down).data, ops.avgPool2dReference(x2, down).data, { op: 'avgPool2d ResNet-D', seed: 2400 }, { atol: 1e-6, rtol: 1e-6 });
});

test('global average pool forward and backward', () => {
  for (const [i, shape] of [[1, 1, 1, 3], [2, 7, 7, 13], [3, 4, 5, 64], [1, 8, 8, 130]].entries()) {
    const seed = 2500 + i;
    const rng = new Rng(seed);
    const x = rng.tensor(shape);
    const y = ops.globalAvgPool(x);
    assert.equal(y.shape, [shape[0], shape[3]]);
    expectClose(y.data, globalRef(x.data, shape), { op: 'globalAvgPool', shape, seed }, { atol: 1e-6, rtol: 1e-6 });
    const dy = rng.tensor(y.shape);
    const dx = ops.globalAvgPoolBackward(dy, shape);
    assert.equal(dx.shape, shape);
    gradCheck((xs) => dot(globalRef(xs, shape), dy.data), x.data, dx.data, { op: 'globalAvgPoolBackward', shape, seed, rng });
  }
});

test('pooling results are bit-identical for every thread count (batch 1 splits channels)', () => {
  const body = `
    const t = (shape, f) => ({ data: Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => f(i)), shape });
    const out = {};
    for (const n of [1, 3]) {
      const x = t([n, 15, 15, 72], (i) => Math.sin(i * 0.37) + (i % 7 === 0 ? 1 : 0));
      const stem = { kernel: 3, stride: 2, padding: 1 };
      const down = { kernel: 2, stride: 2, ceilMode: true, countIncludePad: false };
      const ym = bot.ops.maxPool2d(x, stem);
      out['max' + n] = ym.data;
      out['maxBack' + n] = bot.ops.maxPool2dBackward(x, t(ym.shape, (i) => Math.cos(i)), stem).data;
      const ya = bot.ops.avgPool2d(x, down);
      out['avg' + n] = ya.data;
      out['avgBack' + n] = bot.ops.avgPool2dBackward(t(ya.shape, (i) => Math.cos(i)), { ...down, inputShape: x.shape }).data;
      out['global' + n] = bot.ops.globalAvgPool(x).data;
      out['globalBack' + n] = bot.ops.globalAvgPoolBackward(t([n, 72], (i) => Math.cos(i)), x.shape).data;
    }
    return out;`;
  const here = digests(0, body);
  assert.is(Object.keys(here).length, 12);
  for (const threads of [1, 3, 5]) assert.equal(digests(threads, body), here, `${threads} threads vs ${bot.runtime.getThreads()}`);
});


// --- errors -----------------------------------------------------------------------------

test('pooling rejects bad input with codes', () => {
  const rng = new Rng(2600);
  const x = rng.tensor([1, 7, 7, 3]);
  expectCode(() => ops.maxPool2d(rng.tensor([7, 7, 3]), { kernel: 2 }), 'ERR_SHAPE', 'rank 3');
  expectCode(() => ops.maxPool2d({ data: new Float32Array(10), shape: [1, 7, 7, 3] }, { kernel: 2 }), 'ERR_SHAPE', 'length vs shape');
  expectCode(() => ops.maxPool2d({ data: new Float64Array(147) as unknown as Float32Array, shape: [1, 7, 7, 3] }, { kernel: 2 }), 'ERR_DTYPE', 'Float64Array');
  expectCode(() => ops.maxPool2d(x, { kernel: 3, stride: 2, padding: 2 }), 'ERR_ARGUMENT', 'pad > kernel/2');
  expectCode(() => ops.avgPool2d(x, { kernel: [3, 4], padding: [1, 3] }), 'ERR_ARGUMENT', 'pad_w > kernel_w/2');
  expectCode(() => ops.avgPool2d(x, { kernel: 1, padding: 1 }), 'ERR_ARGUMENT', 'pad with kernel 1');
  expectCode(() => ops.maxPool2d(x, { kernel: 0 }), 'ERR_ARGUMENT', 'kernel 0');
  expectCode(() => ops.maxPool2d(x, { kernel: 2, stride: 0 }), 'ERR_ARGUMENT', 'stride 0');
  expectCode(() => ops.maxPool2d(x, { kernel: 2, padding: -1 }), 'ERR_ARGUMENT', 'padding -1');
  expectCode(() => ops.maxPool2d(x, { kernel: 2.5 }), 'ERR_ARGUMENT', 'kernel 2.5');
  expectCode(() => ops.maxPool2d(x, {} as unknown as Opts), 'ERR_ARGUMENT', 'kernel missing');
  expectCode(() => ops.maxPool2d(x, { kernel: 2, strides: 2 } as unknown as Opts), 'ERR_ARGUMENT', 'unknown key');
  expectCode(() => ops.maxPool2d(x, { kernel: 8 }), 'ERR_SHAPE', 'input smaller than the kernel');
  expectCode(() => ops.maxPool2d(x, { kernel: 2, ceilMode: 1 as unknown as boolean }), 'ERR_ARGUMENT', 'ceilMode not boolean');
  expectCode(() => ops.maxPool2dBackward(x, rng.tensor([1, 3, 3, 3]), { kernel: 3, stride: 2, padding: 1 }), 'ERR_SHAPE', 'max dy shape');
  expectCode(() => ops.avgPool2dBackward(rng.tensor([1, 3, 3, 3]), { inputShape: [1, 7, 7, 3], kernel: 2, ceilMode: true }), 'ERR_SHAPE', 'avg dy shape');
  expectCode(() => ops.avgPool2dBackward(rng.tensor([1, 4, 4, 3]), { kernel: 2 } as unknown as Parameters<typeof ops.avgPool2dBackward>[1]), 'ERR_SHAPE', 'inputShape missing');
  expectCode(() => ops.globalAvgPool(rng.tensor([7, 3])), 'ERR_SHAPE', 'global rank 2');
  expectCode(() => ops.globalAvgPoolBackward(rng.tensor([1, 4]), [1, 7, 7, 3]), 'ERR_SHAPE', 'global dy shape');
  expectCode(() => ops.globalAvgPoolBackward(rng.tensor([1, 3]), [1, 0, 7, 3]), 'ERR_SHAPE', 'global inputShape with 0');
});

test('the core re-checks lengths, kinds and ranges at its boundary', () => {
  const x = new Float32Array(147);
  const call = (name: string, ...args: unknown[]) => () => addon.ops[name](...args);
  const ok = call('maxPool2d', x, [1, 7, 7, 3], 3, 3, 2, 2, 1, 1, false)() as { shape: number[] };
  assert.equal(ok.shape, [1, 4, 4, 3]);
  expectCode(call('maxPool2d', x, [1, 7, 7, 3], 3, 3, 2, 2, 2, 1, false), 'ERR_ARGUMENT', 'pad > kernel/2');
  expectCode(call('maxPool2d', x, [1, 7, 7, 3], 3, 3, 0, 2, 1, 1, false), 'ERR_ARGUMENT', 'stride 0');
  expectCode(call('maxPool2d', x, [1, 7, 7, 3], 9, 9, 1, 1, 0, 0, false), 'ERR_SHAPE', 'output empty');
  expectCode(call('maxPool2d', new Float32Array(146), [1, 7, 7, 3], 3, 3, 2, 2, 1, 1, false), 'ERR_SHAPE', 'x length');
  expectCode(call('maxPool2d', new Float64Array(147), [1, 7, 7, 3], 3, 3, 2, 2, 1, 1, false), 'ERR_DTYPE', 'x kind');
  expectCode(call('maxPool2dBackward', x, new Float32Array(47), [1, 7, 7, 3], 3, 3, 2, 2, 1, 1, false), 'ERR_SHAPE', 'dy length');
  expectCode(call('avgPool2dBackward', new Float32Array(48), [1, 7, 7, 3], 2, 2, 2, 2, 0, 0, true, 'no'), 'ERR_ARGUMENT', 'countIncludePad');
  expectCode(call('avgPool2dBackward', new Float32Array(47), [1, 7, 7, 3], 2, 2, 2, 2, 0, 0, true, false), 'ERR_SHAPE', 'avg dy length');
  expectCode(call('globalAvgPool', x, [1, 7, 7]), 'ERR_SHAPE', 'global rank 3');
  expectCode(call('globalAvgPoolBackward', new Float32Array(4), [1, 7, 7, 3]), 'ERR_SHAPE', 'global dy length');
});

test.run();
