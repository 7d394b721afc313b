import { execFileSync } from 'child_process';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Context, Rng, dot, expectClose, expectCode, expectCodeAsync, gradCheck } from './helpers/compare';
import { bot } from './helpers/lib';
import { ConvGeometry, conv2dForward64, conv2dOutputShape } from './helpers/reference/conv2d';
import { backendTest } from './helpers/backend';

const { ops } = bot;

type Pair = number | [number, number];

/** One convolution: x [N, H, W, C], K output channels, an R×S kernel. */
interface Case {
  name: string;
  x: number[];
  k: number;
  kernel: [number, number];
  stride: Pair;
  padding: Pair;
  groups: number;
}

const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);

function mk(name: string, x: number[], k: number, kernel: Pair, stride: Pair, padding: Pair, groups = 1): Case {
  return { name, x, k, kernel: pair(kernel), stride, padding, groups };
}

// Every fast path, odd sizes and channel counts that are not multiples of 8.
const CASES: Case[] = [
  mk('1x1/1 pad 0: a plain GEMM', [2, 7, 7, 13], 17, 1, 1, 0),
  mk('1x1/2: the ResNet downsample (row gather)', [2, 9, 9, 5], 16, 1, 2, 0),
  mk('1x1/1 padded', [1, 5, 5, 3], 4, 1, 1, 1),
  mk('3x3/1 pad 1', [2, 9, 9, 13], 8, 3, 1, 1),
  mk('3x3/2 pad 1', [1, 13, 13, 17], 5, 3, 2, 1),
  mk('3x3/1 pad 0, H≠W', [3, 7, 9, 3], 5, 3, 1, 0),
  mk('7x7/2 pad 3', [1, 13, 13, 5], 8, 7, 2, 3),
  mk('7x7/1 pad 3', [1, 9, 9, 3], 4, 7, 1, 3),
  mk('5x5 kernel on a 3x3 input, pad 2', [1, 3, 3, 2], 3, 5, 1, 2),
  mk('3x1 kernel, stride [1, 2], pad [1, 0]', [1, 9, 8, 5], 6, [3, 1], [1, 2], [1, 0]),
  mk('im2col in several tiles (M > tile rows)', [4, 13, 13, 16], 8, 3, 1, 1),
  mk('several tiles, N ≥ threads (backward-data by image)', [3, 9, 9, 64], 16, 3, 1, 1),
  mk('several tiles, N = 1 (backward-data serial tiles)', [1, 13, 13, 64], 8, 3, 1, 1),
  mk('depthwise 3x3/1, multiplier 1', [2, 9, 9, 13], 13, 3, 1, 1, 13),
  mk('depthwise 3x3/2, multiplier 2', [1, 13, 13, 5], 10, 3, 2, 1, 5),
  mk('depthwise 7x7 pad 3', [1, 9, 9, 17], 17, 7, 1, 3, 17),
  mk('groups 3 (C=6, K=9)', [2, 7, 7, 6], 9, 3, 1, 1, 3),
  mk('groups 3, one output per group (C=6, K=3)', [1, 7, 7, 6], 3, 3, 2, 1, 3),
  mk('groups 2, 1x1', [1, 5, 5, 8], 4, 1, 1, 0, 2),
];

// ResNet-50's stem at a small batch: 7x7/2 pad 3 on 3 channels to 64.
const STEM = mk('ResNet-50 stem', [2, 32, 32, 3], 64, 7, 2, 3);

function geometry(c: Case): ConvGeometry {
  return { stride: pair(c.stride), padding: pair(c.padding), groups: c.groups };
}

function wShape(c: Case): number[] {
  return [c.k, c.kernel[0], c.kernel[1], c.x[3] / c.groups];
}

function options(c: Case) {
  return { stride: c.stride, padding: c.padding, groups: c.groups };
}

