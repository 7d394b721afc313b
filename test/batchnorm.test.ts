import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, dot, expectClose, expectCode, gradCheck } from './helpers/compare';
import { bot } from './helpers/lib';
import { digests } from './helpers/digests';
import { backendTest } from './helpers/backend';

const { ops } = bot;
// The addon itself, to check that the core re-checks what the TypeScript layer validates.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const addon: { ops: Record<string, (...args: unknown[]) => unknown> } = require('../../dist/native').native();

// Activation shapes, channels last: odd sizes, channel counts not multiples of 8, batch 1.
const SHAPES = [[2, 3], [5, 1], [1, 1, 2, 5], [1, 3, 3, 7], [2, 3, 5, 7], [3, 7, 7, 13], [1, 9, 11, 8], [4, 2, 3, 33], [16, 64]];

// --- float64 references -----------------------------------------------------------------

function dims(shape: number[]): { m: number; c: number } {
  const c = shape[shape.length - 1];
  return { m: shape.reduce((a, b) => a * b, 1) / c, c };
}

/** Batch mean and biased variance per channel. */
function batchStats(x: ArrayLike<number>, m: number, c: number): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  for (let r = 0; r < m; r++) for (let j = 0; j < c; j++) mean[j] += x[r * c + j] / m;
  for (let r = 0; r < m; r++) for (let j = 0; j < c; j++) variance[j] += (x[r * c + j] - mean[j]) ** 2 / m;
  return { mean, variance };
}

/** y = (x − mean)/√(var + eps)·γ + β with the given per-channel statistics. */
function normalise(x: ArrayLike<number>, m: number, c: number, mean: ArrayLike<number>, variance: ArrayLike<number>,
  gamma: ArrayLike<number>, beta: ArrayLike<number>, eps: number): Float64Array {
  const y = new Float64Array(m * c);
  for (let r = 0; r < m; r++) {
    for (let j = 0; j < c; j++) y[r * c + j] = ((x[r * c + j] - mean[j]) / Math.sqrt(variance[j] + eps)) * gamma[j] + beta[j];
  }
  return y;
}

function trainRef(x: ArrayLike<number>, m: number, c: number, gamma: ArrayLike<number>, beta: ArrayLike<number>, eps: number) {
  const { mean, variance } = batchStats(x, m, c);
  return { y: normalise(x, m, c, mean, variance, gamma, beta, eps), mean, variance };
}

interface Params {
  gamma: Float32Array;
  beta: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
}

function params(rng: Rng, c: number): Params {
  return {
    gamma: Float32Array.from({ length: c }, () => 1 + 0.5 * rng.normal()),
    beta: rng.array(c, 0.5),
    runningMean: rng.array(c, 0.2),
    runningVar: Float32Array.from({ length: c }, () => 0.5 + rng.uniform()),
  };
}

/** x with a per-channel offset and scale, so the statistics are not trivially 0 and 1. */
function activations(rng: Rng, shape: number[], offset = 3): { data: Float32Array; shape: number[] } {
  const { m, c } = dims(shape);
  const shift = Array.from({ length: c }, () => offset * rng.normal());
  const scale = Array.from({ length: c }, () => 0.2 + 2 * rng.uniform());
  const data = new Float32Array(m * c);
  for (let r = 0; r < m; r++) for (let j = 0; j < c; j++) data[r * c + j] = shift[j] + scale[j] * rng.normal();
  return { data, shape };
}


// --- forward ----------------------------------------------------------------------------

backendTest(test);

