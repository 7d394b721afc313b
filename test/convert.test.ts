import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as path from 'path';
import { Rng, expectCode } from './helpers/compare';
import { bot } from './helpers/lib';
import { backendTest } from './helpers/backend';

const { ops } = bot;

/** float64 reference of IEEE binary16 rounding (nearest, ties to even) → the half's value. */
function halfValueRef(v: number): number {
  if (Number.isNaN(v)) return NaN;
  const a = Math.abs(v);
  if (a >= 65520) return v > 0 ? Infinity : -Infinity;
  if (a === 0) return v;
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  const q = a / ulp; // exact: a is a float32 and ulp a power of two
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r += 1;
  const out = r * ulp;
  return v < 0 || Object.is(v, -0) ? -out : out;
}

/** Every float32 class that matters: normals, ties, subnormals, overflow edge, specials. */
function probeValues(): Float32Array {
  const rng = new Rng(99);
  const vals: number[] = [0, -0, 1, -1, 65504, 65505, 65519, 65520, 1e6, -1e6, Infinity, -Infinity, NaN,
    2 ** -14, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 2 ** -26, 3 * 2 ** -25, 1e-8, 6.1e-5, 1 + 2 ** -11, 1 + 3 * 2 ** -11];
  for (let i = 0; i < 20000; i++) vals.push(rng.normal() * 2 ** rng.int(-26, 17));
  return Float32Array.from(vals);
}

backendTest(test);

test('toFloat16 rounds to nearest even, with subnormals, overflow and NaN', () => {
  const x = probeValues();
  const back = ops.fromFloat16(ops.toFloat16(x));
  for (let i = 0; i < x.length; i++) {
    const want = halfValueRef(x[i]);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(back[i]), `NaN at ${i}`);
    else assert.ok(Object.is(back[i], want), `x=${x[i]}: got ${back[i]}, want ${want}`);
  }
});

test('fromFloat16 decodes all 65536 halves exactly, and toFloat16 inverts it', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const f = ops.fromFloat16(all);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    const want = e === 31 ? (m ? NaN : s * Infinity) : e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(f[h]));
    else assert.ok(Object.is(f[h], want), `half 0x${h.toString(16)}: got ${f[h]}, want ${want}`);
  }
  const round = ops.toFloat16(f);
  for (let h = 0; h < 65536; h++) {
    if (((h >> 10) & 0x1f) === 31 && (h & 0x3ff)) assert.ok((round[h] & 0x7c00) === 0x7c00 && (round[h] & 0x3ff) !== 0);
    else assert.is(round[h], h, `round trip of 0x${h.toString(16)}`);
  }
});

test('the portable path (BAGOFTRICKS_NO_AVX2=1) is bit-identical to F16C', () => {
  const x = probeValues();
  const fast = ops.toFloat16(x);
  // The bytes travel as base64 so that -0, NaN and infinities arrive unchanged.
  const script = `
    const b = require(${JSON.stringify(path.join(__dirname, '..', '..'))});
    const buf = Buffer.from(require('fs').readFileSync(0, 'utf8'), 'base64');
    const x = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    process.stdout.write(JSON.stringify({ cpu: b.runtime.cpuFeatures().avx2KernelsUsed, h: Array.from(b.ops.toFloat16(x)) }));`;
  const out = execFileSync(process.execPath, ['-e', script], {
    input: Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64'),
    env: { ...process.env, BAGOFTRICKS_NO_AVX2: '1' },
    maxBuffer: 64 << 20,
  });
  const res = JSON.parse(out.toString());
  assert.is(res.cpu, false, 'portable path forced');
  const mismatch = res.h.findIndex((h: number, i: number) => h !== fast[i]);
  assert.is(mismatch, -1, mismatch >= 0 ? `x=${x[mismatch]}: portable ${res.h[mismatch]}, F16C ${fast[mismatch]}` : '');
  assert.is(res.h.length, fast.length);
});

test('conversion rejects the wrong array types', () => {
  expectCode(() => ops.toFloat16(new Float64Array(2) as unknown as Float32Array), 'ERR_DTYPE', 'toFloat16');
  expectCode(() => ops.fromFloat16(new Int16Array(2) as unknown as Uint16Array), 'ERR_DTYPE', 'fromFloat16');
  expectCode(() => ops.toFloat16([1, 2] as unknown as Float32Array), 'ERR_ARGUMENT', 'plain array');
});

// NCHW → NHWC: against a loop written here, for the fast path (blocks of 64 pixels,
// threads) and the reference, on sizes around the block and the thread split.
test('nchwToNhwc moves every value where NHWC puts it, fast path and reference', () => {
  const rng = new Rng(17);
  for (const [n, c, h, w] of [[1, 1, 1, 1], [1, 3, 224, 224], [2, 3, 9, 7], [3, 5, 8, 16], [1, 64, 13, 11]]) {
    const x = rng.array(n * c * h * w);
    const want = new Float32Array(x.length);
    for (let i = 0; i < n; i++)
      for (let ch = 0; ch < c; ch++)
        for (let p = 0; p < h * w; p++) want[(i * h * w + p) * c + ch] = x[(i * c + ch) * h * w + p];
    for (const algorithm of ['fast', 'reference'] as const) {
      const y = ops.nchwToNhwc(x, [n, c, h, w], { algorithm });
      assert.equal(y.shape, [n, h, w, c]);
      assert.ok(Buffer.from(y.data.buffer).equals(Buffer.from(want.buffer)), `${algorithm} ${[n, c, h, w]}`);
    }
  }
  expectCode(() => ops.nchwToNhwc(new Float32Array(5), [1, 2, 2, 2]), 'ERR_SHAPE', 'length not N·C·H·W');
  expectCode(() => ops.nchwToNhwc(new Float64Array(8) as never, [1, 2, 2, 2]), 'ERR_DTYPE', 'Float64Array');
  expectCode(() => ops.nchwToNhwc(new Float32Array(8), [1, 2, 2]), 'ERR_SHAPE', 'rank 3');
  expectCode(() => ops.nchwToNhwc(new Float32Array(8), [1, 2, 2, 2], { algorithm: 'slow' as 'fast' }), 'ERR_ARGUMENT', 'algorithm');
});

test.run();
