/**
 * The 3×3 depthwise convolution kernels (groups = C = K, padding 1, strides 1 or 2: native/
 * cpu/conv2d_depthwise_*.cpp): forward, backward-data and backward-filter against the
 * float64 reference and the native oracles, on odd sizes, both strides and their mixes,
 * channel counts that are not multiples of 8 or 16 (the masked last block); the plain loops
 * (BAGOFTRICKS_NO_AVX2=1) and the AVX2 kernels (BAGOFTRICKS_NO_AVX512=1) in child processes;
 * and inside a Net, the fused bias + ReLU of the eval forward and the accumulating
 * backward-data of an activation read by two convolutions.
 */
import { execFileSync } from 'child_process';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Context, Rng, dot, expectClose, gradCheck } from './helpers/compare';
import { composedEval, composedStep } from './helpers/graph';
import { bot } from './helpers/lib';
import { conv2dForward64 } from './helpers/reference/conv2d';
import type { GraphDesc, ParameterSpec } from '../lib/models';

const { ops } = bot;

/** A depthwise 3×3, padding 1: x [N, H, W, C], stride [sh, sw]. */
interface Case {
  name: string;
  x: [number, number, number, number];
  stride: [number, number];
}

const mk = (name: string, x: Case['x'], stride: number | [number, number]): Case => ({ name, x, stride: typeof stride === 'number' ? [stride, stride] : stride });

// Sizes around the kernels' steps (4 or 8 pixels in a row's interior, 2 or 4 for the
// filter pass) and channel blocks (8 or 16 lanes), tiny images where every pixel is an edge.
const CASES: Case[] = [
  mk('1 channel, 1×1 image', [1, 1, 1, 1], 1),
  mk('1 channel, 1×1 image, stride 2', [2, 1, 1, 1], 2),
  mk('3 channels, 2×2', [1, 2, 2, 3], 1),
  mk('C 8 (one AVX2 block), 9×9', [2, 9, 9, 8], 1),
  mk('C 13, 7×11', [1, 7, 11, 13], 1),
  mk('C 16 (one AVX-512 block), 10×10, stride 2', [1, 10, 10, 16], 2),
  mk('C 17, 13×13, stride 2', [2, 13, 13, 17], 2),
  mk('C 24 (AVX-512: one full block and a half), 12×9', [1, 12, 9, 24], 1),
  mk('C 33, 19×17, stride 2', [1, 19, 17, 33], 2),
  mk('C 40, 8×8, stride [1, 2]', [2, 8, 8, 40], [1, 2]),
  mk('C 5, 9×14, stride [2, 1]', [3, 9, 14, 5], [2, 1]),
  mk('C 32, 28×28 (a MobileNet 0.25 layer at 28²)', [1, 28, 28, 32], 1),
  mk('C 64, 16×16, stride 2', [2, 16, 16, 64], 2),
  mk('C 3, 3×17 (rows shorter than a step)', [2, 3, 17, 3], 1),
  mk('C 11, 17×3, stride 2', [1, 17, 3, 11], 2),
];

const geometry = (c: Case) => ({ stride: c.stride, padding: [1, 1] as [number, number], groups: c.x[3] });
const options = (c: Case) => ({ stride: c.stride, padding: 1, groups: c.x[3] });
const outShape = (c: Case) => {
  const [n, h, w, ch] = c.x;
  return [n, Math.floor((h - 1) / c.stride[0]) + 1, Math.floor((w - 1) / c.stride[1]) + 1, ch];
};
const ctxOf = (c: Case, seed: number, op: string): Context => ({ op, case: c.name, shape: c.x, stride: c.stride, seed });

function tensors(c: Case, rng: Rng) {
  const w = rng.tensor([c.x[3], 3, 3, 1], 1 / 3);
  return { x: rng.tensor(c.x), w, dy: rng.tensor(outShape(c)) };
}

