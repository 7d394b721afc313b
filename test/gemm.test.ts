import { test } from 'uvu';
import * as assert from 'uvu/assert';
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

test('gemm and gemmReference agree on a shape that crosses every cache block', () => {
  const rng = new Rng(5);
  const a = rng.tensor([300, 530]);
  const b = rng.tensor([530, 70]);
  expectClose(ops.gemm(a, b).data, ops.gemmReference(a, b).data,
    { op: 'gemm vs gemmReference', shape: [300, 70, 530], seed: 5 }, { atol: 2e-4, rtol: 1e-4 });
});

test.run();
