/** ops.augment: the fused colour pass against a float64 reference of the paper's steps. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as path from 'path';
import { Rng, expectClose, expectCode, expectCodeAsync } from './helpers/compare';
import { bot } from './helpers/lib';

const { ops } = bot;
const D = ops.AUGMENT_DEFAULTS;

const YIQ = [0.299, 0.587, 0.114, 0.596, -0.274, -0.321, 0.211, -0.523, 0.311];

function inv3(a: number[]): number[] {
  const c00 = a[4] * a[8] - a[5] * a[7];
  const c01 = a[5] * a[6] - a[3] * a[8];
  const c02 = a[3] * a[7] - a[4] * a[6];
  const det = a[0] * c00 + a[1] * c01 + a[2] * c02;
  return [c00, a[2] * a[7] - a[1] * a[8], a[1] * a[5] - a[2] * a[4], c01, a[0] * a[8] - a[2] * a[6], a[2] * a[3] - a[0] * a[5], c02, a[1] * a[6] - a[0] * a[7], a[0] * a[4] - a[1] * a[3]].map((v) => v / det);
}
const YIQ_INV = inv3(YIQ);
const mv = (m: number[], v: number[]) => [0, 1, 2].map((r) => m[3 * r] * v[0] + m[3 * r + 1] * v[1] + m[3 * r + 2] * v[2]);

interface Params {
  brightness?: Float32Array;
  saturation?: Float32Array;
  hue?: Float32Array;
  alpha?: Float32Array;
}

/** The five steps of the header comment, literally, in float64 (colour values before step 5 when raw). */
function reference(x: Uint8Array, n: number, hw: number, p: Params, raw = false, c = { mean: D.mean, std: D.std, eigval: D.eigval, eigvec: D.eigvec }): Float64Array {
  const y = new Float64Array(x.length);
  for (let k = 0; k < n; k++) {
    const b = p.brightness?.[k] ?? 1;
    const s = p.saturation?.[k] ?? 1;
    const h = p.hue?.[k] ?? 1;
    const a = [0, 1, 2].map((j) => p.alpha?.[3 * k + j] ?? 0);
    const light = [0, 1, 2].map((i) => [0, 1, 2].reduce((acc, j) => acc + c.eigvec[3 * i + j] * a[j] * c.eigval[j], 0));
    const th = (h - 1) * Math.PI;
    for (let i = 0; i < hw; i++) {
      const o = (k * hw + i) * 3;
      let v = [x[o] * b, x[o + 1] * b, x[o + 2] * b];
      const grey = 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2];
      v = v.map((ch) => s * ch + (1 - s) * grey);
      const q = mv(YIQ, v);
      v = mv(YIQ_INV, [q[0], Math.cos(th) * q[1] - Math.sin(th) * q[2], Math.sin(th) * q[1] + Math.cos(th) * q[2]]);
      for (let ch = 0; ch < 3; ch++) y[o + ch] = raw ? v[ch] + light[ch] : (v[ch] + light[ch] - c.mean[ch]) / c.std[ch];
    }
  }
  return y;
}

function randomCase(rng: Rng, n: number, h: number, w: number) {
  const x = new Uint8Array(n * h * w * 3);
  for (let i = 0; i < x.length; i++) x[i] = rng.int(0, 255);
  const u = (lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());
  const params = { brightness: u(0.6, 1.4), saturation: u(0.6, 1.4), hue: u(0.6, 1.4), alpha: Float32Array.from({ length: 3 * n }, () => 0.1 * rng.normal()) };
  return { images: { data: x, shape: [n, h, w, 3] }, params };
}

// Odd sizes reach every path of the AVX2 kernel: batches shorter than one 8-pixel block,
// a first pixel done scalar, rows that end mid-block, the last bytes of the batch.
const SHAPES = [[1, 1, 1], [1, 1, 9], [2, 3, 5], [3, 7, 11], [1, 8, 8], [4, 13, 17], [2, 32, 33], [5, 64, 64]];

test('augment (f32) matches the float64 reference of the five steps on odd shapes', () => {
  SHAPES.forEach(([n, h, w], ci) => {
    const seed = 700 + ci;
    const { images, params } = randomCase(new Rng(seed), n, h, w);
    const want = reference(images.data, n, h * w, params);
    const got = ops.augment(images, params);
    assert.equal(got.shape, [n, h, w, 3]);
    expectClose(got.data, want, { op: 'augment f32', shape: [n, h, w], seed }, { atol: 2e-5, rtol: 2e-5 });
    const ref = ops.augmentReference(images, params);
    expectClose(ref.data, want, { op: 'augmentReference', shape: [n, h, w], seed }, { atol: 1e-6, rtol: 1e-6 });
  });
});