/** Random x, w (scaled by 1/sqrt(fan-in) so y is O(1)) and dy for a case. */
function tensors(c: Case, rng: Rng) {
  const ws = wShape(c);
  const x = rng.tensor(c.x);
  const w = rng.tensor(ws, 1 / Math.sqrt(ws[1] * ws[2] * ws[3]));
  const dy = rng.tensor(conv2dOutputShape(c.x, ws, geometry(c)));
  return { x, w, dy };
}

function ctxOf(c: Case, seed: number, op: string): Context {
  return { op, case: c.name, shape: c.x, k: c.k, kernel: c.kernel, stride: c.stride, padding: c.padding, groups: c.groups, seed };
}

function checkForward(c: Case, seed: number): void {
  const rng = new Rng(seed);
  const { x, w } = tensors(c, rng);
  const want = conv2dForward64(x.data, x.shape, w.data, w.shape, geometry(c));
  const y = ops.conv2d(x, w, options(c));
  assert.equal(y.shape, conv2dOutputShape(c.x, w.shape, geometry(c)), `shape: ${c.name} seed=${seed}`);
  expectClose(y.data, want, ctxOf(c, seed, 'conv2d'));
  expectClose(ops.conv2dReference(x, w, options(c)).data, want, ctxOf(c, seed, 'conv2dReference'), { atol: 1e-6, rtol: 1e-6 });
}

function checkBackward(c: Case, seed: number, samples = 12): void {
  const rng = new Rng(seed);
  const { x, w, dy } = tensors(c, rng);
  const g = geometry(c);
  const dx = ops.conv2dBackwardData(dy, w, { ...options(c), inputShape: c.x });
  assert.equal(dx.shape, c.x);
  expectClose(dx.data, ops.conv2dBackwardDataReference(dy, w, { ...options(c), inputShape: c.x }).data, ctxOf(c, seed, 'conv2dBackwardData vs reference'));
  const fx = (xs: Float64Array) => dot(conv2dForward64(xs, x.shape, w.data, w.shape, g), dy.data);
  gradCheck(fx, x.data, dx.data, { ...ctxOf(c, seed, 'conv2dBackwardData'), rng, samples });

  const dw = ops.conv2dBackwardFilter(x, dy, { ...options(c), weightShape: w.shape });
  assert.equal(dw.shape, w.shape);
  expectClose(dw.data, ops.conv2dBackwardFilterReference(x, dy, { ...options(c), weightShape: w.shape }).data, ctxOf(c, seed, 'conv2dBackwardFilter vs reference'));
  const fw = (ws: Float64Array) => dot(conv2dForward64(x.data, x.shape, ws, w.shape, g), dy.data);
  gradCheck(fw, w.data, dw.data, { ...ctxOf(c, seed, 'conv2dBackwardFilter'), rng, samples });
}

/** A random valid case: any sizes, kernel, stride, padding and groups. */
function randomCase(rng: Rng): Case {
  for (;;) {
    const groups = rng.pick([1, 1, 1, 2, 3, 5]);
    const c = groups * rng.pick([1, 1, 2, 3, 5]);
    const k = groups * rng.int(1, 4);
    const kernel: [number, number] = [rng.int(1, 5), rng.int(1, 5)];
    const stride: [number, number] = [rng.int(1, 3), rng.int(1, 3)];
    const padding: [number, number] = [rng.int(0, 3), rng.int(0, 3)];
    const x = [rng.int(1, 3), rng.int(1, 12), rng.int(1, 12), c];
    if (x[1] + 2 * padding[0] < kernel[0] || x[2] + 2 * padding[1] < kernel[1]) continue;
    return { name: 'random', x, k, kernel, stride, padding, groups };
  }
}

backendTest(test);

test('conv2d of a hand-computed example', () => {
  // y[p,q] = x[p,q] - x[p+1,q+1] on a 3x3 ramp: every output is 1 - 5 = -4.
  const x = { data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), shape: [1, 3, 3, 1] };
  const w = { data: Float32Array.from([1, 0, 0, -1]), shape: [1, 2, 2, 1] };
  const y = ops.conv2d(x, w);
  assert.equal(y.shape, [1, 2, 2, 1]);
  assert.equal(Array.from(y.data), [-4, -4, -4, -4]);
  // Padding 1, stride 2: outputs at input rows/cols -1 and 1.
  const yp = ops.conv2d(x, w, { stride: 2, padding: 1 });
  assert.equal(yp.shape, [1, 2, 2, 1]);
  assert.equal(Array.from(yp.data), [-1, -3, -7, 5 - 9]);
});

