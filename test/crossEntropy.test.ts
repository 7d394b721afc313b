import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, expectClose, expectCode, gradCheck } from './helpers/compare';
import { bot } from './helpers/lib';
import { crossEntropyRef, smoothedTargets } from './helpers/reference';
import { backendTest } from './helpers/backend';

const { ops } = bot;

const CASES = [[1, 2], [3, 10], [8, 7], [33, 100], [2, 1000]];

backendTest(test);

test('hard labels with and without smoothing: loss and gradient', () => {
  for (const [ci, [n, k]] of CASES.entries()) {
    for (const eps of [0, 0.1, 0.5]) {
      const seed = 400 + ci;
      const rng = new Rng(seed);
      const z = rng.tensor([n, k], 3);
      const labels = Int32Array.from({ length: n }, () => rng.int(0, k - 1));
      const r = ops.softmaxCrossEntropy(z, { labels, smoothing: eps });
      const q = smoothedTargets(labels, k, eps);
      const ctx = { op: 'crossEntropy', shape: [n, k], seed, smoothing: eps };
      expectClose([r.loss], [crossEntropyRef(z.data, q, n, k)], ctx, { atol: 1e-6, rtol: 1e-6 });
      assert.equal(r.grad.shape, [n, k]);
      gradCheck((zs) => crossEntropyRef(zs, q, n, k), z.data, r.grad.data, { ...ctx, rng, atol: 1e-5, h: 1e-4 });
    }
  }
});

test('soft targets: loss, gradient, and equality with one-hot hard labels', () => {
  const rng = new Rng(11);
  const [n, k] = [6, 9];
  const z = rng.tensor([n, k], 2);
  const t = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += t[i * k + j] = rng.uniform();
    for (let j = 0; j < k; j++) t[i * k + j] /= s;
  }
  const r = ops.softmaxCrossEntropy(z, { targets: { data: t, shape: [n, k] } });
  expectClose([r.loss], [crossEntropyRef(z.data, t, n, k)], { op: 'soft CE', seed: 11 }, { atol: 1e-6, rtol: 1e-6 });
  gradCheck((zs) => crossEntropyRef(zs, t, n, k), z.data, r.grad.data, { op: 'soft CE grad', seed: 11, rng, atol: 1e-5, h: 1e-4 });

  const labels = Int32Array.from({ length: n }, (_, i) => i % k);
  const hard = ops.softmaxCrossEntropy(z, { labels });
  const onehot = ops.softmaxCrossEntropy(z, { targets: { data: Float32Array.from(smoothedTargets(labels, k, 0)), shape: [n, k] } });
  expectClose([hard.loss], [onehot.loss], { op: 'hard vs one-hot' }, { atol: 1e-7, rtol: 1e-7 });
  expectClose(hard.grad.data, onehot.grad.data, { op: 'hard vs one-hot grad' }, { atol: 1e-7, rtol: 0 });
});

test('huge logits stay finite (log-sum-exp with the max subtracted)', () => {
  const z = { data: new Float32Array([1e30, -1e30, 0, 3e38, 3e38, -3e38]), shape: [2, 3] };
  const r = ops.softmaxCrossEntropy(z, { labels: new Int32Array([0, 2]) });
  assert.ok(Number.isFinite(r.loss), `loss ${r.loss}`);
  assert.ok(r.grad.data.every(Number.isFinite));
  // Row 0 is certain and right (loss 0); row 1 puts the label at −6e38 below the max.
  expectClose([r.loss], [(0 + 6e38) / 2], { op: 'huge logits' }, { atol: 0, rtol: 1e-6 });
});

test('cross-entropy rejects bad labels, smoothing and shapes', () => {
  const z = { data: new Float32Array(6), shape: [2, 3] };
  expectCode(() => ops.softmaxCrossEntropy(z, { labels: new Int32Array([0, 3]) }), 'ERR_ARGUMENT', 'label out of range');
  expectCode(() => ops.softmaxCrossEntropy(z, { labels: new Int32Array([0, -1]) }), 'ERR_ARGUMENT', 'negative label');
  expectCode(() => ops.softmaxCrossEntropy(z, { labels: new Int32Array([0]) }), 'ERR_SHAPE', 'label count');
  expectCode(() => ops.softmaxCrossEntropy(z, { labels: new Int32Array([0, 1]), smoothing: 1 }), 'ERR_ARGUMENT', 'smoothing 1');
  expectCode(() => ops.softmaxCrossEntropy(z, { labels: new Int32Array([0, 1]), smoothing: NaN }), 'ERR_ARGUMENT', 'smoothing NaN');
  expectCode(() => ops.softmaxCrossEntropy(z, { labels: Float32Array.from([0, 1]) as unknown as Int32Array }), 'ERR_DTYPE', 'float labels');
  expectCode(() => ops.softmaxCrossEntropy(z, { targets: { data: new Float32Array(4), shape: [2, 2] } }), 'ERR_SHAPE', 'target shape');
  expectCode(() => ops.softmaxCrossEntropy({ data: new Float32Array(2), shape: [2, 1] }, { labels: new Int32Array([0, 0]) }), 'ERR_SHAPE', 'one class');
  const neg = new Float32Array(6).fill(1 / 3);
  neg[0] = -1;
  expectCode(() => ops.softmaxCrossEntropy(z, { targets: { data: neg, shape: [2, 3] } }), 'ERR_ARGUMENT', 'negative target');
});

test.run();