test('augment (f16) is the f32 result rounded to half precision', () => {
  SHAPES.forEach(([n, h, w], ci) => {
    const seed = 800 + ci;
    const { images, params } = randomCase(new Rng(seed), n, h, w);
    const f32 = ops.augment(images, params);
    const f16 = ops.augment(images, params, { dtype: 'f16' });
    assert.instance(f16.data, Uint16Array);
    // Half precision has an 11-bit significand: relative error ≤ 2^-11 after rounding.
    expectClose(ops.fromFloat16(f16.data), f32.data, { op: 'augment f16', dtype: 'f16', shape: [n, h, w], seed }, { atol: 1e-6, rtol: 2 ** -11 });
  });
});

test('without parameters it is the plain normalisation; h = 1 keeps pixels, any h keeps luma; s = 0 gives grey', () => {
  const rng = new Rng(11);
  const { images } = randomCase(rng, 2, 5, 6);
  const x = images.data;
  const plain = ops.augment(images);
  const want = Float64Array.from(x, (v, i) => (v - D.mean[i % 3]) / D.std[i % 3]);
  expectClose(plain.data, want, { op: 'normalise only', seed: 11 }, { atol: 1e-6, rtol: 1e-6 });

  const ones = new Float32Array(2).fill(1);
  expectClose(ops.augment(images, { hue: ones, saturation: ones, brightness: ones }).data, want, { op: 'unit coefficients', seed: 11 }, { atol: 1e-5, rtol: 1e-5 });

  const unit = { mean: [0, 0, 0], std: [1, 1, 1] };
  for (const h of [0.6, 0.87, 1.4, 2]) {
    const y = ops.augment(images, { hue: new Float32Array(2).fill(h) }, unit).data;
    for (let i = 0; i < x.length; i += 3) {
      const lumaIn = 0.299 * x[i] + 0.587 * x[i + 1] + 0.114 * x[i + 2];
      const lumaOut = 0.299 * y[i] + 0.587 * y[i + 1] + 0.114 * y[i + 2];
      assert.ok(Math.abs(lumaIn - lumaOut) < 1e-3, `hue ${h} changed luma at ${i}: ${lumaIn} → ${lumaOut}`);
    }
  }
  const grey = ops.augment(images, { saturation: new Float32Array(2) }, unit).data;
  for (let i = 0; i < x.length; i += 3) {
    const luma = 0.299 * x[i] + 0.587 * x[i + 1] + 0.114 * x[i + 2];
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(grey[i + c] - luma) < 1e-3, 's = 0 gives the luma in every channel');
  }
  const bright = ops.augment(images, { brightness: new Float32Array(2).fill(1.25) }, unit).data;
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(bright[i] - 1.25 * x[i]) < 1e-3, 'brightness scales every channel');
});

test('lighting adds eigvec·(α∘eigval) to every pixel, and augmentAffine composes the steps', () => {
  const alpha = Float32Array.from([0.1, -0.2, 0.3]);
  const images = { data: new Uint8Array(3 * 4).fill(100), shape: [1, 2, 2, 3] };
  const y = ops.augment(images, { alpha }, { mean: [0, 0, 0], std: [1, 1, 1] }).data;
  const rgb = [0, 1, 2].map((i) => [0, 1, 2].reduce((s, j) => s + D.eigvec[3 * i + j] * alpha[j] * D.eigval[j], 0));
  for (let p = 0; p < 4; p++) for (let c = 0; c < 3; c++) assert.ok(Math.abs(y[3 * p + c] - (100 + rgb[c])) < 1e-4);

  const img = { brightness: 1.2, saturation: 0.7, hue: 1.3, alpha: [0.05, -0.1, 0.02] };
  const { m, t } = ops.augmentAffine(img);
  const px = new Uint8Array([200, 40, 90]);
  const want = reference(px, 1, 1, { brightness: Float32Array.of(1.2), saturation: Float32Array.of(0.7), hue: Float32Array.of(1.3), alpha: Float32Array.from(img.alpha) });
  const got = [0, 1, 2].map((c) => m[3 * c] * 200 + m[3 * c + 1] * 40 + m[3 * c + 2] * 90 + t[c]);
  expectClose(got, want, { op: 'augmentAffine' }, { atol: 1e-5, rtol: 1e-5 });
});

test('augmentAsync and augmentInto equal augment; the thread pool and the caller agree', async () => {
  const { images, params } = randomCase(new Rng(21), 6, 31, 29);
  const sync = ops.augment(images, params);
  const copy = new Uint8Array(images.data);
  const pending = ops.augmentAsync(images, params);
  images.data.fill(0); // the async op copied its input
  const asyncOut = await pending;
  assert.equal(Array.from(asyncOut.data), Array.from(sync.data));
  const out = new Float32Array(copy.length);
  const into = await ops.augmentInto({ data: copy, shape: images.shape }, params, out);
  assert.is(into.data, out, 'writes into the given array');
  assert.equal(Array.from(out), Array.from(sync.data));
  const caller = ops.augment({ data: copy, shape: images.shape }, params, { threads: 'caller' });
  assert.equal(Array.from(caller.data), Array.from(sync.data));
  const h = await ops.augmentInto({ data: copy, shape: images.shape }, params, new Uint16Array(copy.length));
  assert.equal(Array.from(h.data), Array.from(ops.augment({ data: copy, shape: images.shape }, params, { dtype: 'f16' }).data));
});

