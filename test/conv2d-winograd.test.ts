/**
 * The Winograd F(4×4, 3×3) convolution of inference (native/cpu/conv2d_winograd*.cpp):
 * the fast kernels against their float64 scalar oracle and against the direct convolution
 * (the float64 loop nest), over sizes that are not multiples of the 4×4 tile, channel
 * counts off the 16-lane blocks, output channels off the GEMM's 16-column panels and past
 * its 4-panel step, and more input channels than one 256-channel GEMM block; the AVX2 and
 * plain builds in child processes; bias and ReLU; bad arguments; and a folded eval Net,
 * which takes this path unless BAGOFTRICKS_NO_WINOGRAD=1.
 */
import { execFileSync } from 'child_process';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, expectClose, expectCode } from './helpers/compare';
import { bot } from './helpers/lib';

const { ops } = bot;

type Shape4 = [number, number, number, number];
/** x [N, H, W, C] and K output channels. */
const CASES: Array<{ x: Shape4; k: number }> = [
  { x: [1, 1, 1, 1], k: 1 },
  { x: [2, 5, 7, 3], k: 5 },
  { x: [1, 9, 9, 17], k: 17 },
  { x: [2, 8, 8, 16], k: 64 },
  { x: [1, 13, 11, 33], k: 70 },
  { x: [1, 6, 5, 300], k: 40 },
  { x: [3, 4, 4, 8], k: 96 },
  { x: [1, 2, 3, 64], k: 130 },
  { x: [2, 40, 36, 24], k: 48 }, // 180 tiles: rows split between threads, several blocks each
  { x: [2, 16, 16, 352], k: 352 }, // transformed weights over 16 MB: blocks of more rows
];

/** max |a − b| ÷ max |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  let m = 0;
  let d = 0;
  for (let i = 0; i < b.length; i++) {
    m = Math.max(m, Math.abs(b[i]));
    d = Math.max(d, Math.abs(a[i] - b[i]));
  }
  return d / m;
}

function inputs(x: Shape4, k: number, seed: number) {
  const rng = new Rng(seed);
  const X = rng.tensor(x);
  const W = rng.tensor([k, 3, 3, x[3]], 1 / Math.sqrt(9 * x[3]));
  const bias = Float32Array.from(rng.tensor([k], 0.5).data);
  return { X, W, bias };
}

/** The direct convolution in float64, plus the bias, then ReLU when asked. */
function direct(X: { data: Float32Array; shape: number[] }, W: { data: Float32Array; shape: number[] }, bias: Float32Array, relu: boolean) {
  const y = ops.conv2dReference(X, W, { padding: 1 }).data;
  const k = bias.length;
  for (let i = 0; i < y.length; i++) {
    const v = y[i] + bias[i % k];
    y[i] = relu ? Math.max(v, 0) : v;
  }
  return y;
}

// Measured on the cases below: fast against the oracle at most 5e-6 of the largest output,
// the oracle against the direct convolution 4e-7 (it multiplies by float32 weights).
const BOUND = 2e-5;

test('Winograd: the fast kernels match the scalar oracle and the direct convolution', () => {
  CASES.forEach(({ x, k }, i) => {
    const { X, W, bias } = inputs(x, k, 40 + i);
    for (const relu of [false, true]) {
      const fast = ops.conv2dWinograd(X, W, { bias, relu }).data;
      const oracle = ops.conv2dWinograd(X, W, { bias, relu, algorithm: 'reference' }).data;
      const ref = direct(X, W, bias, relu);
      const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const tol = { atol: BOUND * scale, rtol: 0 };
      expectClose(fast, oracle, { op: 'winograd vs oracle', shape: x, k, relu, seed: 40 + i }, tol);
      expectClose(fast, ref, { op: 'winograd vs direct', shape: x, k, relu, seed: 40 + i }, tol);
      expectClose(oracle, ref, { op: 'oracle vs direct', shape: x, k, relu, seed: 40 + i }, { atol: 2e-6 * scale, rtol: 0 });
      if (relu) assert.ok(fast.every((v) => v >= 0), 'ReLU leaves no negative output');
    }
  });
});

test('Winograd: without a bias the output is the bare convolution', () => {
  const { X, W } = inputs([1, 10, 10, 24], 32, 7);
  const fast = ops.conv2dWinograd(X, W).data;
  const ref = ops.conv2dReference(X, W, { padding: 1 }).data;
  assert.ok(relErr(fast, ref) < BOUND, `relative error ${relErr(fast, ref)}`);
});

// Rows split between threads (2 × 5 × 5 tiles), and few tiles with the output channels
// split instead (4 tiles, 5 column panels of 16).
test('Winograd: the result does not depend on the thread count', () => {
  const threads = bot.runtime.getThreads();
  try {
    for (const [x, k] of [[[2, 20, 20, 32], 48], [[1, 7, 7, 64], 80]] as [Shape4, number][]) {
      const { X, W, bias } = inputs(x, k, 9);
      bot.runtime.setThreads(1);
      const one = ops.conv2dWinograd(X, W, { bias }).data;
      for (const t of [2, 3]) {
        bot.runtime.setThreads(t);
        const other = ops.conv2dWinograd(X, W, { bias }).data;
        assert.equal(Array.from(other), Array.from(one), `${t} threads against 1, input ${x}, k ${k}`);
      }
    }
  } finally {
    bot.runtime.setThreads(threads);
  }
});

