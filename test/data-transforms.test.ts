/**
 * The paper's transforms: the distributions of every random parameter over many fixed-seed
 * samples (bounds from the sample size, at significance 1e-9, so they cannot flake), the
 * exact pixels of the eval crop, and pad-crop-flip against a naive loop.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'path';
import { expectCode } from './helpers/compare';
import { bot } from './helpers/lib';
import { coordPixels, gradientPixels, ksBound, ksStatistic, rmDir, tmpDir, writeRaw } from './helpers/data-images';

const { data, ops } = bot;
type Dataset = import('../lib/data').Dataset;
type ImageSource = import('../lib/data').ImageSource;

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, error < 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** n standard deviations of a binomial count / sample mean: the 1e-9 two-sided normal bound. */
const Z = 6.1;

test('the defaults are the paper\'s numbers', () => {
  const t = data.TRAIN_DEFAULTS;
  assert.equal([t.scale, t.ratio, t.attempts, t.flip], [[0.08, 1], [3 / 4, 4 / 3], 10, 0.5]);
  assert.equal([t.brightness, t.saturation, t.hue, t.lighting], [0.4, 0.4, 0.4, 0.1]);
  assert.equal(t.eigval, [55.46, 4.794, 1.148]);
  assert.equal(t.eigvec, [-0.5675, 0.7192, 0.4009, -0.5808, -0.0045, -0.814, -0.5836, -0.6948, 0.4203]);
  assert.equal(t.mean, [123.68, 116.779, 103.939]);
  assert.equal(t.std, [58.393, 57.12, 57.375]);
  assert.is(data.EVAL_DEFAULTS.resizeRatio, 256 / 224);
  const custom = data.resolveTransform({ type: 'train', scale: [0.25, 1], hue: 0 });
  assert.equal(custom.type === 'train' && [custom.scale, custom.hue, custom.flip], [[0.25, 1], 0, 0.5]);
  expectCode(() => data.resolveTransform({ type: 'train', scales: [0.1, 1] } as never), 'ERR_ARGUMENT', 'unknown key');
  expectCode(() => data.resolveTransform({ type: 'train', scale: [0.5, 0.2] }), 'ERR_ARGUMENT', 'reversed range');
  expectCode(() => data.resolveTransform({ type: 'train', brightness: 1.5 }), 'ERR_ARGUMENT', 'jitter above 1');
  expectCode(() => data.resolveTransform({ type: 'eval', resizeRatio: 0.5 }), 'ERR_ARGUMENT', 'ratio below 1');
  expectCode(() => data.resolveTransform({ type: 'blur' } as never), 'ERR_ARGUMENT', 'unknown type');
});

test('RandomResizedCrop: area uniform in [0.08, 1], aspect log-uniform in [3/4, 4/3], position uniform', () => {
  // On a square image every draw with area ≤ 0.75 fits whatever the aspect (a·r ≤ 1 and
  // a/r ≤ 1), so among those the area is uniform on [0.08, 0.75] and the log-aspect uniform.
  const W = 2000;
  const rng = new data.Rng(1, 2, 3);
  const areas: number[] = [];
  const logAspects: number[] = [];
  const lefts: number[] = [];
  let fallbacks = 0;
  const N = 30000;
  for (let i = 0; i < N; i++) {
    const c = data.randomResizedCrop(W, W, rng);
    assert.ok(c.left >= 0 && c.top >= 0 && c.left + c.width <= W && c.top + c.height <= W, 'inside the image');
    if (c.attempt < 0) fallbacks++;
    const a = (c.width * c.height) / (W * W);
    if (c.attempt === 0 && a <= 0.74) {
      areas.push(a);
      logAspects.push(Math.log(c.width / c.height));
      if (c.width < W) lefts.push(c.left / (W - c.width));
    }
  }
  const n = areas.length;
  assert.ok(n > 0.6 * N, `most first draws are small enough: ${n}`);
  // Rounding w and h to pixels moves each value by at most ~1.5/W relative: allow that too.
  const slack = 4 / W;
  const dArea = ksStatistic(areas, (a) => Math.min(1, Math.max(0, (a - 0.08) / (0.75 - 0.08))));
  assert.ok(dArea < ksBound(n) + slack, `area KS ${dArea} (n ${n})`);
  const lo = Math.log(3 / 4);
  const hi = Math.log(4 / 3);
  const dAspect = ksStatistic(logAspects, (l) => Math.min(1, Math.max(0, (l - lo) / (hi - lo))));
  assert.ok(dAspect < ksBound(n) + slack, `aspect KS ${dAspect}`);
  const dLeft = ksStatistic(lefts, (u) => u);
  assert.ok(dLeft < ksBound(lefts.length) + slack, `position KS ${dLeft}`);
  // A 4:3 image almost never needs the fallback: P(10 failures) is about 1e-9 here.
  assert.is(fallbacks, 0);
});