test('training forward matches the float64 definition (y, batch statistics, running update)', () => {
  for (const [i, shape] of SHAPES.entries()) {
    if (dims(shape).m < 2) continue;
    const seed = 1000 + i;
    const rng = new Rng(seed);
    const { m, c } = dims(shape);
    const x = activations(rng, shape);
    const p = params(rng, c);
    const rm0 = Float64Array.from(p.runningMean);
    const rv0 = Float64Array.from(p.runningVar);
    const r = ops.batchNorm(x, { ...p, training: true, momentum: 0.1, eps: 1e-5 });
    const ref = trainRef(x.data, m, c, p.gamma, p.beta, 1e-5);
    const ctx = { op: 'batchNorm(training)', shape, seed };
    assert.equal(r.y.shape, shape);
    expectClose(r.y.data, ref.y, ctx);
    expectClose(r.saveMean, ref.mean, { ...ctx, out: 'saveMean' }, { atol: 1e-6, rtol: 1e-6 });
    expectClose(r.saveInvstd, Array.from(ref.variance, (v) => 1 / Math.sqrt(v + 1e-5)), { ...ctx, out: 'saveInvstd' }, { atol: 1e-6, rtol: 1e-5 });
    expectClose(p.runningMean, Array.from(rm0, (v, j) => 0.9 * v + 0.1 * ref.mean[j]), { ...ctx, out: 'runningMean' }, { atol: 1e-6, rtol: 1e-6 });
    expectClose(p.runningVar, Array.from(rv0, (v, j) => 0.9 * v + 0.1 * ref.variance[j] * m / (m - 1)), { ...ctx, out: 'runningVar' }, { atol: 1e-6, rtol: 1e-5 });
  }
});

test('training forward is accurate for activations far from zero (large mean, small spread)', () => {
  const rng = new Rng(1100);
  const shape = [4, 5, 5, 9];
  const { m, c } = dims(shape);
  const data = Float32Array.from({ length: m * c }, () => 1000 + 0.01 * rng.normal());
  const p = params(rng, c);
  const r = ops.batchNorm({ data, shape }, { ...p, training: true });
  const ref = trainRef(data, m, c, p.gamma, p.beta, 1e-5);
  expectClose(r.y.data, ref.y, { op: 'batchNorm(offset 1000)', shape, seed: 1100 });
});

test('fast training forward equals the native reference on shapes with many blocks', () => {
  const rng = new Rng(1200);
  for (const shape of [[8, 28, 28, 24], [2, 56, 56, 3], [32, 2, 2, 130]]) {
    const { c } = dims(shape);
    const x = activations(rng, shape);
    const p = params(rng, c);
    const q = { ...p, runningMean: p.runningMean.slice(), runningVar: p.runningVar.slice() };
    const ref = ops.batchNormTrainReference(x, q);
    const r = ops.batchNorm(x, { ...p, training: true });
    const ctx = { op: 'batchNorm vs reference', shape, seed: 1200 };
    expectClose(r.y.data, ref.y.data, ctx, { atol: 1e-5, rtol: 1e-5 });
    expectClose(r.saveMean, ref.saveMean, ctx, { atol: 1e-6, rtol: 1e-6 });
    expectClose(r.saveInvstd, ref.saveInvstd, ctx, { atol: 1e-6, rtol: 1e-6 });
    expectClose(p.runningVar, q.runningVar, ctx, { atol: 1e-6, rtol: 1e-6 });
  }
});

test('forward and backward results are bit-identical for every thread count', () => {
  const body = `
    const shape = [8, 28, 28, 24], n = 8 * 28 * 28 * 24, c = 24;
    const x = { data: Float32Array.from({ length: n }, (_, i) => 5 + 3 * Math.sin(i * 0.37) + Math.cos(i * 0.011)), shape };
    const dy = { data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.3)), shape };
    const ch = (f) => Float32Array.from({ length: c }, (_, j) => f(j));
    const p = { gamma: ch((j) => 1 + j / 10), beta: ch((j) => j / 7), runningMean: ch(() => 0), runningVar: ch(() => 1) };
    const r = bot.ops.batchNorm(x, { ...p, training: true });
    const g = bot.ops.batchNormBackward(x, dy, { gamma: p.gamma, saveMean: r.saveMean, saveInvstd: r.saveInvstd, training: true });
    return { y: r.y.data, mean: r.saveMean, invstd: r.saveInvstd, rv: p.runningVar, dx: g.dx.data, dgamma: g.dgamma, dbeta: g.dbeta };`;
  const here = digests(0, body);
  assert.is(Object.keys(here).length, 7);
  for (const threads of [1, 3, 4]) assert.equal(digests(threads, body), here, `${threads} threads vs ${bot.runtime.getThreads()}`);
});