test('conv2d forward matches the float64 reference over the case table', () => {
  CASES.forEach((c, i) => checkForward(c, 1000 + i));
});

test('conv2d forward matches the float64 reference on random shapes', () => {
  for (let i = 0; i < 24; i++) {
    const seed = 2000 + i;
    checkForward(randomCase(new Rng(seed)), seed);
  }
});

test('conv2d backward-data and backward-filter match finite differences and the oracles', () => {
  CASES.forEach((c, i) => checkBackward(c, 3000 + i));
});

test('conv2d backward passes on random shapes', () => {
  for (let i = 0; i < 12; i++) {
    const seed = 4000 + i;
    checkBackward(randomCase(new Rng(seed)), seed, 8);
  }
});

test('ResNet-50 stem (2x32x32x3 -> 64, 7x7/2 pad 3): forward and both gradients', () => {
  checkForward(STEM, 5000);
  checkBackward(STEM, 5001, 6);
});

// The pool is sized per process (BAGOFTRICKS_THREADS) rather than with setThreads, so each
// thread count runs in a child: the fast passes and the oracles on the same inputs.
const THREADS_CHILD = `
const { ops, runtime } = require(process.argv[1]);
const calls = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const t = (v) => ({ data: Float32Array.from(v.data), shape: v.shape });
const out = calls.map(({ x, w, dy, opts }) => {
  const [X, W, DY] = [t(x), t(w), t(dy)];
  const od = { ...opts, inputShape: X.shape };
  const of = { ...opts, weightShape: W.shape };
  return [
    ops.conv2d(X, W, opts), ops.conv2dReference(X, W, opts),
    ops.conv2dBackwardData(DY, W, od), ops.conv2dBackwardDataReference(DY, W, od),
    ops.conv2dBackwardFilter(X, DY, of), ops.conv2dBackwardFilterReference(X, DY, of),
  ].map((r) => Array.from(r.data));
});
process.stdout.write(JSON.stringify({ threads: runtime.getThreads(), out }));
`;

test('results do not depend on the thread count', () => {
  const picked = [0, 1, 10, 11, 12, 13, 16];
  for (const threads of [1, 3]) {
    const seed = 6000 + threads;
    const rng = new Rng(seed);
    const calls = picked.map((i) => {
      const { x, w, dy } = tensors(CASES[i], rng);
      const plain = (v: { data: Float32Array; shape: number[] }) => ({ data: Array.from(v.data), shape: v.shape });
      return { x: plain(x), w: plain(w), dy: plain(dy), opts: options(CASES[i]) };
    });
    const stdout = execFileSync(process.execPath, ['-e', THREADS_CHILD, path.join(__dirname, '..', '..')], {
      input: JSON.stringify(calls),
      env: { ...process.env, BAGOFTRICKS_THREADS: String(threads) },
      maxBuffer: 1 << 28,
    });
    const res = JSON.parse(stdout.toString()) as { threads: number; out: number[][][] };
    assert.is(res.threads, threads, 'BAGOFTRICKS_THREADS was not honoured by the child');
    const names = ['conv2d', 'conv2dBackwardData', 'conv2dBackwardFilter'];
    res.out.forEach((r, j) => {
      for (let pass = 0; pass < 3; pass++) {
        expectClose(r[2 * pass], r[2 * pass + 1], { ...ctxOf(CASES[picked[j]], seed, names[pass]), threads });
      }
    });
  }
});

function identical(a: Float32Array, b: Float32Array, ctx: Context): void {
  assert.is(a.length, b.length, `length: ${JSON.stringify(ctx)}`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.unreachable(`${ctx.op}: element ${i} async ${a[i]} vs sync ${b[i]}; ${JSON.stringify(ctx)}`);
  }
}