test('RandomResizedCrop falls back to the centre crop, narrowed to the nearest allowed aspect', () => {
  const rng = new data.Rng(5);
  let fallbacks = 0;
  for (let i = 0; i < 3000; i++) {
    const c = data.randomResizedCrop(2000, 100, rng); // 20:1: most draws do not fit
    if (c.attempt < 0) {
      fallbacks++;
      assert.equal({ ...c }, { left: 933, top: 0, width: 133, height: 100, attempt: -1 });
    } else {
      assert.ok(c.attempt < 10 && c.height <= 100);
    }
  }
  assert.ok(fallbacks > 0, 'the fallback happens on a 20:1 image');
  const none = data.randomResizedCrop(300, 200, rng, { scale: [0.08, 1], ratio: [3 / 4, 4 / 3], attempts: 0 });
  assert.equal({ ...none }, { left: 16, top: 0, width: 267, height: 200, attempt: -1 }, 'attempts 0: 3:2 narrowed to 4:3');
  const tall = data.randomResizedCrop(100, 400, rng, { scale: [0.08, 1], ratio: [3 / 4, 4 / 3], attempts: 0 });
  assert.equal({ ...tall }, { left: 0, top: 133, width: 100, height: 133, attempt: -1 });
  const square = data.randomResizedCrop(120, 100, rng, { scale: [0.08, 1], ratio: [3 / 4, 4 / 3], attempts: 0 });
  assert.equal({ ...square }, { left: 0, top: 0, width: 120, height: 100, attempt: -1 }, 'within the range: the whole image');
});

test('colour jitter coefficients are uniform in [0.6, 1.4]; lighting α is N(0, 0.1²), independent per channel', () => {
  const rng = new data.Rng(9);
  const N = 20000;
  const cols: Record<'brightness' | 'saturation' | 'hue', number[]> = { brightness: [], saturation: [], hue: [] };
  const alpha: number[][] = [[], [], []];
  for (let i = 0; i < N; i++) {
    const c = data.sampleColour(rng, data.TRAIN_DEFAULTS);
    for (const k of ['brightness', 'saturation', 'hue'] as const) {
      assert.ok(c[k] >= 0.6 && c[k] <= 1.4, `${k} ${c[k]} in [0.6, 1.4]`);
      cols[k].push(c[k]);
    }
    c.alpha.forEach((a, j) => alpha[j].push(a));
  }
  for (const k of ['brightness', 'saturation', 'hue'] as const) {
    const d = ksStatistic(cols[k], (x) => Math.min(1, Math.max(0, (x - 0.6) / 0.8)));
    assert.ok(d < ksBound(N), `${k} KS ${d}`);
    assert.ok(Math.min(...cols[k]) < 0.61 && Math.max(...cols[k]) > 1.39, `${k} reaches both ends`);
  }
  const sigma = 0.1;
  for (let j = 0; j < 3; j++) {
    const d = ksStatistic(alpha[j], (a) => normalCdf(a / sigma));
    assert.ok(d < ksBound(N), `alpha[${j}] KS ${d}`);
  }
  // Sample covariance: var within Z·σ²·√(2/N), covariances within Z·σ²/√N.
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < N; k++) s += alpha[i][k] * alpha[j][k];
      const cov = s / N;
      const tol = i === j ? Z * sigma ** 2 * Math.sqrt(2 / N) : Z * sigma ** 2 / Math.sqrt(N);
      assert.ok(Math.abs(cov - (i === j ? sigma ** 2 : 0)) < tol, `cov[${i}][${j}] = ${cov}`);
    }
  }
  const off = data.sampleColour(rng, { brightness: 0, saturation: 0, hue: 0, lighting: 0 });
  assert.equal(off, { brightness: 1, saturation: 1, hue: 1, alpha: [0, 0, 0] });
});

