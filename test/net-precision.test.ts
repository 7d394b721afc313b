/**
 * What the Net does for the trainer's tricks: loss scaling and skipped steps, mixed
 * precision, mixup's blend in the core, and the distillation term.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, expectClose, gradCheck } from './helpers/compare';
import { bot } from './helpers/lib';
import { crossEntropyRef } from './helpers/reference';
import type { GraphDesc } from '../lib/models/graph';

const { Net, createModel, ops } = bot;

const model = createModel('resnet18d', { numClasses: 5, width: 0.25, stem: 'cifar', seed: 11 });

function batch(seed: number, n = 4, size = 8) {
  const rng = new Rng(seed);
  return { images: rng.tensor([n, size, size, 3]), labels: Int32Array.from({ length: n }, () => rng.int(0, 4)) };
}

function same(a: Record<string, { data: Float32Array }>, b: Record<string, { data: Float32Array }>): string | null {
  for (const k of Object.keys(a)) {
    const x = a[k].data;
    const y = b[k].data;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return `${k}[${i}]: ${x[i]} vs ${y[i]}`;
  }
  return null;
}

test('a power-of-two loss scale gives bit-identical steps in FP32', async () => {
  const a = Net.fromModel(model, { batchSize: 4, inputSize: 8 });
  const b = Net.fromModel(model, { batchSize: 4, inputSize: 8 });
  for (let s = 0; s < 3; s++) {
    const { images, labels } = batch(s);
    const ra = await a.trainStep({ images, labels, lr: 0.1, smoothing: 0.1 });
    const rb = await b.trainStep({ images, labels, lr: 0.1, smoothing: 0.1, lossScale: 1024 });
    assert.is(ra.loss, rb.loss, 'the reported loss is unscaled');
    assert.ok(ra.finite && rb.finite);
  }
  assert.is(same(a.getParameters(), b.getParameters()), null);
  assert.is(same(a.getMomentum(), b.getMomentum()), null);
  a.dispose();
  b.dispose();
});

test('an overflowing step is skipped: weights and momentum bit-identical, finite = false', async () => {
  for (const precision of ['fp32', 'fp16'] as const) {
    const net = Net.fromModel(model, { batchSize: 4, inputSize: 8, precision });
    await net.trainStep({ ...batch(1), lr: 0.1 });
    const w0 = net.getParameters();
    const m0 = net.getMomentum();
    // fp32: a scale at the top of the float range overflows the gradients; fp16: 65536
    // (the GradScaler start) overflows FP16's 65504 at the logits' gradient already.
    const r = await net.trainStep({ ...batch(2), lr: 0.1, lossScale: precision === 'fp32' ? 3e38 : 2 ** 24 });
    assert.is(r.finite, false, `${precision}: overflow reported`);
    assert.ok(Number.isFinite(r.loss), 'the loss itself is finite');
    // BN running statistics move in the forward pass (as in PyTorch); trained tensors do not.
    const w1 = net.getParameters();
    for (const p of net.parameterInfo().filter((q) => q.trainable)) {
      assert.ok(w0[p.name].data.every((v, i) => Object.is(v, w1[p.name].data[i])), `${precision}: ${p.name} unchanged`);
    }
    assert.is(same(m0, net.getMomentum()), null, `${precision}: momentum unchanged`);
    const ok = await net.trainStep({ ...batch(3), lr: 0.1, lossScale: precision === 'fp32' ? 1 : 1024 });
    assert.ok(ok.finite, `${precision}: the next step with a sane scale trains`);
    net.dispose();
  }
});

test('a step whose BN running statistics overflow is not finite, even with a finite loss', async () => {
  const net = Net.fromModel(model, { batchSize: 4, inputSize: 8 });
  const { images, labels } = batch(9);
  const huge = { data: images.data.map((v) => v * 1e20), shape: images.shape };
  const w0 = net.getParameters()['fc.weight'].data.slice();
  const r = await net.trainStep({ images: huge, labels, lr: 0.1 });
  assert.is(r.finite, false);
  assert.ok(Number.isFinite(r.loss), `the loss stays finite (${r.loss})`);
  const after = net.getParameters();
  const overflowed = net.parameterInfo().filter((p) => p.kind === 'running_var' && after[p.name].data.some((v) => !Number.isFinite(v)));
  assert.ok(overflowed.length > 0, 'a running variance overflowed');
  assert.equal(Array.from(net.getParameters()['fc.weight'].data), Array.from(w0), 'no update');
  net.dispose();
});

test('mixed precision: FP16 numerics track FP32 closely and the masters stay FP32', async () => {
  // Without zero-γ, so that every residual branch has a gradient at the first step.
  const live = createModel('resnet18d', { numClasses: 5, width: 0.25, stem: 'cifar', seed: 11, zeroGamma: false });
  const a = Net.fromModel(live, { batchSize: 4, inputSize: 16 });
  const h = Net.fromModel(live, { batchSize: 4, inputSize: 16, precision: 'fp16' });
  assert.is(h.precision, 'fp16');
  const { images, labels } = batch(5, 4, 16);
  const ra = await a.forwardBackward({ images, labels, lr: 0 });
  const rh = await h.forwardBackward({ images, labels, lr: 0, lossScale: 128 });
  expectClose([rh.loss], [ra.loss], { op: 'fp16 loss' }, { atol: 1e-2, rtol: 1e-2 });
  const ga = a.getGradients();
  const gh = h.getGradients();
  // Unscaled FP16 gradients against FP32's, in relative L2 norm. The classifier's is
  // within 1%. Further back the batch-norm backward passes subtract nearly equal sums
  // (training-mode BN over 4·2·2 values in layer4), so FP16 rounding of their inputs
  // moves the conv gradients by ~10% (measured 11–13% here, the same with a loss scale of
  // 128 or 1024: rounding, not underflow); a wrong scale, a missing FP16 copy or a dropped
  // term would be off by far more.
  const bounds: [string, number][] = [['fc.weight', 0.01], ['layer4.1.conv1.weight', 0.25], ['layer2.0.conv1.weight', 0.25], ['conv1.0.weight', 0.25]];
  for (const [k, bound] of bounds) {
    let num = 0;
    let den = 0;
    ga[k].data.forEach((v, i) => {
      num += (gh[k].data[i] / 128 - v) ** 2;
      den += v * v;
    });
    const rel = Math.sqrt(num / den);
    assert.ok(rel < bound, `fp16 gradient of ${k}: relative L2 error ${rel.toFixed(4)} (bound ${bound})`);
  }
  // FP16 gradients are on the FP16 grid.
  const fc = gh['fc.weight'].data;
  assert.equal(Array.from(ops.fromFloat16(ops.toFloat16(fc))), Array.from(fc));
  // After a step the master weights hold values off the FP16 grid (FP32 masters).
  await h.trainStep({ images, labels, lr: 0.05, lossScale: 128 });
  const w = h.getParameters()['layer1.0.conv1.weight'].data;
  const w16 = ops.fromFloat16(ops.toFloat16(w));
  assert.ok(w.some((v, i) => v !== w16[i]), 'master weights are not rounded to FP16');
  a.dispose();
  h.dispose();
});

test('mixed precision trains: FP16 with loss scaling overfits a fixed batch like FP32', async () => {
  const m = createModel('resnet18', { numClasses: 4, width: 0.25, stem: 'cifar', seed: 1 });
  const rng = new Rng(77);
  const images = rng.tensor([8, 16, 16, 3]);
  const labels = Int32Array.from({ length: 8 }, () => rng.int(0, 3));
  const h = Net.fromModel(m, { batchSize: 8, inputSize: 16, precision: 'fp16' });
  let r = { loss: 0, correct: 0, n: 8, finite: true };
  let first = 0;
  for (let step = 0; step < 60; step++) {
    r = await h.trainStep({ images, labels, lr: 0.05, weightDecay: 5e-4, lossScale: 1024 });
    assert.ok(r.finite, `step ${step} finite`);
    if (step === 0) first = r.loss;
    if (r.correct === 8 && r.loss < 0.2) break;
  }
  assert.is(r.correct, 8, `fp16: ${r.correct}/8 correct, loss ${first} → ${r.loss}`);
  h.dispose();
});

test('mixup: the core blends images[i] with images[perm[i]] by lambda', async () => {
  const a = Net.fromModel(model, { batchSize: 4, inputSize: 8 });
  const b = Net.fromModel(model, { batchSize: 4, inputSize: 8 });
  const { images } = batch(7);
  const perm = Int32Array.from([2, 3, 0, 1]);
  const lambda = 0.7;
  const targets = { data: new Float32Array(20), shape: [4, 5] };
  for (let i = 0; i < 4; i++) {
    targets.data[i * 5 + (i % 5)] += lambda;
    targets.data[perm[i] * 5 + (perm[i] % 5)] += 0;
    targets.data[i * 5 + (perm[i] % 5)] += 1 - lambda;
  }
  const sample = 8 * 8 * 3;
  const blended = { data: new Float32Array(images.data.length), shape: images.shape };
  const l = Math.fround(lambda);
  const m = Math.fround(1 - l);
  for (let i = 0; i < 4; i++) {
    for (let k = 0; k < sample; k++) {
      blended.data[i * sample + k] = Math.fround(Math.fround(l * images.data[i * sample + k]) + Math.fround(m * images.data[perm[i] * sample + k]));
    }
  }
  const ra = await a.forwardBackward({ images, targets, lr: 0, mixup: { perm, lambda } });
  const rb = await b.forwardBackward({ images: blended, targets, lr: 0 });
  expectClose([ra.loss], [rb.loss], { op: 'mixup in the core vs blended by hand' }, { atol: 1e-6, rtol: 1e-6 });
  const ga = a.getGradients();
  const gb = b.getGradients();
  expectClose(ga['fc.weight'].data, gb['fc.weight'].data, { op: 'mixup gradients' }, { atol: 1e-6, rtol: 1e-5 });
  a.dispose();
  b.dispose();
});

test('distillation: the op matches T²·CE(softmax(r/T), softmax(z/T)) and its gradient', () => {
  const rng = new Rng(13);
  for (const T of [1, 4, 20]) {
    const z = rng.tensor([3, 6], 3);
    const r = rng.tensor([3, 6], 3);
    const soft = (x: ArrayLike<number>) => {
      const q = new Float64Array(x.length);
      for (let i = 0; i < 3; i++) {
        let m = -Infinity;
        for (let j = 0; j < 6; j++) m = Math.max(m, x[i * 6 + j] / T);
        let s = 0;
        for (let j = 0; j < 6; j++) s += q[i * 6 + j] = Math.exp(x[i * 6 + j] / T - m);
        for (let j = 0; j < 6; j++) q[i * 6 + j] /= s;
      }
      return q;
    };
    const q = soft(r.data);
    const ref = (zs: ArrayLike<number>) => T * T * crossEntropyRef(Array.from(zs, (v) => v / T), q, 3, 6);
    const out = ops.distillationLoss(z, r, T);
    expectClose([out.loss], [ref(z.data)], { op: 'distillation loss', T }, { atol: 1e-6, rtol: 1e-6 });
    gradCheck(ref, z.data, out.grad.data, { op: 'distillation gradient', T, rng, samples: 12, h: 1e-5, atol: 1e-6, rtol: 1e-4 });
  }
});

test('distillation in the Net adds the term to the loss and its gradient', async () => {
  // A linear classifier on a 1×1 input: the logits are known exactly, z = W·x + b.
  const graph: GraphDesc = {
    inputChannels: 4,
    output: 'fc',
    nodes: [
      { op: 'globalavgpool', name: 'pool', inputs: ['input'] },
      { op: 'linear', name: 'fc', inputs: ['pool'], outFeatures: 3, weight: 'fc.weight', bias: 'fc.bias' },
    ],
  };
  const rng = new Rng(17);
  const W = rng.array(12);
  const B = rng.array(3);
  const net = new Net(graph, { batchSize: 2, height: 1, width: 1, parameters: { 'fc.weight': W, 'fc.bias': B } });
  const x = rng.tensor([2, 1, 1, 4]);
  const labels = Int32Array.from([0, 2]);
  const teacher = rng.tensor([2, 3], 2);
  const T = 20;
  const z = ops.linear({ data: x.data, shape: [2, 4] }, { data: W, shape: [3, 4] }, { data: B, shape: [3] });
  const want = ops.softmaxCrossEntropy(z, { labels }).loss + ops.distillationLoss(z, teacher, T).loss;
  const r = await net.forwardBackward({ images: x, labels, lr: 0, teacherLogits: teacher, temperature: T });
  expectClose([r.loss], [want], { op: 'net distillation loss' }, { atol: 1e-6, rtol: 1e-6 });
  const dz = ops.softmaxCrossEntropy(z, { labels }).grad.data.map((v, i) => v + ops.distillationLoss(z, teacher, T).grad.data[i]);
  const wantDb = [0, 1, 2].map((k) => dz[k] + dz[3 + k]);
  expectClose(net.getGradients()['fc.bias'].data, wantDb, { op: 'net distillation db' }, { atol: 1e-6, rtol: 1e-5 });
  net.dispose();
});

test.run();
