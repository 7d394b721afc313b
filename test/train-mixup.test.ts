/**
 * Mixup: the seeded generator (xoshiro128** reference values, state round trip), Gamma
 * and Beta moments checked statistically, determinism per seed, the pairing, mixed
 * targets summing to 1, the image blend, the off-epochs policy, and argument errors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expectCode, Rng } from './helpers/compare';
import { bot } from './helpers/lib';

const { TrainRng, sampleGamma, sampleBeta, sampleMixup, mixTargets, mixImages, mixupActive, smoothLabels } = bot.train;

test('TrainRng is xoshiro128**: reference outputs from state [1, 2, 3, 4]', () => {
  const r = TrainRng.fromState([1, 2, 3, 4]);
  assert.equal(Array.from({ length: 6 }, () => r.nextUint32()), [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
});

test('TrainRng: seeded, uniform in [0, 1), state() resumes the sequence', () => {
  const a = new TrainRng(42);
  const b = new TrainRng(42);
  const c = new TrainRng(43);
  const xa = Array.from({ length: 100 }, () => a.uniform());
  assert.equal(xa, Array.from({ length: 100 }, () => b.uniform()));
  assert.not.equal(xa, Array.from({ length: 100 }, () => c.uniform()));
  assert.ok(xa.every((x) => x >= 0 && x < 1));
  const saved = JSON.parse(JSON.stringify(a.state()));
  const next = Array.from({ length: 10 }, () => a.uniform());
  const resumed = TrainRng.fromState(saved);
  assert.equal(Array.from({ length: 10 }, () => resumed.uniform()), next);
  expectCode(() => TrainRng.fromState([0, 0, 0, 0]), 'ERR_ARGUMENT', 'all-zero state');
  expectCode(() => TrainRng.fromState([1, 2, 3]), 'ERR_ARGUMENT', 'short state');
  expectCode(() => TrainRng.fromState([1, 2, 3, 2 ** 32]), 'ERR_ARGUMENT', 'out-of-range word');
  expectCode(() => new TrainRng(-1), 'ERR_ARGUMENT', 'negative seed');
});

function moments(xs: number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

test('Gamma(a, 1): mean a and variance a (Marsaglia–Tsang, with the boost below 1)', () => {
  const rng = new TrainRng(7);
  const n = 20000;
  for (const a of [0.2, 0.7, 1, 3.5, 20]) {
    const xs = Array.from({ length: n }, () => sampleGamma(rng, a));
    const { mean, variance } = moments(xs);
    // Standard errors: of the mean √(a/n); of the variance a·√((2 + 6/a)/n) (excess kurtosis 6/a).
    assert.ok(Math.abs(mean - a) < 5 * Math.sqrt(a / n), `Gamma(${a}) mean ${mean}`);
    assert.ok(Math.abs(variance - a) < 5 * a * Math.sqrt((2 + 6 / a) / n), `Gamma(${a}) variance ${variance}`);
    assert.ok(xs.every((x) => x >= 0 && Number.isFinite(x)));
  }
});

test('Beta(α, α): mean ½ and variance 1/(4(2α + 1)), λ in [0, 1]', () => {
  const rng = new TrainRng(11);
  const n = 20000;
  for (const alpha of [0.05, 0.2, 0.5, 1, 4]) {
    const xs = Array.from({ length: n }, () => sampleBeta(rng, alpha, alpha));
    assert.ok(xs.every((x) => x >= 0 && x <= 1), `Beta(${alpha}) out of [0, 1]`);
    const { mean, variance } = moments(xs);
    const v = 1 / (4 * (2 * alpha + 1));
    // Excess kurtosis of a symmetric Beta(α, α) is −6/(2α + 3).
    const seVar = v * Math.sqrt((2 - 6 / (2 * alpha + 3)) / n);
    assert.ok(Math.abs(mean - 0.5) < 5 * Math.sqrt(v / n), `Beta(${alpha}) mean ${mean}`);
    assert.ok(Math.abs(variance - v) < 5 * seVar, `Beta(${alpha}) variance ${variance}, expected ${v} ± ${5 * seVar}`);
  }
  // α = 0.2 (the paper's) puts most mass near 0 and 1: P(λ < 0.1) = P(λ > 0.9) ≈ 0.33.
  const ys = Array.from({ length: n }, () => sampleBeta(rng, 0.2, 0.2));
  const low = ys.filter((y) => y < 0.1).length / n;
  assert.ok(low > 0.29 && low < 0.37, `P(λ < 0.1) = ${low}`);
});

test('Beta(1, 1) is uniform: Kolmogorov–Smirnov distance below the 1% critical value', () => {
  const rng = new TrainRng(5);
  const n = 5000;
  const xs = Array.from({ length: n }, () => sampleBeta(rng, 1, 1)).sort((a, b) => a - b);
  let d = 0;
  xs.forEach((x, i) => (d = Math.max(d, Math.abs(x - i / n), Math.abs(x - (i + 1) / n))));
  assert.ok(d < 1.63 / Math.sqrt(n), `KS distance ${d}`);
  // Asymmetric shapes: Beta(2, 5) has mean 2/7.
  const m = moments(Array.from({ length: n }, () => sampleBeta(rng, 2, 5))).mean;
  assert.ok(Math.abs(m - 2 / 7) < 0.01, `Beta(2, 5) mean ${m}`);
});

test('sampleMixup: deterministic per seed, perm a permutation, one fixed point on average', () => {
  const draw = (seed: number) => {
    const r = new TrainRng(seed);
    return Array.from({ length: 20 }, () => sampleMixup(r, 32, 0.2));
  };
  const a = draw(1);
  const b = draw(1);
  const c = draw(2);
  assert.equal(a.map((s) => s.lambda), b.map((s) => s.lambda));
  assert.equal(a.map((s) => Array.from(s.perm)), b.map((s) => Array.from(s.perm)));
  assert.not.equal(a.map((s) => s.lambda), c.map((s) => s.lambda));
  for (const s of a) {
    assert.ok(s.perm instanceof Int32Array && s.perm.length === 32);
    assert.equal(Array.from(s.perm).sort((x, y) => x - y), Array.from({ length: 32 }, (_, i) => i));
    assert.ok(s.lambda >= 0 && s.lambda <= 1);
  }
  const r = new TrainRng(3);
  let fixed = 0;
  const draws = 4000;
  for (let t = 0; t < draws; t++) {
    const { perm } = sampleMixup(r, 64, 0.2);
    for (let i = 0; i < 64; i++) if (perm[i] === i) fixed++;
  }
  assert.ok(Math.abs(fixed / draws - 1) < 0.1, `mean fixed points ${fixed / draws}`);
  // 'reverse' is gluon-cv's pairing; the λ stream is the same as 'random''s first draw.
  const rev = sampleMixup(new TrainRng(9), 5, 0.2, { pairing: 'reverse' });
  assert.equal(Array.from(rev.perm), [4, 3, 2, 1, 0]);
  assert.is(rev.lambda, sampleMixup(new TrainRng(9), 5, 0.2).lambda);
  assert.equal(Array.from(sampleMixup(new TrainRng(9), 1, 0.2).perm), [0]);
});

test('mixTargets: λ·y_i + (1 − λ)·y_perm(i), rows summing to 1', () => {
  const y = smoothLabels([0, 1, 2], 3, 0);
  const perm = Int32Array.from([2, 0, 1]);
  const m = mixTargets(y, perm, 0.75);
  assert.equal(m.shape, [3, 3]);
  assert.equal(Array.from(m.data), [0.75, 0, 0.25, 0.25, 0.75, 0, 0, 0.25, 0.75]);
  assert.equal(Array.from(mixTargets(y, perm, 1).data), Array.from(y.data));
  assert.equal(Array.from(mixTargets(y, perm, 0).data), [0, 0, 1, 1, 0, 0, 0, 1, 0]);
  // Random smoothed targets (the tricks recipe: smoothing, then mixup): rows still sum to 1.
  const rng = new Rng(12);
  const r = new TrainRng(12);
  for (let trial = 0; trial < 10; trial++) {
    const n = rng.int(1, 40);
    const k = rng.int(2, 100);
    const labels = Int32Array.from({ length: n }, () => rng.int(0, k - 1));
    const { lambda, perm: p } = sampleMixup(r, n, 0.2);
    const t = mixTargets(smoothLabels(labels, k, 0.1), p, lambda);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += t.data[i * k + c];
      assert.ok(Math.abs(s - 1) < 1e-5, `row ${i} sums to ${s}`);
    }
  }
});

test('mixImages blends whole images with their partners', () => {
  const x = { data: Float32Array.from([1, 2, 3, 4, 10, 20, 30, 40]), shape: [2, 2, 2, 1] };
  const m = mixImages(x, Int32Array.from([1, 0]), 0.25);
  assert.equal(m.shape, [2, 2, 2, 1]);
  assert.equal(Array.from(m.data), [7.75, 15.5, 23.25, 31, 3.25, 6.5, 9.75, 13]);
});

test('mixupActive: off for the last offEpochs epochs', () => {
  assert.ok(mixupActive(0, { epochs: 200 }));
  assert.ok(mixupActive(199, { epochs: 200 }));
  assert.ok(mixupActive(189, { epochs: 200, offEpochs: 10 }));
  assert.not.ok(mixupActive(190, { epochs: 200, offEpochs: 10 }));
  assert.not.ok(mixupActive(0, { epochs: 5, offEpochs: 5 }));
  expectCode(() => mixupActive(-1, { epochs: 5 }), 'ERR_ARGUMENT', 'negative epoch');
  expectCode(() => mixupActive(0, { epochs: 5, offEpochs: 6 }), 'ERR_ARGUMENT', 'offEpochs > epochs');
  expectCode(() => mixupActive(0, { epochs: 5, off: 1 } as never), 'ERR_ARGUMENT', 'unknown key');
});

test('argument errors', () => {
  const r = new TrainRng(1);
  expectCode(() => sampleMixup(r, 4, 0), 'ERR_ARGUMENT', 'α = 0');
  expectCode(() => sampleMixup(r, 0, 0.2), 'ERR_ARGUMENT', 'empty batch');
  expectCode(() => sampleMixup({} as never, 4, 0.2), 'ERR_ARGUMENT', 'no generator');
  expectCode(() => sampleMixup(r, 4, 0.2, { pairing: 'flip' as never }), 'ERR_ARGUMENT', 'unknown pairing');
  const y = smoothLabels([0, 1], 2, 0);
  expectCode(() => mixTargets(y, Int32Array.from([0, 0]), 0.5), 'ERR_ARGUMENT', 'not a permutation');
  expectCode(() => mixTargets(y, Int32Array.from([0, 2]), 0.5), 'ERR_ARGUMENT', 'index out of range');
  expectCode(() => mixTargets(y, Int32Array.from([0]), 0.5), 'ERR_SHAPE', 'short perm');
  expectCode(() => mixTargets(y, Int32Array.from([1, 0]), 1.5), 'ERR_ARGUMENT', 'λ > 1');
  expectCode(() => sampleGamma(r, 0), 'ERR_ARGUMENT', 'shape 0');
  expectCode(() => sampleBeta(r, 1, -1), 'ERR_ARGUMENT', 'negative b');
});

test.run();