test('lighting noise through the fused pass has covariance V·diag(σ²λ²)·Vᵀ on 0–255 pixels', () => {
  const N = 6000;
  const rng = new data.Rng(13);
  const alphas = new Float32Array(3 * N);
  for (let i = 0; i < N; i++) alphas.set(data.sampleColour(rng, data.TRAIN_DEFAULTS).alpha, 3 * i);
  const x = new Uint8Array(3 * N).fill(128); // N images of one grey pixel
  const y = ops.augment({ data: x, shape: [N, 1, 1, 3] }, { alpha: alphas }, { mean: [0, 0, 0], std: [1, 1, 1] }).data;
  const d = [0, 1, 2].map((c) => Float64Array.from({ length: N }, (_, i) => y[3 * i + c] - 128));
  const { eigval: L, eigvec: V } = ops.AUGMENT_DEFAULTS;
  const sigma = 0.1;
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      const want = [0, 1, 2].reduce((s, k) => s + V[3 * i + k] * V[3 * j + k] * (sigma * L[k]) ** 2, 0);
      const wantII = [0, 1, 2].reduce((s, k) => s + (V[3 * i + k] * sigma * L[k]) ** 2, 0);
      const wantJJ = [0, 1, 2].reduce((s, k) => s + (V[3 * j + k] * sigma * L[k]) ** 2, 0);
      let s = 0;
      for (let k = 0; k < N; k++) s += d[i][k] * d[j][k];
      const cov = s / N;
      // Standard error of a Gaussian sample covariance: √((Σii·Σjj + Σij²) / N).
      const tol = Z * Math.sqrt((wantII * wantJJ + want * want) / N);
      assert.ok(Math.abs(cov - want) < tol, `cov[${i}][${j}] = ${cov}, expected ${want} ± ${tol}`);
    }
  }
});

test('eval geometry: short side to round(size·256/224), long side truncated, centre crop at floor', () => {
  assert.equal(data.evalGeometry(640, 480, 224), { resizeWidth: 341, resizeHeight: 256, crop: { left: 58, top: 16, width: 224, height: 224 } });
  assert.equal(data.evalGeometry(480, 640, 224), { resizeWidth: 256, resizeHeight: 341, crop: { left: 16, top: 58, width: 224, height: 224 } });
  assert.equal(data.evalGeometry(500, 375, 32), { resizeWidth: 49, resizeHeight: 37, crop: { left: 8, top: 2, width: 32, height: 32 } });
  assert.equal(data.evalGeometry(300, 300, 224, 1), { resizeWidth: 224, resizeHeight: 224, crop: { left: 0, top: 0, width: 224, height: 224 } });
});

test('the eval crop of a hand-computed case has exactly the expected pixels', async () => {
  const dir = tmpDir('evalcrop');
  try {
    // 300×256 at size 224: the short side is already 256, so no resampling; the crop starts
    // at left = floor((300 − 224) / 2) = 38, top = 0 + floor((256 − 224) / 2) = 16.
    for (const [w, h, left, top] of [[300, 256, 38, 16], [256, 300, 16, 38]]) {
      const px = coordPixels(w, h);
      const file = await writeRaw(path.join(dir, `c${w}x${h}.png`), px, w, h, 3, 'png');
      const loader = new data.DataLoader(new data.ImageList([file]), { batchSize: 1, transform: 'eval', size: 224, output: 'uint8', workers: 1 });
      const batch = (await loader.epoch(0).next()).value!;
      assert.equal(batch.images.shape, [1, 224, 224, 3]);
      const out = batch.images.data;
      let bad = 0;
      for (let y = 0; y < 224; y++) {
        for (let x = 0; x < 224; x++) {
          for (let c = 0; c < 3; c++) if (out[(y * 224 + x) * 3 + c] !== px[((y + top) * w + x + left) * 3 + c]) bad++;
        }
      }
      assert.is(bad, 0, `${w}×${h}: pixels differ from src[y + ${top}][x + ${left}]`);
      // With f32 output the same pixels come out normalised.
      const f = (await new data.DataLoader(new data.ImageList([file]), { batchSize: 1, transform: 'eval', size: 224, workers: 1 }).epoch(0).next()).value!;
      const m = ops.AUGMENT_DEFAULTS;
      for (const i of [0, 1, 2, 3 * 500 + 1, out.length - 1]) {
        assert.ok(Math.abs((f.images.data as Float32Array)[i] - (out[i] - m.mean[i % 3]) / m.std[i % 3]) < 1e-5);
      }
    }
  } finally {
    rmDir(dir);
  }
});