test('running statistics after several steps follow PyTorch (momentum, unbiased variance)', () => {
  for (const momentum of [0.1, 0.3, 1]) {
    const seed = 1300 + momentum * 10;
    const rng = new Rng(seed);
    const shape = [3, 4, 5, 6];
    const { m, c } = dims(shape);
    const p = params(rng, c);
    const rm = Float64Array.from(p.runningMean);
    const rv = Float64Array.from(p.runningVar);
    for (let step = 0; step < 5; step++) {
      const x = activations(rng, shape);
      ops.batchNorm(x, { ...p, training: true, momentum });
      const { mean, variance } = batchStats(x.data, m, c);
      for (let j = 0; j < c; j++) {
        rm[j] = (1 - momentum) * rm[j] + momentum * mean[j];
        rv[j] = (1 - momentum) * rv[j] + momentum * variance[j] * (m / (m - 1));
      }
    }
    const ctx = { op: 'running statistics', shape, seed, momentum };
    expectClose(p.runningMean, rm, ctx, { atol: 1e-5, rtol: 1e-5 });
    expectClose(p.runningVar, rv, ctx, { atol: 1e-5, rtol: 1e-5 });
  }
  // momentum 0 leaves them untouched, bit for bit.
  const rng = new Rng(1399);
  const p = params(rng, 5);
  const before = { rm: p.runningMean.slice(), rv: p.runningVar.slice() };
  ops.batchNorm(activations(rng, [2, 5]), { ...p, training: true, momentum: 0 });
  assert.equal(p.runningMean, before.rm);
  assert.equal(p.runningVar, before.rv);
});

test('inference forward uses the running statistics and changes nothing', () => {
  for (const [i, shape] of SHAPES.entries()) {
    const seed = 1400 + i;
    const rng = new Rng(seed);
    const { m, c } = dims(shape);
    const x = activations(rng, shape);
    const p = params(rng, c);
    const before = { rm: p.runningMean.slice(), rv: p.runningVar.slice() };
    const r = ops.batchNorm(x, { ...p, training: false, eps: 1e-3 });
    const ref = normalise(x.data, m, c, p.runningMean, p.runningVar, p.gamma, p.beta, 1e-3);
    expectClose(r.y.data, ref, { op: 'batchNorm(inference)', shape, seed });
    assert.equal(p.runningMean, before.rm);
    assert.equal(p.runningVar, before.rv);
    assert.equal(r.saveMean, before.rm);
    expectClose(r.saveInvstd, Array.from(before.rv, (v) => 1 / Math.sqrt(v + 1e-3)), { op: 'saveInvstd(inference)', shape, seed }, { atol: 0, rtol: 1e-6 });
  }
});

// --- backward ---------------------------------------------------------------------------

test('training backward matches finite differences of the whole function (batch statistics included)', () => {
  for (const [i, shape] of SHAPES.entries()) {
    const { m, c } = dims(shape);
    if (m < 2) continue;
    const seed = 1500 + i;
    const rng = new Rng(seed);
    const x = activations(rng, shape, 1);
    const p = params(rng, c);
    const eps = 1e-3;
    const fwd = ops.batchNorm(x, { ...p, training: true, eps });
    const dy = rng.tensor(shape);
    const g = ops.batchNormBackward(x, dy, { gamma: p.gamma, saveMean: fwd.saveMean, saveInvstd: fwd.saveInvstd, training: true });
    assert.equal(g.dx.shape, shape);
    const ctx = { op: 'batchNormBackward(training)', shape, seed, rng };
    gradCheck((xs) => dot(trainRef(xs, m, c, p.gamma, p.beta, eps).y, dy.data), x.data, g.dx.data, { ...ctx, wrt: 'x' });
    gradCheck((gs) => dot(trainRef(x.data, m, c, gs, p.beta, eps).y, dy.data), p.gamma, g.dgamma, { ...ctx, wrt: 'gamma' });
    gradCheck((bs) => dot(trainRef(x.data, m, c, p.gamma, bs, eps).y, dy.data), p.beta, g.dbeta, { ...ctx, wrt: 'beta' });
  }
});