test('the async versions give results identical to the sync ones', async () => {
  for (const [i, c] of CASES.entries()) {
    if (![0, 1, 11, 13, 14, 16].includes(i)) continue;
    const seed = 7000 + i;
    const { x, w, dy } = tensors(c, new Rng(seed));
    const od = { ...options(c), inputShape: c.x };
    const of = { ...options(c), weightShape: w.shape };
    // Started together: the ops run concurrently on the libuv pool.
    const [y, dx, dw] = await Promise.all([
      ops.conv2dAsync(x, w, options(c)),
      ops.conv2dBackwardDataAsync(dy, w, od),
      ops.conv2dBackwardFilterAsync(x, dy, of),
    ]);
    assert.equal(y.shape, conv2dOutputShape(c.x, w.shape, geometry(c)));
    identical(y.data, ops.conv2d(x, w, options(c)).data, ctxOf(c, seed, 'conv2dAsync'));
    identical(dx.data, ops.conv2dBackwardData(dy, w, od).data, ctxOf(c, seed, 'conv2dBackwardDataAsync'));
    identical(dw.data, ops.conv2dBackwardFilter(x, dy, of).data, ctxOf(c, seed, 'conv2dBackwardFilterAsync'));
  }
});

test('async inputs are copied: mutating them after the call does not change the result', async () => {
  const c = CASES[3];
  const { x, w } = tensors(c, new Rng(7100));
  const want = ops.conv2d(x, w, options(c));
  const pending = ops.conv2dAsync(x, w, options(c));
  x.data.fill(0);
  identical((await pending).data, want.data, ctxOf(c, 7100, 'conv2dAsync'));
});

const MESSAGE = /^Expected .+ for .+ but received .+/;

function expectError(fn: () => unknown, code: string, what: string): void {
  expectCode(fn, code, what);
  try {
    fn();
  } catch (e) {
    assert.match((e as Error).message, MESSAGE, `${what}: message format`);
  }
}

