import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as path from 'path';
import { Rng, expectClose } from './helpers/compare';
import { bot } from './helpers/lib';

const { ops, runtime } = bot;

/** float64 reference: alpha · op(A) · op(B) + beta · C, row-major. */
function gemmRef(
  a: Float32Array, b: Float32Array, c: Float32Array | null,
  m: number, n: number, k: number, transA: boolean, transB: boolean, alpha: number, beta: number,
): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) {
        const av = transA ? a[l * m + i] : a[i * k + l];
        const bv = transB ? b[j * k + l] : b[l * n + j];
        s += av * bv;
      }
      out[i * n + j] = alpha * s + (beta !== 0 && c !== null ? beta * c[i * n + j] : 0);
    }
  }
  return out;
}

// Sizes around the 6 x 16 micro-tile and the 144 / 256 cache blocks, 1 and odd primes.
const SHAPES: Array<[number, number, number]> = [
  [1, 1, 1], [1, 13, 7], [6, 16, 4], [7, 17, 3], [13, 31, 97], [37, 5, 41], [64, 64, 64],
  [97, 33, 260], [150, 19, 31],
];

test('gemm matches a float64 reference for every transpose, alpha and beta', () => {
  let seed = 900;
  for (const [m, n, k] of SHAPES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const [alpha, beta] of [[1, 0], [1, 1], [-0.5, 0.5]]) {
          const rng = new Rng(++seed);
          const a = rng.tensor(transA ? [k, m] : [m, k]);
          const b = rng.tensor(transB ? [n, k] : [k, n]);
          const c = rng.tensor([m, n]);
          const y = ops.gemm(a, b, { transA, transB, alpha, beta, ...(beta !== 0 ? { c } : {}) });
          assert.equal(y.shape, [m, n]);
          // f32 accumulation over k terms of |a||b| ~ 1: the tolerance grows with sqrt(k).
          const tol = { atol: 1e-5 * Math.sqrt(k) * 4, rtol: 1e-4 };
          expectClose(y.data, gemmRef(a.data, b.data, c.data, m, n, k, transA, transB, alpha, beta),
            { op: 'gemm', shape: { m, n, k }, transA, transB, alpha, beta, seed }, tol);
        }
      }
    }
  }
});

test('gemm with beta = 0 ignores NaN in c, and leaves the c tensor untouched otherwise', () => {
  const rng = new Rng(31);
  const a = rng.tensor([5, 9]);
  const b = rng.tensor([9, 7]);
  const nan = { data: new Float32Array(35).fill(NaN), shape: [5, 7] };
  const y = ops.gemm(a, b, { beta: 0, c: nan });
  assert.ok(y.data.every(Number.isFinite), 'beta = 0 read c');
  const c = rng.tensor([5, 7]);
  const before = Array.from(c.data);
  ops.gemm(a, b, { beta: 2, c });
  assert.equal(Array.from(c.data), before, 'c was modified in place');
});

test('gemm gives the same result on 1 thread, on several, and off the JS thread', async () => {
  const threads = runtime.getThreads();
  try {
    const rng = new Rng(77);
    const a = rng.tensor([203, 311]);
    const b = rng.tensor([177, 311]);
    const opts = { transB: true };
    runtime.setThreads(1);
    const one = ops.gemm(a, b, opts);
    runtime.setThreads(3);
    const three = ops.gemm(a, b, opts);
    const later = await ops.gemmAsync(a, b, opts);
    // Each element is summed in the same order whatever the thread split: bit-identical.
    assert.equal(Array.from(three.data), Array.from(one.data));
    assert.equal(Array.from(later.data), Array.from(one.data));
    expectClose(one.data, gemmRef(a.data, b.data, null, 203, 177, 311, false, true, 1, 0),
      { op: 'gemm threads', shape: [203, 177, 311], seed: 77 }, { atol: 1e-4, rtol: 1e-4 });
  } finally {
    runtime.setThreads(threads);
  }
});

test('gemm without the AVX-512 kernels (BAGOFTRICKS_NO_AVX512=1) agrees with the default path', () => {
  // Shapes with full and edge tiles, k a multiple of the kernels' unroll and not, and k past
  // one cache block; beta = 0.5 reads C through the kernels' own write-back.
  const cases: Array<{ m: number; n: number; k: number; transA: boolean; transB: boolean; beta: number }> = [
    { m: 6, n: 16, k: 1, transA: false, transB: false, beta: 0 },
    { m: 12, n: 32, k: 7, transA: false, transB: true, beta: 0.5 },
    { m: 67, n: 45, k: 300, transA: true, transB: false, beta: 1 },
    { m: 150, n: 130, k: 513, transA: false, transB: false, beta: 0.5 },
  ];
  const rng = new Rng(4242);
  const inputs = cases.map(({ m, n, k, transA, transB }) => ({
    a: rng.tensor(transA ? [k, m] : [m, k]), b: rng.tensor(transB ? [n, k] : [k, n]), c: rng.tensor([m, n]),
  }));
  const run = (i: number) => {
    const { transA, transB, beta } = cases[i];
    const { a, b, c } = inputs[i];
    return ops.gemm(a, b, { transA, transB, beta, ...(beta !== 0 ? { c } : {}) });
  };
  // The child gets the inputs as base64 float32 and returns its results the same way.
  const enc = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');
  const script = `
    const b = require(${JSON.stringify(path.join(__dirname, '..', '..'))});
    const dec = (s) => { const buf = Buffer.from(s, 'base64'); return new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4); };
    const job = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    const out = job.cases.map((cs, i) => {
      const t = (x) => ({ data: dec(x.data), shape: x.shape });
      const a = t(job.inputs[i].a), bb = t(job.inputs[i].b), c = t(job.inputs[i].c);
      const y = b.ops.gemm(a, bb, { transA: cs.transA, transB: cs.transB, beta: cs.beta, ...(cs.beta !== 0 ? { c } : {}) });
      return Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength).toString('base64');
    });
    process.stdout.write(JSON.stringify({ avx512: b.runtime.cpuFeatures().avx512KernelsUsed, out }));`;
  const job = {
    cases,
    inputs: inputs.map(({ a, b, c }) => ({
      a: { data: enc(a.data), shape: a.shape }, b: { data: enc(b.data), shape: b.shape }, c: { data: enc(c.data), shape: c.shape },
    })),
  };
  const res = JSON.parse(execFileSync(process.execPath, ['-e', script], {
    input: JSON.stringify(job), env: { ...process.env, BAGOFTRICKS_NO_AVX512: '1' }, maxBuffer: 64 << 20,
  }).toString());
  assert.is(res.avx512, false, 'BAGOFTRICKS_NO_AVX512=1 turns the AVX-512 kernels off');
  cases.forEach((cs, i) => {
    const buf = Buffer.from(res.out[i], 'base64');
    const other = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    const y = run(i);
    assert.is(other.length, y.data.length);
    // Same products, summed in a different order: FP32 rounding only.
    expectClose(y.data, other, { op: 'gemm avx512 vs no-avx512', shape: cs, seed: 4242 },
      { atol: 1e-5 * Math.sqrt(cs.k) * 4, rtol: 1e-4 });
  });
});

test('gemm and gemmReference agree on a shape that crosses every cache block', () => {
  const rng = new Rng(5);
  const a = rng.tensor([300, 530]);
  const b = rng.tensor([530, 70]);
  expectClose(ops.gemm(a, b).data, ops.gemmReference(a, b).data,
    { op: 'gemm vs gemmReference', shape: [300, 70, 530], seed: 5 }, { atol: 2e-4, rtol: 1e-4 });
});

test.run();