function check(c: Case, seed: number, gradSamples = 0): void {
  const rng = new Rng(seed);
  const { x, w, dy } = tensors(c, rng);
  const g = geometry(c);
  const y = ops.conv2d(x, w, options(c));
  assert.equal(y.shape, outShape(c), `shape: ${c.name}`);
  expectClose(y.data, conv2dForward64(x.data, x.shape, w.data, w.shape, g), ctxOf(c, seed, 'depthwise forward'));
  expectClose(y.data, ops.conv2dReference(x, w, options(c)).data, ctxOf(c, seed, 'depthwise forward vs native oracle'));

  const od = { ...options(c), inputShape: c.x };
  const dx = ops.conv2dBackwardData(dy, w, od);
  expectClose(dx.data, ops.conv2dBackwardDataReference(dy, w, od).data, ctxOf(c, seed, 'depthwise backward-data'));
  const of = { ...options(c), weightShape: w.shape };
  const dw = ops.conv2dBackwardFilter(x, dy, of);
  // dw sums N·P·Q products per tap: the tolerance grows with the count.
  const terms = outShape(c).slice(0, 3).reduce((a, b) => a * b, 1);
  expectClose(dw.data, ops.conv2dBackwardFilterReference(x, dy, of).data, ctxOf(c, seed, 'depthwise backward-filter'), { atol: 1e-5 * Math.sqrt(terms) + 1e-5, rtol: 1e-4 });
  if (gradSamples > 0) {
    gradCheck((xs) => dot(conv2dForward64(xs, x.shape, w.data, w.shape, g), dy.data), x.data, dx.data, { ...ctxOf(c, seed, 'depthwise backward-data'), rng, samples: gradSamples });
    gradCheck((ws) => dot(conv2dForward64(x.data, x.shape, ws, w.shape, g), dy.data), w.data, dw.data, { ...ctxOf(c, seed, 'depthwise backward-filter'), rng, samples: gradSamples });
  }
}

test('depthwise 3×3: the three passes match the float64 reference and the native oracles over the case table', () => {
  CASES.forEach((c, i) => check(c, 100 + i, i % 3 === 0 ? 6 : 0));
});

test('depthwise 3×3 on random shapes, strides and channel counts', () => {
  for (let i = 0; i < 30; i++) {
    const rng = new Rng(500 + i);
    const c = mk('random', [rng.int(1, 3), rng.int(1, 21), rng.int(1, 21), rng.int(1, 50)], [rng.int(1, 2), rng.int(1, 2)]);
    check(c, 600 + i);
  }
});

// A child process with its own environment (the kernels are chosen once per process):
// every case of the table through the three passes, the results as base64 float32.
const CHILD = `
const b = require(process.argv[1]);
const dec = (s) => { const buf = Buffer.from(s, 'base64'); return new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4); };
const enc = (t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64');
const jobs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = jobs.map(({ x, w, dy, opts }) => {
  const X = { data: dec(x.data), shape: x.shape }, W = { data: dec(w.data), shape: w.shape }, DY = { data: dec(dy.data), shape: dy.shape };
  return [
    b.ops.conv2d(X, W, opts),
    b.ops.conv2dBackwardData(DY, W, { ...opts, inputShape: X.shape }),
    b.ops.conv2dBackwardFilter(X, DY, { ...opts, weightShape: W.shape }),
  ].map(enc);
});
process.stdout.write(JSON.stringify({ cpu: b.runtime.cpuFeatures(), out }));
`;

