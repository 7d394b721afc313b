/**
 * Label smoothing: the paper's convention (1 − ε on the label, ε/(K − 1) elsewhere), rows
 * summing to 1, agreement with the Net's native smoothing through the cross-entropy op,
 * and argument errors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expectClose, expectCode, Rng } from './helpers/compare';
import { bot } from './helpers/lib';

const { smoothLabels } = bot.train;

test('1 − ε on the label, ε/(K − 1) on every other class', () => {
  const t = smoothLabels(Int32Array.from([2, 0]), 5, 0.1);
  assert.equal(t.shape, [2, 5]);
  assert.ok(t.data instanceof Float32Array);
  const on = Math.fround(0.9);
  const off = Math.fround(0.1 / 4);
  assert.equal(Array.from(t.data), [off, off, on, off, off, on, off, off, off, off]);
  // K = 1000, ε = 0.1 (the paper's ImageNet setting): 0.9 and 1e-4 (timm's would be 0.9001 and 1e-4).
  const big = smoothLabels([999], 1000, 0.1);
  assert.is(big.data[999], Math.fround(0.9));
  assert.is(big.data[0], Math.fround(0.1 / 999));
});

test('ε = 0 gives one-hot rows; K = 1 only without smoothing', () => {
  const t = smoothLabels([1, 0, 1], 2, 0);
  assert.equal(Array.from(t.data), [0, 1, 1, 0, 0, 1]);
  assert.equal(Array.from(smoothLabels([0], 1, 0).data), [1]);
  expectCode(() => smoothLabels([0], 1, 0.1), 'ERR_ARGUMENT', 'K = 1 with ε > 0');
});

test('rows sum to 1 for random labels, K and ε', () => {
  const rng = new Rng(4);
  for (let trial = 0; trial < 20; trial++) {
    const k = rng.int(2, 300);
    const n = rng.int(1, 17);
    const eps = rng.uniform() * 0.5;
    const labels = Int32Array.from({ length: n }, () => rng.int(0, k - 1));
    const t = smoothLabels(labels, k, eps);
    for (let i = 0; i < n; i++) {
      let s = 0;
      let arg = 0;
      for (let c = 0; c < k; c++) {
        s += t.data[i * k + c];
        if (t.data[i * k + c] > t.data[i * k + arg]) arg = c;
      }
      assert.ok(Math.abs(s - 1) < 1e-5, `row ${i} sums to ${s} (k=${k}, eps=${eps})`);
      assert.is(arg, labels[i], 'the label keeps the largest target');
    }
  }
});

test("the soft targets give the same loss and gradient as the Net's hard-label smoothing", () => {
  const { ops } = bot;
  const rng = new Rng(9);
  const n = 6;
  const k = 7;
  const logits = rng.tensor([n, k], 2);
  const labels = Int32Array.from({ length: n }, () => rng.int(0, k - 1));
  const hard = ops.softmaxCrossEntropy(logits, { labels, smoothing: 0.1 });
  const soft = ops.softmaxCrossEntropy(logits, { targets: smoothLabels(labels, k, 0.1) });
  expectClose([soft.loss], [hard.loss], { op: 'smoothed loss', seed: 9 }, { atol: 1e-6, rtol: 1e-6 });
  expectClose(soft.grad.data, hard.grad.data, { op: 'smoothed grad', seed: 9 }, { atol: 1e-7, rtol: 1e-5 });
});

test('argument errors', () => {
  expectCode(() => smoothLabels([3], 3, 0.1), 'ERR_ARGUMENT', 'label = K');
  expectCode(() => smoothLabels([-1], 3, 0.1), 'ERR_ARGUMENT', 'negative label');
  expectCode(() => smoothLabels([0.5], 3, 0.1), 'ERR_ARGUMENT', 'fractional label');
  expectCode(() => smoothLabels(new Float32Array(2) as never, 3, 0.1), 'ERR_ARGUMENT', 'Float32Array labels');
  expectCode(() => smoothLabels([0], 3, 1), 'ERR_ARGUMENT', 'ε = 1');
  expectCode(() => smoothLabels([0], 3, -0.1), 'ERR_ARGUMENT', 'negative ε');
  expectCode(() => smoothLabels([0], 0, 0), 'ERR_ARGUMENT', 'K = 0');
});

test.run();