test('conv2d rejects bad input with coded errors', () => {
  const x = { data: new Float32Array(2 * 5 * 5 * 6), shape: [2, 5, 5, 6] };
  const w = { data: new Float32Array(4 * 3 * 3 * 6), shape: [4, 3, 3, 6] };
  const w3 = { data: new Float32Array(4 * 3 * 3 * 3), shape: [4, 3, 3, 3] };
  const dy = { data: new Float32Array(2 * 3 * 3 * 4), shape: [2, 3, 3, 4] };
  // Channel mismatch between x and w.
  expectError(() => ops.conv2d(x, w3), 'ERR_SHAPE', 'channel mismatch');
  expectError(() => ops.conv2d(x, w, { groups: 2 }), 'ERR_SHAPE', 'channels per group');
  // Wrong lengths and kinds.
  expectError(() => ops.conv2d({ data: new Float32Array(5), shape: x.shape }, w), 'ERR_SHAPE', 'x length');
  expectError(() => ops.conv2d(x, { data: w.data, shape: [4, 3, 3] }), 'ERR_SHAPE', 'w rank');
  expectError(() => ops.conv2d({ data: new Float64Array(300) as unknown as Float32Array, shape: x.shape }, w), 'ERR_DTYPE', 'x dtype');
  expectError(() => ops.conv2d(null as unknown as typeof x, w), 'ERR_ARGUMENT', 'x null');
  // Output smaller than 1.
  const w7 = { data: new Float32Array(4 * 7 * 7 * 6), shape: [4, 7, 7, 6] };
  expectError(() => ops.conv2d(x, w7), 'ERR_SHAPE', 'empty output');
  expectError(() => ops.conv2d(x, w7, { padding: [1, 0] }), 'ERR_SHAPE', 'empty output, padded');
  // Groups that do not divide C or K.
  expectError(() => ops.conv2d(x, { data: new Float32Array(4 * 9 * 2), shape: [4, 3, 3, 2] }, { groups: 4 }), 'ERR_SHAPE', 'groups ∤ C');
  expectError(() => ops.conv2d(x, { data: new Float32Array(4 * 9 * 2), shape: [4, 3, 3, 2] }, { groups: 3 }), 'ERR_SHAPE', 'groups ∤ K');
  // Options.
  expectError(() => ops.conv2d(x, w, { stride: 0 }), 'ERR_ARGUMENT', 'stride 0');
  expectError(() => ops.conv2d(x, w, { padding: -1 }), 'ERR_ARGUMENT', 'padding -1');
  expectError(() => ops.conv2d(x, w, { stride: [1, 2, 3] as unknown as [number, number] }), 'ERR_ARGUMENT', 'stride triple');
  expectError(() => ops.conv2d(x, w, { groups: 1.5 }), 'ERR_ARGUMENT', 'groups 1.5');
  expectError(() => ops.conv2d(x, w, { strides: 2 } as unknown as { stride: number }), 'ERR_ARGUMENT', 'unknown key');
  expectError(() => ops.conv2d(x, w, { padding: 2 ** 40 }), 'ERR_ARGUMENT', 'huge padding');
  // Backward passes: dy must have the forward output's shape; the shapes are required.
  expectError(() => ops.conv2dBackwardData(dy, w, { inputShape: [2, 5, 5, 6], padding: 1 }), 'ERR_SHAPE', 'dy shape (data)');
  expectError(() => ops.conv2dBackwardFilter(x, dy, { weightShape: [4, 3, 3, 6], stride: 2 }), 'ERR_SHAPE', 'dy shape (filter)');
  expectError(() => ops.conv2dBackwardData(dy, w, {} as unknown as { inputShape: number[] }), 'ERR_ARGUMENT', 'no inputShape');
  expectError(() => ops.conv2dBackwardFilter(x, dy, {} as unknown as { weightShape: number[] }), 'ERR_ARGUMENT', 'no weightShape');
  expectError(() => ops.conv2dBackwardData(dy, w3, { inputShape: [2, 5, 5, 6] }), 'ERR_SHAPE', 'backward channel mismatch');
  assert.equal(ops.conv2dBackwardData(dy, w, { inputShape: [2, 5, 5, 6] }).shape, [2, 5, 5, 6]);
});

test('async conv2d ops reject with coded errors', async () => {
  const x = { data: new Float32Array(2 * 5 * 5 * 6), shape: [2, 5, 5, 6] };
  const w3 = { data: new Float32Array(4 * 3 * 3 * 3), shape: [4, 3, 3, 3] };
  const dy = { data: new Float32Array(2 * 3 * 3 * 4), shape: [2, 3, 3, 4] };
  await expectCodeAsync(() => ops.conv2dAsync(x, w3), 'ERR_SHAPE', 'conv2dAsync channel mismatch');
  await expectCodeAsync(() => ops.conv2dAsync(x, w3, { groups: 4 }), 'ERR_SHAPE', 'conv2dAsync groups');
  await expectCodeAsync(() => ops.conv2dBackwardDataAsync(dy, w3, { inputShape: [2, 5, 5, 6] }), 'ERR_SHAPE', 'backwardDataAsync');
  await expectCodeAsync(() => ops.conv2dBackwardFilterAsync(x, dy, { weightShape: [4, 3, 3, 6], stride: 0 }), 'ERR_ARGUMENT', 'backwardFilterAsync');
});