function runChild(env: Record<string, string>, seed: number) {
  const enc = (t: { data: Float32Array; shape: number[] }) => ({ data: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64'), shape: t.shape });
  const inputs = CASES.map((c, i) => tensors(c, new Rng(seed + i)));
  const jobs = CASES.map((c, i) => ({ x: enc(inputs[i].x), w: enc(inputs[i].w), dy: enc(inputs[i].dy), opts: options(c) }));
  const stdout = execFileSync(process.execPath, ['-e', CHILD, path.join(__dirname, '..', '..')], {
    input: JSON.stringify(jobs), env: { ...process.env, ...env }, maxBuffer: 1 << 28,
  });
  const res = JSON.parse(stdout.toString()) as { cpu: { avx2KernelsUsed: boolean; avx512KernelsUsed: boolean }; out: string[][] };
  const dec = (s: string) => {
    const buf = Buffer.from(s, 'base64');
    return new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  };
  CASES.forEach((c, i) => {
    const { x, w, dy } = inputs[i];
    const [y, dx, dw] = res.out[i].map(dec);
    const what = Object.keys(env).join(',');
    expectClose(y, ops.conv2dReference(x, w, options(c)).data, { ...ctxOf(c, seed + i, `forward, ${what}`) });
    expectClose(dx, ops.conv2dBackwardDataReference(dy, w, { ...options(c), inputShape: c.x }).data, ctxOf(c, seed + i, `backward-data, ${what}`));
    const terms = outShape(c).slice(0, 3).reduce((a, b) => a * b, 1);
    expectClose(dw, ops.conv2dBackwardFilterReference(x, dy, { ...options(c), weightShape: w.shape }).data, ctxOf(c, seed + i, `backward-filter, ${what}`), { atol: 1e-5 * Math.sqrt(terms) + 1e-5, rtol: 1e-4 });
  });
  return res.cpu;
}

test('the plain loops (BAGOFTRICKS_NO_AVX2=1) match the oracles', () => {
  const cpu = runChild({ BAGOFTRICKS_NO_AVX2: '1' }, 800);
  assert.is(cpu.avx2KernelsUsed, false, 'the child ran without the AVX2 kernels');
});

test('the AVX2 kernels (BAGOFTRICKS_NO_AVX512=1) match the oracles', () => {
  const cpu = runChild({ BAGOFTRICKS_NO_AVX512: '1' }, 900);
  assert.is(cpu.avx512KernelsUsed, false);
});

test('the passes do not depend on the thread count', () => {
  const c = CASES[8];
  const { x, w, dy } = tensors(c, new Rng(77));
  const threads = bot.runtime.getThreads();
  try {
    const run = () => [
      ops.conv2d(x, w, options(c)).data,
      ops.conv2dBackwardData(dy, w, { ...options(c), inputShape: c.x }).data,
    ];
    bot.runtime.setThreads(1);
    const one = run();
    bot.runtime.setThreads(3);
    const three = run();
    // Rows are split between threads, each row computed the same way: bit-identical.
    assert.equal(Array.from(three[0]), Array.from(one[0]), 'forward');
    assert.equal(Array.from(three[1]), Array.from(one[1]), 'backward-data');
    const dw = ops.conv2dBackwardFilter(x, dy, { ...options(c), weightShape: w.shape });
    expectClose(dw.data, ops.conv2dBackwardFilterReference(x, dy, { ...options(c), weightShape: w.shape }).data, ctxOf(c, 77, 'backward-filter, 3 threads'));
  } finally {
    bot.runtime.setThreads(threads);
  }
});

test('in a Net: the eval forward (BN folded: bias and ReLU in the kernel) equals the composed ops', async () => {
  const model = bot.createModel('mobilenetv1_025', { numClasses: 5, stem: 'cifar', seed: 9 });
  const net = bot.Net.fromModel(model, { batchSize: 3, inputSize: 13 });
  const rng = new Rng(91);
  const images = rng.tensor([3, 13, 13, 3]);
  const labels = Int32Array.from([0, 4, 2]);
  for (let i = 0; i < 3; i++) await net.trainStep({ images, labels, lr: 0.05 }); // running statistics move
  const params = net.getParameters();
  const logits = await net.forward(images);
  expectClose(logits.data, composedEval(model.graph(), params, images).data, { op: 'mobilenet eval forward', seed: 91 }, { atol: 1e-4, rtol: 1e-3 });
  net.dispose();
});

test('in a Net: an activation read by two depthwise convs gets both gradients (backward-data accumulates)', async () => {
  // stem (3×3 conv, BN, ReLU) → dw3x3/1 and dw3x3/2 of the same activation → each BN, ReLU,
  // pooled → added → classifier. The second consumer's dx is added to the first's.
  const C = 12;
  const specs: ParameterSpec[] = [];
  const p = (name: string, shape: number[], kind: ParameterSpec['kind']) => {
    specs.push({ name, shape, kind, trainable: kind !== 'running_mean' && kind !== 'running_var', decay: kind === 'weight' });
    return name;
  };
  const bn = (name: string, input: string, c: number) => ({
    op: 'batchnorm' as const, name, inputs: [input] as [string], eps: 1e-5, momentum: 0.1,
    weight: p(`${name}.weight`, [c], 'gamma'), bias: p(`${name}.bias`, [c], 'beta'),
    runningMean: p(`${name}.running_mean`, [c], 'running_mean'), runningVar: p(`${name}.running_var`, [c], 'running_var'),
  });
  const conv = (name: string, input: string, out: number, cin: number, stride: number, groups: number) => ({
    op: 'conv2d' as const, name, inputs: [input] as [string], outChannels: out, kernel: [3, 3] as [number, number],
    stride: [stride, stride] as [number, number], padding: [1, 1] as [number, number], groups, weight: p(`${name}.weight`, [out, cin / groups, 3, 3], 'weight'),
  });
  const graph: GraphDesc = {
    inputChannels: 3,
    nodes: [
      conv('stem', 'input', C, 3, 1, 1), bn('stem_bn', 'stem', C), { op: 'relu', name: 'stem_act', inputs: ['stem_bn'] },
      conv('dw_a', 'stem_act', C, C, 1, C), bn('bn_a', 'dw_a', C), { op: 'relu', name: 'act_a', inputs: ['bn_a'] },
      conv('dw_b', 'stem_act', C, C, 2, C), bn('bn_b', 'dw_b', C), { op: 'relu', name: 'act_b', inputs: ['bn_b'] },
      { op: 'globalavgpool', name: 'pool_a', inputs: ['act_a'] },
      { op: 'globalavgpool', name: 'pool_b', inputs: ['act_b'] },
      { op: 'add', name: 'sum', inputs: ['pool_a', 'pool_b'] },
      { op: 'linear', name: 'fc', inputs: ['sum'], outFeatures: 4, weight: p('fc.weight', [4, C], 'weight'), bias: p('fc.bias', [4], 'bias') },
    ],
    output: 'fc',
  };
  const net = new bot.Net(graph, { batchSize: 2, height: 11, width: 11 });
  const rng = new Rng(93);
  const init: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const data = s.kind === 'running_var' || s.kind === 'gamma' ? new Float32Array(n).fill(1) : s.kind === 'running_mean' || s.kind === 'beta' || s.kind === 'bias' ? new Float32Array(n) : rng.array(n, 0.3);
    init[s.name] = { data, shape: s.shape };
  }
  net.setParameters(init);
  const images = rng.tensor([2, 11, 11, 3]);
  const labels = Int32Array.from([1, 3]);
  const r = await net.forwardBackward({ images, labels, smoothing: 0, lr: 0 });
  const ref = composedStep(graph, net.getParameters(), images, labels, 0);
  expectClose([r.loss], [ref.loss], { op: 'branching loss', seed: 93 }, { atol: 1e-5, rtol: 1e-5 });
  const grads = net.getGradients();
  for (const name of ['stem.weight', 'dw_a.weight', 'dw_b.weight', 'stem_bn.weight']) {
    const scale = ref.grads[name].reduce((m, v) => Math.max(m, Math.abs(v)), 1e-6);
    expectClose(grads[name].data, ref.grads[name], { op: `dL/d${name}`, seed: 93 }, { atol: 2e-4 * scale, rtol: 2e-3 });
  }
  net.dispose();
});

test.run();
