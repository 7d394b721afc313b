/**
 * Learning-rate schedules: each formula at chosen steps, composition by sequence (each
 * segment counting from 0), the paper's two schedules from epochs, and argument errors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expectCode } from './helpers/compare';
import { bot } from './helpers/lib';

const { linearWarmup, stepDecay, cosine, sequence, constant, linearScaling, scheduleFromEpochs } = bot.train;

test('linearScaling: 0.1 × batch/256', () => {
  assert.is(linearScaling(256), 0.1);
  assert.is(linearScaling(1024), 0.4);
  assert.is(linearScaling(512), 0.2);
  assert.is(linearScaling(128, 0.2, 64), 0.4);
  expectCode(() => linearScaling(0), 'ERR_ARGUMENT', 'batch 0');
  expectCode(() => linearScaling(1.5), 'ERR_ARGUMENT', 'fractional batch');
});

test('linearWarmup: target·t/steps from 0, then target', () => {
  const s = linearWarmup(4, 0.5);
  assert.equal([0, 1, 2, 3, 4, 5, 100].map(s), [0, 0.125, 0.25, 0.375, 0.5, 0.5, 0.5]);
  const w = linearWarmup(5 * 1251, 0.4); // the paper: 5 epochs of ImageNet at batch 1024
  assert.is(w(1251), (0.4 * 1251) / 6255);
  expectCode(() => linearWarmup(0, 0.1), 'ERR_ARGUMENT', 'zero steps');
  expectCode(() => w(-1), 'ERR_ARGUMENT', 'negative step');
  expectCode(() => w(NaN), 'ERR_ARGUMENT', 'NaN step');
});

test('stepDecay: base·factor^#(milestones ≤ t)', () => {
  const s = stepDecay({ base: 0.1, milestones: [30, 60, 90] });
  assert.is(s(0), 0.1);
  assert.is(s(29), 0.1);
  assert.is(s(30), 0.1 * 0.1);
  assert.is(s(59), 0.1 * 0.1);
  assert.is(s(60), 0.1 * 0.1 * 0.1);
  assert.is(s(90), 0.1 * 0.1 * 0.1 * 0.1);
  assert.is(s(1e9), 0.1 * 0.1 * 0.1 * 0.1);
  const h = stepDecay({ base: 1, milestones: [2, 4], factor: 0.5 });
  assert.equal([0, 1, 2, 3, 4, 5].map(h), [1, 1, 0.5, 0.5, 0.25, 0.25]);
  assert.is(stepDecay({ base: 0.3, milestones: [] })(1000), 0.3);
  expectCode(() => stepDecay({ base: 0.1, milestones: [60, 30] }), 'ERR_ARGUMENT', 'descending milestones');
  expectCode(() => stepDecay({ base: 0.1, milestones: [30, 30] }), 'ERR_ARGUMENT', 'repeated milestone');
  expectCode(() => stepDecay({ base: 0.1, milestones: [1.5] }), 'ERR_ARGUMENT', 'fractional milestone');
  expectCode(() => stepDecay({ base: 0.1, milestones: [30], gamma: 0.1 } as never), 'ERR_ARGUMENT', 'unknown key');
});

test('cosine: final + (base − final)·½(1 + cos(πt/T)), final after T', () => {
  const s = cosine({ base: 1, total: 4 });
  assert.is(s(0), 1);
  assert.is(s(1), (1 + Math.cos(Math.PI / 4)) / 2); // 0.8535533905932737
  assert.ok(Math.abs(s(1) - 0.8535533905932737) < 1e-16);
  assert.is(s(2), 0.5);
  assert.ok(Math.abs(s(3) - 0.14644660940672624) < 1e-16);
  assert.is(s(4), 0);
  assert.is(s(10), 0);
  const f = cosine({ base: 0.4, total: 100, final: 0.1 });
  assert.is(f(0), 0.4);
  assert.ok(Math.abs(f(50) - 0.25) < 1e-15);
  assert.is(f(100), 0.1);
  // Monotone non-increasing over the whole run.
  const g = cosine({ base: 0.4, total: 1000 });
  for (let t = 1; t <= 1000; t++) assert.ok(g(t) <= g(t - 1), `cosine increased at ${t}`);
  expectCode(() => cosine({ base: 1, total: 0 }), 'ERR_ARGUMENT', 'total 0');
});

test('sequence: each segment sees its own step from 0; the last runs on', () => {
  const s = sequence([
    [linearWarmup(4, 1), 4],
    [cosine({ base: 1, total: 4 }), 4],
  ]);
  assert.equal([0, 1, 2, 3].map(s), [0, 0.25, 0.5, 0.75]);
  assert.is(s(4), 1); // cosine's t = 0: the warmup is not part of T
  assert.is(s(5), (1 + Math.cos(Math.PI / 4)) / 2);
  assert.is(s(6), 0.5);
  assert.is(s(8), 0);
  assert.is(s(50), 0);
  // Three segments, a zero-length one skipped, the last continuing past its length.
  const t = sequence([
    [constant(3), 2],
    [constant(7), 0],
    [stepDecay({ base: 1, milestones: [1, 3], factor: 0.5 }), 2],
  ]);
  assert.equal([0, 1, 2, 3, 4, 5, 6].map(t), [3, 3, 1, 0.5, 0.5, 0.25, 0.25]);
  // Nested sequences compose.
  const n = sequence([[t, 3], [constant(9), 1]]);
  assert.equal([0, 2, 3, 4].map(n), [3, 1, 9, 9]);
  expectCode(() => sequence([]), 'ERR_ARGUMENT', 'empty');
  expectCode(() => sequence([[constant(1), -1]]), 'ERR_ARGUMENT', 'negative steps');
  expectCode(() => sequence([[1 as never, 1]]), 'ERR_ARGUMENT', 'not a function');
});

test('schedules are pure: same value whatever the call order', () => {
  const s = scheduleFromEpochs({ kind: 'cosine', epochs: 10, stepsPerEpoch: 7, warmupEpochs: 2, baseLr: 0.4 });
  const forward = Array.from({ length: 80 }, (_, i) => s(i));
  const backward = Array.from({ length: 80 }, (_, i) => s(79 - i)).reverse();
  assert.equal(forward, backward);
});

test("scheduleFromEpochs: the paper's baseline (step ÷10 at 30/60/90 of 120)", () => {
  const spe = 5005; // ImageNet at batch 256 (1,281,167 / 256, rounded down)
  const s = scheduleFromEpochs({ kind: 'step', epochs: 120, stepsPerEpoch: spe, baseLr: 0.1 });
  assert.is(s(0), 0.1);
  assert.is(s(30 * spe - 1), 0.1);
  assert.is(s(30 * spe), 0.1 * 0.1);
  assert.is(s(60 * spe), 0.1 * 0.1 * 0.1);
  assert.is(s(90 * spe), 0.1 * 0.1 * 0.1 * 0.1);
  assert.is(s(120 * spe - 1), 0.1 * 0.1 * 0.1 * 0.1);
  // Explicit milestones are absolute epochs, also with warmup: the step segment is shifted.
  const w = scheduleFromEpochs({ kind: 'step', epochs: 20, stepsPerEpoch: 10, warmupEpochs: 2, baseLr: 0.4, milestones: [5, 15], factor: 0.5 });
  assert.is(w(0), 0);
  assert.is(w(10), 0.2);
  assert.is(w(20), 0.4);
  assert.is(w(49), 0.4);
  assert.is(w(50), 0.2);
  assert.is(w(150), 0.1);
});

test("scheduleFromEpochs: the paper's tricks (5 warmup epochs, cosine over the rest)", () => {
  const spe = 1251; // ImageNet at batch 1024
  const lr = 0.4;
  const s = scheduleFromEpochs({ kind: 'cosine', epochs: 120, stepsPerEpoch: spe, warmupEpochs: 5, baseLr: lr });
  const W = 5 * spe;
  const T = 115 * spe;
  assert.is(s(0), 0);
  assert.is(s(1), (lr * 1) / W);
  assert.is(s(W - 1), (lr * (W - 1)) / W);
  assert.is(s(W), lr);
  const mid = W + T / 2;
  assert.is(s(W + 1000), (lr * (1 + Math.cos((Math.PI * 1000) / T))) / 2);
  assert.ok(Math.abs(s(mid) - lr / 2) < 1e-15);
  assert.is(s(W + T), 0);
  assert.is(s(W + T + 10), 0);
  // No warmup: plain cosine.
  const c = scheduleFromEpochs({ kind: 'cosine', epochs: 4, stepsPerEpoch: 1, baseLr: 1 });
  assert.equal([0, 2, 4].map(c), [1, 0.5, 0]);
});

test('scheduleFromEpochs: a fractional warmup in a 1-epoch run, and a warmup that never takes the last step', () => {
  // A quarter of one epoch of 8 steps: 2 warmup steps, then 6 of cosine.
  const s = scheduleFromEpochs({ kind: 'cosine', epochs: 1, stepsPerEpoch: 8, warmupEpochs: 0.25, baseLr: 0.4 });
  assert.equal([s(0), s(1), s(2)], [0, 0.2, 0.4]);
  assert.ok(s(7) > 0 && s(7) < 0.05, `last step ${s(7)}`);
  // 0.9 of a 2-step run rounds to 2 warmup steps: one is left to the decay.
  const t = scheduleFromEpochs({ kind: 'cosine', epochs: 1, stepsPerEpoch: 2, warmupEpochs: 0.9, baseLr: 0.4 });
  assert.equal([t(0), t(1)], [0, 0.4]);
  expectCode(() => scheduleFromEpochs({ kind: 'cosine', epochs: 1, stepsPerEpoch: 8, warmupEpochs: 1, baseLr: 0.4 }), 'ERR_ARGUMENT', 'warmup of the whole run');
});

test('scheduleFromEpochs: default milestones are ¼, ½, ¾ of the run; errors', () => {
  const s = scheduleFromEpochs({ kind: 'step', epochs: 8, stepsPerEpoch: 1, baseLr: 1, factor: 0.5 });
  assert.equal([0, 1, 2, 3, 4, 5, 6, 7].map(s), [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]);
  const base = { kind: 'step' as const, epochs: 10, stepsPerEpoch: 5, baseLr: 0.1 };
  expectCode(() => scheduleFromEpochs({ ...base, kind: 'linear' as never }), 'ERR_ARGUMENT', 'unknown kind');
  expectCode(() => scheduleFromEpochs({ ...base, warmupEpochs: 10 }), 'ERR_ARGUMENT', 'warmup ≥ epochs');
  expectCode(() => scheduleFromEpochs({ ...base, warmupEpochs: 3, milestones: [2, 6] }), 'ERR_ARGUMENT', 'milestone inside the warmup');
  expectCode(() => scheduleFromEpochs({ ...base, milestones: [6, 2] }), 'ERR_ARGUMENT', 'descending milestones');
  expectCode(() => scheduleFromEpochs({ ...base, kind: 'cosine', milestones: [5] }), 'ERR_ARGUMENT', 'milestones with cosine');
  expectCode(() => scheduleFromEpochs({ ...base, stepsPerEpoch: 0 }), 'ERR_ARGUMENT', 'zero steps per epoch');
  expectCode(() => scheduleFromEpochs({ ...base, lr: 0.1 } as never), 'ERR_ARGUMENT', 'unknown key');
});

test.run();