test('the native boundary re-checks what JS sends', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const raw = require('../../dist/native').native().ops;
  const x = new Float32Array(2 * 5 * 5 * 6);
  const w = new Float32Array(4 * 3 * 3 * 6);
  const dy = new Float32Array(2 * 3 * 3 * 4);
  const geo = [1, 1, 0, 0, 1];
  for (const name of ['conv2d', 'conv2dAsync', 'conv2dReference']) {
    expectCode(() => raw[name](x, [2, 5, 5, 6], w, [4, 3, 3, 5], ...geo), 'ERR_SHAPE', `${name} channels`);
    expectCode(() => raw[name](x.subarray(1), [2, 5, 5, 6], w, [4, 3, 3, 6], ...geo), 'ERR_SHAPE', `${name} x length`);
    expectCode(() => raw[name](new Float64Array(300), [2, 5, 5, 6], w, [4, 3, 3, 6], ...geo), 'ERR_DTYPE', `${name} x kind`);
    expectCode(() => raw[name](x, [2, 5, 5, 6], w, [4, 3, 3, 6], 1, 1, 0, 0, 4), 'ERR_SHAPE', `${name} groups`);
    expectCode(() => raw[name](x, [2, 5, 5, 6], w, [4, 3, 3, 6], 0, 1, 0, 0, 1), 'ERR_ARGUMENT', `${name} stride`);
    expectCode(() => raw[name](x, [2, 5, 5, 6], w, [4, 9, 3, 6], ...geo), 'ERR_SHAPE', `${name} empty output`);
    expectCode(() => raw[name](x, [2, 5, 5, 6], w, [4, 3, 3, 6], 1, 1, 2 ** 31, 0, 1), 'ERR_ARGUMENT', `${name} pad range`);
  }
  for (const name of ['conv2dBackwardData', 'conv2dBackwardDataAsync', 'conv2dBackwardDataReference']) {
    expectCode(() => raw[name](dy, [2, 3, 3, 4], w, [4, 3, 3, 6], [2, 5, 5, 6], 1, 1, 1, 1, 1), 'ERR_SHAPE', `${name} dy shape`);
    expectCode(() => raw[name](dy.subarray(2), [2, 3, 3, 4], w, [4, 3, 3, 6], [2, 5, 5, 6], ...geo), 'ERR_SHAPE', `${name} dy length`);
  }
  for (const name of ['conv2dBackwardFilter', 'conv2dBackwardFilterAsync', 'conv2dBackwardFilterReference']) {
    expectCode(() => raw[name](x, [2, 5, 5, 6], dy, [2, 3, 3, 5], [4, 3, 3, 6], ...geo), 'ERR_SHAPE', `${name} dy shape`);
    expectCode(() => raw[name](x, [2, 5, 5, 6], dy, [2, 3, 3, 4], [4, 3, 3, 6], 1, 1, 0, 0, -1), 'ERR_ARGUMENT', `${name} groups`);
  }
});

test('the synchronous passes write into a caller-provided out array', async () => {
  const rng = new Rng(31);
  const x = rng.tensor([2, 7, 7, 5]);
  const w = rng.tensor([6, 3, 3, 5]);
  const o = { stride: 2, padding: 1 };
  const y = ops.conv2d(x, w, o);
  const out = new Float32Array(y.data.length).fill(NaN);
  const y2 = ops.conv2d(x, w, { ...o, out });
  assert.ok(y2.data === out, 'the result is the given array');
  assert.equal(Array.from(out), Array.from(y.data));
  const dy = rng.tensor(y.shape);
  const dxOut = new Float32Array(x.data.length).fill(7);
  const dx = ops.conv2dBackwardData(dy, w, { ...o, inputShape: x.shape, out: dxOut });
  assert.ok(dx.data === dxOut);
  assert.equal(Array.from(dxOut), Array.from(ops.conv2dBackwardData(dy, w, { ...o, inputShape: x.shape }).data));
  const dwOut = new Float32Array(w.data.length).fill(-1);
  ops.conv2dBackwardFilter(x, dy, { ...o, weightShape: w.shape, out: dwOut });
  assert.equal(Array.from(dwOut), Array.from(ops.conv2dBackwardFilter(x, dy, { ...o, weightShape: w.shape }).data));
  expectCode(() => ops.conv2d(x, w, { ...o, out: new Float32Array(3) }), 'ERR_SHAPE', 'out of the wrong size');
  expectCode(() => ops.conv2d(x, w, { ...o, out: new Float64Array(y.data.length) as unknown as Float32Array }), 'ERR_DTYPE', 'out of the wrong type');
  await expectCodeAsync(() => ops.conv2dAsync(x, w, { ...o, out }), 'ERR_ARGUMENT', 'out with the async op');
});

test.run();