test('Winograd: bad arguments throw coded errors', () => {
  const { X, W } = inputs([1, 5, 5, 4], 4, 3);
  const rng = new Rng(1);
  expectCode(() => ops.conv2dWinograd(X, rng.tensor([4, 5, 5, 4])), 'ERR_ARGUMENT', '5×5 kernel');
  expectCode(() => ops.conv2dWinograd(X, W, { bias: new Float32Array(3) }), 'ERR_ARGUMENT', 'short bias');
  expectCode(() => ops.conv2dWinograd(X, W, { algorithm: 'slow' as 'fast' }), 'ERR_ARGUMENT', 'algorithm');
  expectCode(() => ops.conv2dWinograd(X, W, { relu: 1 as unknown as boolean }), 'ERR_ARGUMENT', 'relu');
  expectCode(() => ops.conv2dWinograd(X, rng.tensor([4, 3, 3, 5])), 'ERR_SHAPE', 'channel mismatch');
});

// Child processes: the kernels are chosen once per process from the environment.
const CHILD = `
const b = require(process.argv[1]);
const dec = (s) => { const buf = Buffer.from(s, 'base64'); return new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4); };
const enc = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const jobs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = jobs.map(({ x, w, bias }) => enc(b.ops.conv2dWinograd({ data: dec(x.data), shape: x.shape }, { data: dec(w.data), shape: w.shape }, { bias: dec(bias), relu: true }).data));
process.stdout.write(JSON.stringify({ cpu: b.runtime.cpuFeatures(), out }));
`;

function runChild(env: Record<string, string>) {
  const enc = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
  const all = CASES.map(({ x, k }, i) => inputs(x, k, 300 + i));
  const jobs = all.map(({ X, W, bias }) => ({ x: { data: enc(X.data), shape: X.shape }, w: { data: enc(W.data), shape: W.shape }, bias: enc(bias) }));
  const stdout = execFileSync(process.execPath, ['-e', CHILD, path.join(__dirname, '..', '..')], {
    input: JSON.stringify(jobs), env: { ...process.env, ...env }, maxBuffer: 1 << 26,
  });
  const res = JSON.parse(stdout.toString()) as { cpu: { avx2KernelsUsed: boolean; avx512KernelsUsed: boolean }; out: string[] };
  CASES.forEach(({ x }, i) => {
    const buf = Buffer.from(res.out[i], 'base64');
    const got = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    const { X, W, bias } = all[i];
    const ref = direct(X, W, bias, true);
    const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expectClose(got, ref, { op: `winograd ${Object.keys(env).join(',')}`, shape: x }, { atol: BOUND * scale, rtol: 0 });
  });
  return res.cpu;
}

test('Winograd: the AVX2 build (BAGOFTRICKS_NO_AVX512=1) matches the direct convolution', () => {
  assert.is(runChild({ BAGOFTRICKS_NO_AVX512: '1' }).avx512KernelsUsed, false);
});

test('Winograd: the plain build (BAGOFTRICKS_NO_AVX2=1) matches the direct convolution', () => {
  assert.is(runChild({ BAGOFTRICKS_NO_AVX2: '1' }).avx2KernelsUsed, false);
});

// An eval Net (batch norms folded) of a narrow ResNet-18-D at 40², built for a batch of 8
// and run on 8 images and on 2: its logits with and without BAGOFTRICKS_NO_WINOGRAD. They
// must differ (the switch changes the algorithm) and agree within the bound. The weights
// are packed for the batch of 8, where layer2's 5x5 maps (4 tiles an image) make 32 tiles
// and take Winograd; the batch of 2 (8 tiles) must still run them that way.
const NET_CHILD = `
const b = require(process.argv[1]);
(async () => {
  const model = b.createModel('resnet18d', { numClasses: 10, width: 0.25, seed: 3, zeroGamma: false });
  const params = model.initialParameters();
  for (const spec of model.parameters()) {
    if (spec.kind !== 'running_var') continue;
    const a = params.get(spec.name);
    for (let i = 0; i < a.length; i++) a[i] = 0.5 + (i % 7) / 7;
  }
  const net = b.Net.fromModel(model, { batchSize: 8, inputSize: 40, training: false });
  net.setParameters(params);
  const x = new Float32Array(8 * 40 * 40 * 3);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
  const y8 = (await net.forward({ data: x, shape: [8, 40, 40, 3] })).data;
  const y2 = (await net.forward({ data: x.subarray(0, 2 * 40 * 40 * 3), shape: [2, 40, 40, 3] })).data;
  process.stdout.write(JSON.stringify({ y8: Array.from(y8), y2: Array.from(y2) }));
})();
`;

test('Winograd: a folded eval Net uses it, within the bound of the GEMM path', () => {
  const run = (env: Record<string, string>) =>
    JSON.parse(execFileSync(process.execPath, ['-e', NET_CHILD, path.join(__dirname, '..', '..')], { env: { ...process.env, ...env } }).toString()) as { y8: number[]; y2: number[] };
  const wino = run({});
  const gemm = run({ BAGOFTRICKS_NO_WINOGRAD: '1' });
  for (const key of ['y8', 'y2'] as const) {
    const err = relErr(Float32Array.from(wino[key]), Float32Array.from(gemm[key]));
    assert.ok(err > 0, `${key}: the switch changes the algorithm (the logits are not bit-identical)`);
    assert.ok(err < 1e-4, `${key}: logits within 1e-4 of the GEMM path's, got ${err}`);
  }
});

test.run();