test('the portable path (BAGOFTRICKS_NO_AVX2=1) agrees with the AVX2 kernel', () => {
  const { images, params } = randomCase(new Rng(31), 3, 19, 23);
  const fast = ops.augment(images, params);
  const script = `
    const b = require(${JSON.stringify(path.join(__dirname, '..', '..'))});
    const i = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    const f = (a) => Float32Array.from(a);
    const y = b.ops.augment({ data: Uint8Array.from(i.x), shape: i.shape }, { brightness: f(i.b), saturation: f(i.s), hue: f(i.h), alpha: f(i.a) });
    process.stdout.write(JSON.stringify({ avx: b.runtime.cpuFeatures().avx2KernelsUsed, y: Array.from(y.data) }));`;
  const input = JSON.stringify({ x: Array.from(images.data), shape: images.shape, b: Array.from(params.brightness), s: Array.from(params.saturation), h: Array.from(params.hue), a: Array.from(params.alpha) });
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { input, env: { ...process.env, BAGOFTRICKS_NO_AVX2: '1' }, maxBuffer: 64 << 20 }).toString());
  assert.is(out.avx, false, 'portable path forced');
  expectClose(out.y, fast.data, { op: 'augment portable vs AVX2', seed: 31 }, { atol: 1e-5, rtol: 1e-5 });
});

test('srgbFromProfile: tone curve, matrix, sRGB curve, 8 bits; images not flagged are untouched', () => {
  const rng = new Rng(41);
  const n = 2;
  const x = Uint8Array.from({ length: n * 4 * 5 * 3 }, () => rng.int(0, 255));
  // Image 0: gamma 1.8 curves and a mixing matrix; image 1: left alone.
  const lut = new Float32Array(n * 768);
  for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255) ** 1.8;
  const matrix = new Float32Array(n * 9);
  matrix.set([1.1, -0.05, -0.05, 0.02, 0.95, 0.03, -0.01, 0.04, 0.97]);
  const convert = Uint8Array.of(1, 0);
  const y = ops.srgbFromProfile({ data: x, shape: [n, 4, 5, 3] }, { convert, lut, matrix }).data;
  const enc = (l: number) => {
    const v = Math.min(1, Math.max(0, l));
    return 255 * (v <= 0.0031308 ? 12.92 * v : 1.055 * v ** (1 / 2.4) - 0.055);
  };
  for (let p = 0; p < 20; p++) {
    const l = [0, 1, 2].map((c) => lut[c * 256 + x[3 * p + c]]);
    for (let c = 0; c < 3; c++) {
      const want = enc(matrix[3 * c] * l[0] + matrix[3 * c + 1] * l[1] + matrix[3 * c + 2] * l[2]);
      assert.ok(Math.abs(y[3 * p + c] - want) <= 0.51, `pixel ${p} channel ${c}: ${y[3 * p + c]} vs ${want}`);
    }
  }
  assert.equal(Array.from(y.subarray(60)), Array.from(x.subarray(60)), 'image 1 untouched');
});

test('augment rejects bad input with coded errors', async () => {
  const images = { data: new Uint8Array(2 * 2 * 2 * 3), shape: [2, 2, 2, 3] };
  expectCode(() => ops.augment({ data: new Float32Array(24) as unknown as Uint8Array, shape: [2, 2, 2, 3] }), 'ERR_DTYPE', 'float images');
  expectCode(() => ops.augment({ data: new Uint8Array(23), shape: [2, 2, 2, 3] }), 'ERR_SHAPE', 'length');
  expectCode(() => ops.augment({ data: new Uint8Array(16), shape: [2, 2, 2, 2] }), 'ERR_SHAPE', 'channels');
  expectCode(() => ops.augment(images, { brightness: new Float32Array(3) }), 'ERR_SHAPE', 'params length');
  expectCode(() => ops.augment(images, { hue: Float32Array.of(1, NaN) }), 'ERR_ARGUMENT', 'NaN hue');
  expectCode(() => ops.augment(images, {}, { std: [1, 0, 1] }), 'ERR_ARGUMENT', 'std 0');
  expectCode(() => ops.augment(images, {}, { mean: [1, 2] }), 'ERR_ARGUMENT', 'mean length');
  expectCode(() => ops.augment(images, { bright: new Float32Array(2) } as never), 'ERR_ARGUMENT', 'unknown key');
  expectCode(() => ops.augment(images, {}, { dtype: 'f64' as 'f32' }), 'ERR_ARGUMENT', 'dtype');
  expectCode(() => ops.srgbFromProfile(images, { convert: new Uint8Array(2), lut: new Float32Array(10), matrix: new Float32Array(18) }), 'ERR_SHAPE', 'lut length');
  await expectCodeAsync(() => ops.augmentAsync(images, { alpha: new Float32Array(5) }), 'ERR_SHAPE', 'async alpha');
  await expectCodeAsync(() => ops.augmentInto(images, {}, new Float32Array(5)), 'ERR_SHAPE', 'into length');
});

test.run();
