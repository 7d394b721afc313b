/**
 * Distillation: the teacher's soft targets softmax(r/T), the float64 reference of the
 * paper's loss CE(p, softmax(z)) + w·T²·CE(softmax(r/T), softmax(z/T)) against a direct
 * evaluation and finite differences of its gradient, the config's defaults and errors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expectClose, expectCode, gradCheck, Rng } from './helpers/compare';
import { bot } from './helpers/lib';

const { distillationTargets, distillationLoss, resolveDistillation, smoothLabels } = bot.train;

/** softmax(x/T) of one row, written out without max subtraction (fine for small logits). */
function naiveSoftmax(row: number[], t: number): number[] {
  const e = row.map((v) => Math.exp(v / t));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

test('distillationTargets = softmax(r/T) per row; T flattens; huge logits do not overflow', () => {
  const rng = new Rng(1);
  const r = rng.tensor([4, 6], 3);
  for (const T of [1, 2, 20]) {
    const q = distillationTargets(r, T);
    assert.equal(q.shape, [4, 6]);
    for (let i = 0; i < 4; i++) {
      const row = Array.from(r.data.subarray(i * 6, i * 6 + 6));
      expectClose(q.data.subarray(i * 6, i * 6 + 6), naiveSoftmax(row, T), { op: `softmax(r/${T})`, seed: 1 }, { atol: 1e-7, rtol: 1e-6 });
    }
  }
  // Higher T: closer to uniform (smaller max probability).
  assert.ok(Math.max(...distillationTargets(r, 20).data.subarray(0, 6)) < Math.max(...distillationTargets(r, 1).data.subarray(0, 6)));
  const big = distillationTargets({ data: Float32Array.from([1e4, 1e4 - 20, -1e4]), shape: [1, 3] }, 20);
  expectClose(big.data, [1 / (1 + Math.exp(-1)), Math.exp(-1) / (1 + Math.exp(-1)), 0], { op: 'huge logits' }, { atol: 1e-7, rtol: 1e-6 });
});

test('distillationLoss equals a direct evaluation of the formula', () => {
  const rng = new Rng(2);
  const n = 3;
  const k = 5;
  const z = rng.tensor([n, k], 2);
  const r = rng.tensor([n, k], 4);
  const labels = Int32Array.from([4, 0, 2]);
  for (const [T, w] of [[20, 1], [2, 0.5], [1, 0]]) {
    let expected = 0;
    for (let i = 0; i < n; i++) {
      const zi = Array.from(z.data.subarray(i * k, i * k + k));
      const ri = Array.from(r.data.subarray(i * k, i * k + k));
      const s = naiveSoftmax(zi, 1);
      const sT = naiveSoftmax(zi, T);
      const q = naiveSoftmax(ri, T);
      expected += -Math.log(s[labels[i]]) - w * T * T * q.reduce((a, qc, c) => a + qc * Math.log(sT[c]), 0);
    }
    const { loss } = distillationLoss({ logits: z, targets: labels, teacherLogits: r, temperature: T, weight: w });
    expectClose([loss], [expected / n], { op: `distillation loss T=${T} w=${w}`, seed: 2 }, { atol: 1e-12, rtol: 1e-12 });
  }
  // Defaults: T = 20, w = 1; labels and one-hot targets agree.
  const a = distillationLoss({ logits: z, targets: labels, teacherLogits: r });
  const b = distillationLoss({ logits: z, targets: smoothLabels(labels, k, 0), teacherLogits: r, temperature: 20, weight: 1 });
  assert.is(a.loss, b.loss);
});

test('distillationLoss gradient: finite differences, and w = 0 is the plain cross-entropy gradient', () => {
  const rng = new Rng(3);
  const n = 4;
  const k = 6;
  const z = rng.tensor([n, k], 2);
  const r = rng.tensor([n, k], 3);
  const p = smoothLabels(Int32Array.from([1, 5, 0, 3]), k, 0.1);
  for (const T of [1, 3, 20]) {
    const { grad } = distillationLoss({ logits: z, targets: p, teacherLogits: r, temperature: T });
    const f = (x: Float64Array) => distillationLoss({ logits: { data: Float32Array.from(x), shape: [n, k] }, targets: p, teacherLogits: r, temperature: T }).loss;
    // f rounds x to float32: steps of 2^-8 keep the difference quotient exact enough.
    gradCheck(f, z.data, grad, { op: `distillation grad T=${T}`, seed: 3, rng, samples: 12, h: 2 ** -8, atol: 1e-4, rtol: 1e-3 });
  }
  const plain = distillationLoss({ logits: z, targets: p, teacherLogits: r, weight: 0 });
  const ce = bot.ops.softmaxCrossEntropy(z, { targets: p });
  expectClose([plain.loss], [ce.loss], { op: 'w = 0 loss', seed: 3 }, { atol: 1e-6, rtol: 1e-6 });
  expectClose(plain.grad, ce.grad.data, { op: 'w = 0 grad', seed: 3 }, { atol: 1e-7, rtol: 1e-5 });
});

test('a student equal to its teacher has zero soft-term gradient', () => {
  const rng = new Rng(4);
  const z = rng.tensor([2, 4], 2);
  const labels = Int32Array.from([0, 1]);
  const withTeacher = distillationLoss({ logits: z, targets: labels, teacherLogits: z, temperature: 20 });
  const hardOnly = distillationLoss({ logits: z, targets: labels, teacherLogits: z, weight: 0 });
  expectClose(withTeacher.grad, hardOnly.grad, { op: 'soft gradient at z = r' }, { atol: 1e-15, rtol: 1e-12 });
});

test('resolveDistillation: defaults T = 20, w = 1; errors', () => {
  assert.equal(resolveDistillation({ teacher: 'teacher.safetensors' }), { teacher: 'teacher.safetensors', temperature: 20, weight: 1 });
  assert.equal(resolveDistillation({ teacher: 't', temperature: 4, weight: 0.5 }), { teacher: 't', temperature: 4, weight: 0.5 });
  expectCode(() => resolveDistillation({}), 'ERR_ARGUMENT', 'no teacher');
  expectCode(() => resolveDistillation({ teacher: 't', temperature: 0 }), 'ERR_ARGUMENT', 'T = 0');
  expectCode(() => resolveDistillation({ teacher: 't', T: 20 }), 'ERR_ARGUMENT', 'unknown key');
  const z = { data: new Float32Array(6), shape: [2, 3] };
  expectCode(() => distillationTargets(z, 0), 'ERR_ARGUMENT', 'T = 0');
  expectCode(() => distillationTargets({ data: Float32Array.from([NaN, 0, 0]), shape: [1, 3] }, 1), 'ERR_ARGUMENT', 'NaN teacher logits');
  expectCode(() => distillationLoss({ logits: z, targets: Int32Array.from([0]), teacherLogits: z }), 'ERR_SHAPE', 'label count');
  expectCode(() => distillationLoss({ logits: z, targets: Int32Array.from([0, 3]), teacherLogits: z }), 'ERR_ARGUMENT', 'label out of range');
  expectCode(() => distillationLoss({ logits: z, targets: Int32Array.from([0, 1]), teacherLogits: { data: new Float32Array(4), shape: [2, 2] } }), 'ERR_SHAPE', 'teacher shape');
});

test.run();
