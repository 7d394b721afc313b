import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, dot, expectClose, expectCode, expectCodeAsync, gradCheck } from './helpers/compare';
import { bot } from './helpers/lib';
import { linearRef } from './helpers/reference';
import { backendTest } from './helpers/backend';

const { ops } = bot;

const CASES = [
  [1, 1, 1], [1, 7, 3], [2, 3, 5], [5, 17, 10], [32, 64, 10], [3, 129, 33], [8, 512, 100],
  // n <= 4: dot products over the rows of w (a tail of 12 inputs; outputs split between threads)
  [4, 300, 70], [2, 40, 2000],
];

backendTest(test);

test('linear forward and backward match the float64 reference and finite differences', () => {
  for (const [ci, [n, inF, out]] of CASES.entries()) {
    const seed = 300 + ci;
    const rng = new Rng(seed);
    const x = rng.tensor([n, inF]);
    const w = rng.tensor([out, inF], 1 / Math.sqrt(inF));
    const b = rng.tensor([out]);
    const shape = { n, in: inF, out };
    const y = ops.linear(x, w, b);
    assert.equal(y.shape, [n, out]);
    expectClose(y.data, linearRef(x.data, w.data, b.data, n, inF, out), { op: 'linear', shape, seed });
    const noBias = ops.linear(x, w);
    expectClose(noBias.data, linearRef(x.data, w.data, null, n, inF, out), { op: 'linear (no bias)', shape, seed });

    const g = rng.array(n * out);
    const grads = ops.linearBackward(x, w, { data: g, shape: [n, out] });
    assert.equal(grads.dx.shape, [n, inF]);
    assert.equal(grads.dw.shape, [out, inF]);
    assert.equal(grads.db.shape, [out]);
    gradCheck((xs) => dot(linearRef(xs, w.data, b.data, n, inF, out), g), x.data, grads.dx.data, { op: 'linear dx', shape, seed, rng });
    gradCheck((ws) => dot(linearRef(x.data, ws, b.data, n, inF, out), g), w.data, grads.dw.data, { op: 'linear dw', shape, seed, rng });
    gradCheck((bs) => dot(linearRef(x.data, w.data, bs, n, inF, out), g), b.data, grads.db.data, { op: 'linear db', shape, seed, rng });
  }
});

test('linearAsync gives the same result as linear and keeps its inputs even if the caller overwrites them', async () => {
  const rng = new Rng(7);
  const x = rng.tensor([16, 40]);
  const w = rng.tensor([12, 40]);
  const sync = ops.linear(x, w);
  const pending = ops.linearAsync(x, w);
  x.data.fill(0);
  const y = await pending;
  assert.equal(Array.from(y.data), Array.from(sync.data));
});

test('linear rejects mismatched shapes with coded errors', async () => {
  const x = { data: new Float32Array(6), shape: [2, 3] };
  const w = { data: new Float32Array(8), shape: [2, 4] };
  expectCode(() => ops.linear(x, w), 'ERR_SHAPE', 'in features');
  expectCode(() => ops.linear(x, { data: new Float32Array(6), shape: [2, 3] }, { data: new Float32Array(3), shape: [3] }), 'ERR_SHAPE', 'bias');
  expectCode(() => ops.linearBackward(x, { data: new Float32Array(6), shape: [2, 3] }, { data: new Float32Array(3), shape: [3, 1] }), 'ERR_SHAPE', 'dy');
  await expectCodeAsync(() => ops.linearAsync(x, w), 'ERR_SHAPE', 'async');
});

test.run();