test('inference backward matches finite differences with the running statistics fixed', () => {
  for (const [i, shape] of SHAPES.entries()) {
    const seed = 1600 + i;
    const rng = new Rng(seed);
    const { m, c } = dims(shape);
    const x = activations(rng, shape, 1);
    const p = params(rng, c);
    const fwd = ops.batchNorm(x, { ...p, training: false });
    const dy = rng.tensor(shape);
    const g = ops.batchNormBackward(x, dy, { gamma: p.gamma, saveMean: fwd.saveMean, saveInvstd: fwd.saveInvstd, training: false });
    const f = (xs: ArrayLike<number>, gs: ArrayLike<number>, bs: ArrayLike<number>) =>
      dot(normalise(xs, m, c, p.runningMean, p.runningVar, gs, bs, 1e-5), dy.data);
    const ctx = { op: 'batchNormBackward(inference)', shape, seed, rng };
    gradCheck((xs) => f(xs, p.gamma, p.beta), x.data, g.dx.data, { ...ctx, wrt: 'x' });
    gradCheck((gs) => f(x.data, gs, p.beta), p.gamma, g.dgamma, { ...ctx, wrt: 'gamma' });
    gradCheck((bs) => f(x.data, p.gamma, bs), p.beta, g.dbeta, { ...ctx, wrt: 'beta' });
  }
});

test('fast backward equals the native reference', () => {
  const rng = new Rng(1700);
  for (const training of [true, false]) {
    const shape = [8, 28, 28, 24];
    const x = activations(rng, shape);
    const p = params(rng, 24);
    const fwd = ops.batchNorm(x, { ...p, training });
    const dy = rng.tensor(shape);
    const opts = { gamma: p.gamma, saveMean: fwd.saveMean, saveInvstd: fwd.saveInvstd, training };
    const ref = ops.batchNormBackwardReference(x, dy, opts);
    const g = ops.batchNormBackward(x, dy, opts);
    const ctx = { op: 'batchNormBackward vs reference', shape, seed: 1700, training };
    expectClose(g.dx.data, ref.dx.data, ctx, { atol: 1e-5, rtol: 1e-4 });
    expectClose(g.dgamma, ref.dgamma, ctx, { atol: 1e-3, rtol: 1e-5 });
    expectClose(g.dbeta, ref.dbeta, ctx, { atol: 1e-3, rtol: 1e-5 });
  }
});

// --- errors -----------------------------------------------------------------------------

