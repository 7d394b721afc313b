import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, dot, expectClose, expectCode, gradCheck } from './helpers/compare';
import { bot } from './helpers/lib';
import { backendTest } from './helpers/backend';

const { ops } = bot;

const SHAPES = [[1], [7], [3, 5], [2, 3, 4, 5], [1, 40000], [2, 17, 9, 13]];

backendTest(test);

test('relu forward and backward match the float64 definition', () => {
  for (const [i, shape] of SHAPES.entries()) {
    const seed = 100 + i;
    const rng = new Rng(seed);
    const x = rng.tensor(shape);
    const y = ops.relu(x);
    assert.equal(y.shape, shape);
    expectClose(y.data, Array.from(x.data, (v) => Math.max(v, 0)), { op: 'relu', shape, seed });
    const dy = rng.tensor(shape);
    const dx = ops.reluBackward(y, dy);
    const ref = (xs: Float64Array) => dot(Array.from(xs, (v) => Math.max(v, 0)), dy.data);
    gradCheck(ref, x.data, dx.data, { op: 'reluBackward', shape, seed, rng, h: 1e-4 });
    expectClose(dx.data, Array.from(x.data, (v, j) => (v > 0 ? dy.data[j] : 0)), { op: 'reluBackward', shape, seed });
  }
});

test('relu of zero and negative zero is zero with zero gradient', () => {
  const x = { data: new Float32Array([0, -0, -1e-30, 1e-30]), shape: [4] };
  const y = ops.relu(x);
  assert.equal(Array.from(y.data), [0, 0, 0, 1e-30].map(Math.fround));
  const dx = ops.reluBackward(y, { data: new Float32Array([1, 1, 1, 1]), shape: [4] });
  assert.equal(Array.from(dx.data), [0, 0, 0, 1]);
});

test('add sums element-wise and passes gradients through', () => {
  for (const [i, shape] of SHAPES.entries()) {
    const seed = 200 + i;
    const rng = new Rng(seed);
    const a = rng.tensor(shape);
    const b = rng.tensor(shape);
    const y = ops.add(a, b);
    expectClose(y.data, Array.from(a.data, (v, j) => v + b.data[j]), { op: 'add', shape, seed }, { atol: 0, rtol: 1e-7 });
  }
});

test('elementwise ops reject mismatched shapes with ERR_SHAPE', () => {
  const a = { data: new Float32Array(6), shape: [2, 3] };
  const b = { data: new Float32Array(6), shape: [3, 2] };
  expectCode(() => ops.add(a, b), 'ERR_SHAPE', 'add');
  expectCode(() => ops.reluBackward(a, b), 'ERR_SHAPE', 'reluBackward');
  expectCode(() => ops.relu({ data: new Float32Array(5), shape: [2, 3] }), 'ERR_SHAPE', 'relu length');
  expectCode(() => ops.relu({ data: new Float64Array(6) as unknown as Float32Array, shape: [2, 3] }), 'ERR_DTYPE', 'relu dtype');
});

test.run();