class PixelSet implements Dataset {
  readonly classes = ['a'];
  readonly counts: number[];
  constructor(private readonly images: { data: Uint8Array; w: number; h: number }[]) {
    this.counts = [images.length];
  }
  get length() {
    return this.images.length;
  }
  label() {
    return 0;
  }
  source(i: number): ImageSource {
    const m = this.images[i];
    return { kind: 'pixels', data: m.data, width: m.w, height: m.h, channels: 3 };
  }
  name(i: number) {
    return `px[${i}]`;
  }
}

test('the train transform flips with probability 0.5, and a flip mirrors the crop exactly', async () => {
  const S = 8;
  const src = gradientPixels(S, S, 3);
  const mirror = new Uint8Array(src.length);
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let c = 0; c < 3; c++) mirror[(y * S + x) * 3 + c] = src[(y * S + S - 1 - x) * 3 + c];
  const N = 400;
  const ds = new PixelSet(Array.from({ length: N }, () => ({ data: src, w: S, h: S })));
  // The whole image, resized to its own size: the output is the image or its mirror, exactly.
  const loader = new data.DataLoader(ds, { batchSize: 100, size: S, output: 'uint8', transform: { type: 'train', scale: [1, 1], ratio: [1, 1] }, seed: 4 });
  let flips = 0;
  for await (const b of loader.epoch(0)) {
    for (let k = 0; k < b.labels.length; k++) {
      const img = b.images.data.subarray(k * S * S * 3, (k + 1) * S * S * 3);
      const same = img.every((v, i) => v === src[i]);
      const flipped = img.every((v, i) => v === mirror[i]);
      assert.ok(same !== flipped, 'each output is the image or its mirror');
      if (flipped) flips++;
    }
  }
  const tol = Z * Math.sqrt(N * 0.25);
  assert.ok(Math.abs(flips - N / 2) < tol, `${flips} flips of ${N} (± ${tol.toFixed(0)})`);
});

test('padCrop: padded random crop and flip match a naive loop', () => {
  const rng = new data.Rng(17);
  for (const [size, pad] of [[8, 2], [5, 4], [32, 4], [3, 0]]) {
    const src = Uint8Array.from({ length: size * size * 3 }, (_, i) => (i * 29) % 251);
    for (let k = 0; k < 12; k++) {
      const { dx, dy, flip } = data.samplePadCrop(rng, { padding: pad, flip: 0.5 });
      assert.ok(dx >= 0 && dx <= 2 * pad && dy >= 0 && dy <= 2 * pad);
      const out = new Uint8Array(src.length);
      data.padCrop(src, size, pad, dx, dy, flip, 7, out);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const cx = flip ? size - 1 - x : x; // flip after the crop
          const sy = y + dy - pad;
          const sx = cx + dx - pad;
          for (let c = 0; c < 3; c++) {
            const want = sy < 0 || sy >= size || sx < 0 || sx >= size ? 7 : src[(sy * size + sx) * 3 + c];
            assert.is(out[(y * size + x) * 3 + c], want, `size ${size} pad ${pad} dx ${dx} dy ${dy} flip ${flip} at (${y}, ${x})`);
          }
        }
      }
    }
  }
});

test.run();