test('batchNorm rejects bad input with codes', () => {
  const rng = new Rng(1800);
  const x = rng.tensor([2, 3, 3, 5]);
  const p = params(rng, 5);
  const train = { ...p, training: true };
  expectCode(() => ops.batchNorm(rng.tensor([2, 3, 5]), train), 'ERR_SHAPE', 'rank 3');
  expectCode(() => ops.batchNorm({ data: new Float32Array(7), shape: [2, 5] }, train), 'ERR_SHAPE', 'length vs shape');
  expectCode(() => ops.batchNorm(x, { ...train, gamma: new Float32Array(4) }), 'ERR_SHAPE', 'gamma length');
  expectCode(() => ops.batchNorm(x, { ...train, runningVar: new Float32Array(6) }), 'ERR_SHAPE', 'runningVar length');
  expectCode(() => ops.batchNorm(x, { ...train, gamma: new Float64Array(5) as unknown as Float32Array }), 'ERR_DTYPE', 'Float64Array gamma');
  expectCode(() => ops.batchNorm({ data: new Float64Array(90) as unknown as Float32Array, shape: x.shape }, train), 'ERR_DTYPE', 'Float64Array x');
  expectCode(() => ops.batchNorm(x, { ...train, gamma: [1, 1, 1, 1, 1] as unknown as Float32Array }), 'ERR_ARGUMENT', 'plain array gamma');
  expectCode(() => ops.batchNorm(rng.tensor([1, 1, 1, 5]), train), 'ERR_ARGUMENT', 'm == 1 in training mode (NHWC)');
  expectCode(() => ops.batchNorm(rng.tensor([1, 5]), train), 'ERR_ARGUMENT', 'm == 1 in training mode (N, C)');
  assert.equal(ops.batchNorm(rng.tensor([1, 5]), { ...p, training: false }).y.shape, [1, 5], 'm == 1 is fine in inference');
  expectCode(() => ops.batchNorm(x, { ...train, eps: 0 }), 'ERR_ARGUMENT', 'eps 0');
  expectCode(() => ops.batchNorm(x, { ...train, eps: NaN }), 'ERR_ARGUMENT', 'eps NaN');
  expectCode(() => ops.batchNorm(x, { ...train, eps: 1e-60 }), 'ERR_ARGUMENT', 'eps 0 in float32');
  expectCode(() => ops.batchNorm(x, { ...train, momentum: 1.5 }), 'ERR_ARGUMENT', 'momentum > 1');
  expectCode(() => ops.batchNorm(x, { ...train, momentum: -0.1 }), 'ERR_ARGUMENT', 'momentum < 0');
  expectCode(() => ops.batchNorm(x, p as unknown as Parameters<typeof ops.batchNorm>[1]), 'ERR_ARGUMENT', 'training missing');
  expectCode(() => ops.batchNorm(x, { ...train, momentun: 0.1 } as unknown as Parameters<typeof ops.batchNorm>[1]), 'ERR_ARGUMENT', 'unknown key');
  const fwd = ops.batchNorm(x, train);
  const back = { gamma: p.gamma, saveMean: fwd.saveMean, saveInvstd: fwd.saveInvstd, training: true };
  expectCode(() => ops.batchNormBackward(x, rng.tensor([2, 3, 5, 3]), back), 'ERR_SHAPE', 'dy shape');
  expectCode(() => ops.batchNormBackward(x, rng.tensor(x.shape), { ...back, saveInvstd: new Float32Array(3) }), 'ERR_SHAPE', 'saveInvstd length');
  expectCode(() => ops.batchNormBackward(rng.tensor([1, 5]), rng.tensor([1, 5]), back), 'ERR_ARGUMENT', 'backward m == 1 in training mode');
});

test('the core re-checks lengths, kinds and ranges at its boundary', () => {
  const x = new Float32Array(30);
  const c = () => new Float32Array(5).fill(1);
  const train = (...args: unknown[]) => () => addon.ops.batchNormTrain(...args);
  const r = train(x, [6, 5], c(), c(), c(), c(), 1e-5, 0.1)() as { y: Float32Array };
  assert.is(r.y.length, 30);
  expectCode(train(new Float32Array(29), [6, 5], c(), c(), c(), c(), 1e-5, 0.1), 'ERR_SHAPE', 'x length');
  expectCode(train(x, [6, 1, 5], c(), c(), c(), c(), 1e-5, 0.1), 'ERR_SHAPE', 'rank 3');
  expectCode(train(x, [6, 5], new Float64Array(5), c(), c(), c(), 1e-5, 0.1), 'ERR_DTYPE', 'Float64Array gamma');
  expectCode(train(x, [6, 5], c(), c(), c(), new Float32Array(4), 1e-5, 0.1), 'ERR_SHAPE', 'runningVar length');
  expectCode(train(new Float32Array(5), [1, 5], c(), c(), c(), c(), 1e-5, 0.1), 'ERR_ARGUMENT', 'm == 1');
  expectCode(train(x, [6, 5], c(), c(), c(), c(), 0, 0.1), 'ERR_ARGUMENT', 'eps 0');
  expectCode(train(x, [6, 5], c(), c(), c(), c(), 1e-5, 2), 'ERR_ARGUMENT', 'momentum 2');
  expectCode(train(x, [6, 5], c(), c(), c(), c(), 1e-5, NaN), 'ERR_ARGUMENT', 'momentum NaN');
  expectCode(() => addon.ops.batchNormInfer(x, [6, 5], c(), c(), c(), new Float32Array(6), 1e-5), 'ERR_SHAPE', 'infer runningVar length');
  expectCode(() => addon.ops.batchNormBackward(x, new Float32Array(25), [6, 5], c(), c(), c(), true), 'ERR_SHAPE', 'dy length');
  expectCode(() => addon.ops.batchNormBackward(x, x, [6, 5], c(), c(), c(), 1), 'ERR_ARGUMENT', 'training not boolean');
});

test.run();
