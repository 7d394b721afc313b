/**
 * The CUDA backend. Without a usable device (a CPU-only build, no driver, no GPU): the
 * exact unavailability behaviour. With one (a GPU, or the PTX simulator of `npm run
 * test:cuda-sim`): every CUDA op but the convolutions (cuda-conv.test.ts) against the CPU
 * core — batch norm, pools, cross-entropy, SGD, linear, element-wise, conversion — the
 * lib's conv on CUDA and the async variants, bad arguments, and recoverable out-of-memory.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, expectClose, expectCode, expectCodeAsync } from './helpers/compare';
import { backendTest, tolerance } from './helpers/backend';
import { expectDeviceTest } from './helpers/cuda';
import { bot } from './helpers/lib';

const { ops, runtime } = bot;
// eslint-disable-next-line @typescript-eslint/no-var-requires
const addon = require(path.join(__dirname, '..', '..', 'dist', 'native')).native();
const info = runtime.cudaInfo();

backendTest(test);
expectDeviceTest(test);

/** Runs fn with the single ops on `backend`, restoring the backend in use after. */
function on<T>(backend: 'cpu' | 'cuda', fn: () => T): T {
  const before = runtime.getBackend();
  runtime.setBackend(backend);
  try {
    return fn();
  } finally {
    runtime.setBackend(before);
  }
}

const f = (n: number, v = 0.5) => new Float32Array(n).fill(v);
const X = [1, 4, 4, 2];
const W = [3, 3, 3, 2];
const conv = [1, 1, 1, 1, 1];
const pool = [2, 2, 2, 2, 0, 0];

/** One valid call of every cuda* export (the same arguments as the CPU export). */
const CUDA_CALLS: Record<string, unknown[]> = {
  cudaConv2d: [f(32), X, f(54), W, ...conv],
  cudaConv2dAsync: [f(32), X, f(54), W, ...conv],
  cudaConv2dBackwardData: [f(48), [1, 4, 4, 3], f(54), W, X, ...conv],
  cudaConv2dBackwardDataAsync: [f(48), [1, 4, 4, 3], f(54), W, X, ...conv],
  cudaConv2dBackwardFilter: [f(32), X, f(48), [1, 4, 4, 3], W, ...conv],
  cudaConv2dBackwardFilterAsync: [f(32), X, f(48), [1, 4, 4, 3], W, ...conv],
  cudaBatchNormTrain: [f(32).map((_, i) => i), X, f(2, 1), f(2, 0), f(2, 0), f(2, 1), 1e-5, 0.1],
  cudaBatchNormInfer: [f(32), X, f(2, 1), f(2, 0), f(2, 0), f(2, 1), 1e-5],
  cudaBatchNormBackward: [f(32).map((_, i) => i), f(32), X, f(2, 1), f(2, 0), f(2, 1), true],
  cudaMaxPool2d: [f(32), X, ...pool, false],
  cudaMaxPool2dBackward: [f(32), f(8), X, ...pool, false],
  cudaAvgPool2d: [f(32), X, ...pool, true, false],
  cudaAvgPool2dBackward: [f(8), X, ...pool, true, false],
  cudaGlobalAvgPool: [f(32), X],
  cudaGlobalAvgPoolBackward: [f(2), X],
  cudaRelu: [f(32), X],
  cudaReluBackward: [f(32), f(32), X],
  cudaAdd: [f(32), f(32), X],
  cudaLinear: [f(6), [2, 3], f(12), [4, 3], f(4)],
  cudaLinearAsync: [f(6), [2, 3], f(12), [4, 3], f(4)],
  cudaLinearBackward: [f(6), [2, 3], f(12), [4, 3], f(8)],
  cudaCrossEntropyHard: [f(6), [2, 3], new Int32Array([0, 2]), 0.1],
  cudaCrossEntropySoft: [f(6), [2, 3], f(6, 1 / 3)],
  cudaSgdStep: [f(4), f(4), f(4), 0.1, 0.9, 1e-4, true, 1],
  cudaSgdStepMulti: [[f(4)], [f(4)], [f(4)], f(1, 1e-4), 0.1, 0.9, true, 1, null, true],
  cudaToFloat16: [f(4)],
  cudaFromFloat16: [new Uint16Array(4)],
};

test('every cuda* export has a call in this table', () => {
  const exported = Object.keys(addon.ops).filter((k) => k.startsWith('cuda')).sort();
  assert.equal(exported, Object.keys(CUDA_CALLS).sort());
});

test('setBackend rejects anything but cpu and cuda with ERR_ARGUMENT', () => {
  expectCode(() => runtime.setBackend('gpu' as never), 'ERR_ARGUMENT', "setBackend('gpu')");
  expectCode(() => runtime.setBackend(undefined as never), 'ERR_ARGUMENT', 'setBackend()');
});

if (!info.available) {
  test('without a device: setBackend(cuda) throws ERR_CUDA_UNAVAILABLE with the reason and changes nothing', () => {
    const before = runtime.getBackend();
    assert.is(before, 'cpu');
    try {
      runtime.setBackend('cuda');
      assert.unreachable('setBackend(cuda) should throw');
    } catch (e) {
      const err = e as { code?: string; message: string };
      assert.instance(e, bot.BagOfTricksError);
      assert.is(err.code, 'ERR_CUDA_UNAVAILABLE');
      assert.ok(info.reason.length > 0 && err.message.includes(info.reason), `message "${err.message}" lacks "${info.reason}"`);
    }
    assert.is(runtime.getBackend(), before);
  });

  test('without a device: every cuda* export throws ERR_CUDA_UNAVAILABLE with the reason', async () => {
    for (const [name, args] of Object.entries(CUDA_CALLS)) {
      try {
        await addon.ops[name](...args);
        assert.unreachable(`${name} should throw`);
      } catch (e) {
        const err = e as { code?: string; message: string };
        assert.is(err.code, 'ERR_CUDA_UNAVAILABLE', `${name}: ${err.message}`);
        assert.ok(err.message.includes(info.reason), `${name}: message "${err.message}" lacks the reason`);
      }
    }
    expectCode(() => addon.runtime.cudaAllocate(1024), 'ERR_CUDA_UNAVAILABLE', 'cudaAllocate');
  });

  test('without a device: bad arguments still give the CPU path errors, and the CPU ops work after', () => {
    // Validation runs before the device is touched: same codes as the CPU exports.
    expectCode(() => addon.ops.cudaRelu(new Float32Array(3), [4]), 'ERR_SHAPE', 'cudaRelu length');
    expectCode(() => addon.ops.cudaConv2d(f(32), X, f(54), W, 1, 1, 1, 1, 1, undefined, 'f64'), 'ERR_ARGUMENT', 'precision');
    const y = ops.relu({ data: Float32Array.from([-1, 2]), shape: [2] });
    assert.equal(Array.from(y.data), [0, 2]);
    assert.is(runtime.getBackend(), 'cpu');
  });
} else {
  // ---------------------------------------------------------------------------------------
  // With a device: GPU against the CPU core.

  test('conv2d through the lib on cuda, async variants, grouped convolutions falling back to the CPU', async () => {
    const rng = new Rng(77);
    const x = rng.tensor([2, 8, 8, 6]);
    const w = rng.tensor([4, 3, 3, 6], 0.2);
    const cpu = on('cpu', () => ops.conv2d(x, w, { padding: 1 }));
    const gpu = on('cuda', () => ops.conv2d(x, w, { padding: 1 }));
    expectClose(gpu.data, cpu.data, { op: 'conv2d lib cuda' }, tolerance('f32', 'cuda'));
    const saved = runtime.getBackend();
    runtime.setBackend('cuda');
    try {
      const ga = await ops.conv2dAsync(x, w, { padding: 1 });
      expectClose(ga.data, cpu.data, { op: 'conv2dAsync cuda' }, tolerance('f32', 'cuda'));
      const wg = rng.tensor([6, 3, 3, 2], 0.2);
      const grouped = ops.conv2d(x, wg, { padding: 1, groups: 3 });
      const groupedCpu = on('cpu', () => ops.conv2d(x, wg, { padding: 1, groups: 3 }));
      assert.equal(Array.from(grouped.data), Array.from(groupedCpu.data), 'grouped conv runs on the CPU');
      await expectCodeAsync(() => ops.conv2dAsync({ data: f(3), shape: [1, 1, 1, 3] }, w), 'ERR_SHAPE', 'same validation');
    } finally {
      runtime.setBackend(saved);
    }
  });

  test('batch norm training, inference and backward against the CPU', () => {
    // m = 140 (3 chunks of 64 rows), 3 (one), 198; C = 136 (two blocks of 128 channels in the
    // finalize kernels); m = 40000 (the 512-chunk cap, 79 rows each).
    for (const [i, shape] of [[4, 5, 7, 20], [3, 3], [2, 9, 11, 64], [2, 3, 5, 136], [4, 100, 100, 2]].entries()) {
      const rng = new Rng(300 + i);
      const c = shape[shape.length - 1];
      const x = rng.tensor(shape, 2);
      for (let j = 0; j < x.data.length; j++) x.data[j] += 3;
      const dy = rng.tensor(shape);
      const params = () => ({ gamma: rng.array(c), beta: rng.array(c), runningMean: rng.array(c), runningVar: rng.array(c).map((v) => 1 + Math.abs(v)) });
      const base = params();
      const copy = () => ({ gamma: base.gamma.slice(), beta: base.beta.slice(), runningMean: base.runningMean.slice(), runningVar: base.runningVar.slice() });
      for (const training of [true, false]) {
        const pc = copy();
        const pg = copy();
        const rc = on('cpu', () => ops.batchNorm(x, { ...pc, training }));
        const rg = on('cuda', () => ops.batchNorm(x, { ...pg, training }));
        const ctx = { op: 'batchNorm', shape, training, seed: 300 + i };
        const tol = tolerance('f32', 'cuda');
        expectClose(rg.y.data, rc.y.data, ctx, tol);
        expectClose(rg.saveMean, rc.saveMean, ctx, tol);
        expectClose(rg.saveInvstd, rc.saveInvstd, ctx, tol);
        expectClose(pg.runningMean, pc.runningMean, ctx, tol);
        expectClose(pg.runningVar, pc.runningVar, ctx, tol);
        const bo = { gamma: base.gamma, saveMean: rc.saveMean, saveInvstd: rc.saveInvstd, training };
        const gc = on('cpu', () => ops.batchNormBackward(x, dy, bo));
        const gg = on('cuda', () => ops.batchNormBackward(x, dy, bo));
        const m = x.data.length / c;
        expectClose(gg.dx.data, gc.dx.data, { ...ctx, op: 'batchNormBackward dx' }, tol);
        expectClose(gg.dbeta, gc.dbeta, { ...ctx, op: 'batchNormBackward dbeta' }, { atol: tol.atol * Math.sqrt(m), rtol: tol.rtol });
        expectClose(gg.dgamma, gc.dgamma, { ...ctx, op: 'batchNormBackward dgamma' }, { atol: tol.atol * Math.sqrt(m), rtol: tol.rtol });
      }
    }
  });

  test('max, average and global pooling and their gradients against the CPU', () => {
    const rng = new Rng(41);
    const x = rng.tensor([2, 9, 7, 5]);
    const both = <T>(fn: () => T): [T, T] => [on('cpu', fn), on('cuda', fn)];
    const tol = tolerance('f32', 'cuda');
    const maxO = { kernel: 3, stride: 2, padding: 1 };
    const [mc, mg] = both(() => ops.maxPool2d(x, maxO));
    assert.equal(mg.shape, mc.shape);
    assert.equal(Array.from(mg.data), Array.from(mc.data), 'max pooling is exact');
    const dym = rng.tensor(mc.shape);
    const [mbc, mbg] = both(() => ops.maxPool2dBackward(x, dym, maxO));
    assert.equal(Array.from(mbg.data), Array.from(mbc.data), 'max pooling backward is exact');
    // Ceil mode: the last window starts inside the input and hangs over its end.
    const maxCeil = { kernel: 2, stride: 2, padding: 0, ceilMode: true };
    const [mcc, mcg] = both(() => ops.maxPool2d(x, maxCeil));
    assert.equal(mcg.shape, [2, 5, 4, 5]);
    assert.equal(mcg.shape, mcc.shape);
    assert.equal(Array.from(mcg.data), Array.from(mcc.data), 'max pooling in ceil mode is exact');
    const dymc = rng.tensor(mcc.shape);
    const [mcbc, mcbg] = both(() => ops.maxPool2dBackward(x, dymc, maxCeil));
    assert.equal(Array.from(mcbg.data), Array.from(mcbc.data), 'max pooling backward in ceil mode is exact');
    // Averages of at most 9 values: a few roundings apart, ~1e-7 relative; tol is 1e-5.
    for (const avgO of [
      { kernel: 2, stride: 2, ceilMode: true, countIncludePad: false },
      { kernel: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: true },
      { kernel: 3, stride: 1, padding: 1, ceilMode: false, countIncludePad: false },
    ]) {
      const [ac, ag] = both(() => ops.avgPool2d(x, avgO));
      assert.equal(ag.shape, ac.shape);
      expectClose(ag.data, ac.data, { op: 'avgPool2d', ...avgO }, tol);
      const dya = rng.tensor(ac.shape);
      const [abc, abg] = both(() => ops.avgPool2dBackward(dya, { ...avgO, inputShape: x.shape }));
      expectClose(abg.data, abc.data, { op: 'avgPool2dBackward', ...avgO }, tol);
    }
    const [gc, gg] = both(() => ops.globalAvgPool(x));
    expectClose(gg.data, gc.data, { op: 'globalAvgPool' }, tol);
    const dyg = rng.tensor(gc.shape);
    const [gbc, gbg] = both(() => ops.globalAvgPoolBackward(dyg, x.shape));
    expectClose(gbg.data, gbc.data, { op: 'globalAvgPoolBackward' }, tol);
  });

  test('softmax cross-entropy (label smoothing, soft targets), linear, relu, add, FP16 conversion against the CPU', async () => {
    const rng = new Rng(55);
    const tol = tolerance('f32', 'cuda');
    const both = <T>(fn: () => T): [T, T] => [on('cpu', fn), on('cuda', fn)];
    const logits = rng.tensor([7, 1000], 3);
    const labels = Int32Array.from({ length: 7 }, (_, i) => (i * 137) % 1000);
    const [hc, hg] = both(() => ops.softmaxCrossEntropy(logits, { labels, smoothing: 0.1 }));
    assert.ok(Math.abs(hg.loss - hc.loss) <= 1e-6 * Math.abs(hc.loss) + 1e-9, `loss ${hg.loss} vs ${hc.loss}`);
    expectClose(hg.grad.data, hc.grad.data, { op: 'crossEntropyHard grad' }, { atol: 1e-7, rtol: 1e-5 });
    const t = rng.array(7 * 1000).map(Math.abs);
    for (let r = 0; r < 7; r++) {
      let s = 0;
      for (let k = 0; k < 1000; k++) s += t[r * 1000 + k];
      for (let k = 0; k < 1000; k++) t[r * 1000 + k] /= s;
    }
    const [sc, sg] = both(() => ops.softmaxCrossEntropy(logits, { targets: { data: t, shape: [7, 1000] } }));
    assert.ok(Math.abs(sg.loss - sc.loss) <= 1e-6 * Math.abs(sc.loss) + 1e-9, `soft loss ${sg.loss} vs ${sc.loss}`);
    expectClose(sg.grad.data, sc.grad.data, { op: 'crossEntropySoft grad' }, { atol: 1e-7, rtol: 1e-5 });

    const x = rng.tensor([13, 70]);
    const w = rng.tensor([11, 70], 0.1);
    const b = rng.tensor([11]);
    const [lc, lg] = both(() => ops.linear(x, w, b));
    expectClose(lg.data, lc.data, { op: 'linear' }, tol);
    const dy = rng.tensor([13, 11]);
    const [bc, bg] = both(() => ops.linearBackward(x, w, dy));
    expectClose(bg.dx.data, bc.dx.data, { op: 'linearBackward dx' }, tol);
    expectClose(bg.dw.data, bc.dw.data, { op: 'linearBackward dw' }, tol);
    expectClose(bg.db.data, bc.db.data, { op: 'linearBackward db' }, tol);
    const saved = runtime.getBackend();
    runtime.setBackend('cuda');
    try {
      const la = await ops.linearAsync(x, w, b);
      expectClose(la.data, lc.data, { op: 'linearAsync' }, tol);
    } finally {
      runtime.setBackend(saved);
    }

    const a = rng.tensor([3, 5, 7]);
    const a2 = rng.tensor([3, 5, 7]);
    const [rc, rg] = both(() => ops.relu(a));
    assert.equal(Array.from(rg.data), Array.from(rc.data));
    const [rbc, rbg] = both(() => ops.reluBackward(rc, a2));
    assert.equal(Array.from(rbg.data), Array.from(rbc.data));
    const [ac, ag] = both(() => ops.add(a, a2));
    assert.equal(Array.from(ag.data), Array.from(ac.data));
    const probe = Float32Array.from([0, -0, 1, 65504, 65520, 1e-8, 6e-8, NaN, Infinity, -Infinity, 0.1, -3.14159]);
    const [hc16, hg16] = both(() => ops.toFloat16(probe));
    assert.equal(Array.from(hg16), Array.from(hc16));
    const halves = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const [fc, fg] = both(() => ops.fromFloat16(halves));
    for (let i = 0; i < 65536; i++) assert.ok(Object.is(fg[i], fc[i]) || (Number.isNaN(fg[i]) && Number.isNaN(fc[i])), `half 0x${i.toString(16)}`);
  });

  test('SGD: the single-tensor step matches the CPU bit for bit; the multi-tensor launch (decay per tensor, unscale, FP16 copy, inf/NaN skip)', () => {
    const rng = new Rng(66);
    for (const cfg of [{ lr: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: true, gradScale: 1 / 1024 }, { lr: 0.05, momentum: 0, weightDecay: 0, nesterov: false, gradScale: 1 }]) {
      const w = rng.array(5001);
      const g = rng.array(5001);
      const buf = rng.array(5001, 0.1);
      const [wc, bc] = [w.slice(), buf.slice()];
      on('cpu', () => ops.sgdStep(wc, g, bc, cfg));
      on('cuda', () => ops.sgdStep(w, g, buf, cfg));
      assert.equal(Array.from(w), Array.from(wc), `weights ${JSON.stringify(cfg)}`);
      assert.equal(Array.from(buf), Array.from(bc), `momentum ${JSON.stringify(cfg)}`);
    }
    const sizes = [1, 4096, 9000];
    const decays = Float32Array.from([0, 1e-4, 5e-4]);
    const ws = sizes.map((n) => rng.array(n));
    const gs = sizes.map((n) => rng.array(n, 100));
    const bufs = sizes.map((n) => rng.array(n, 0.1));
    const halves = sizes.map((n, i) => (i === 1 ? null : new Uint16Array(n)));
    const expectW = ws.map((w) => w.slice());
    const expectB = bufs.map((b) => b.slice());
    on('cpu', () => sizes.forEach((_, i) => ops.sgdStep(expectW[i], gs[i], expectB[i], { lr: 0.1, momentum: 0.9, weightDecay: decays[i], nesterov: true, gradScale: 1 / 256 })));
    const found = addon.ops.cudaSgdStepMulti(ws, gs, bufs, decays, 0.1, 0.9, true, 1 / 256, halves, true);
    assert.is(found, false);
    sizes.forEach((_, i) => {
      assert.equal(Array.from(ws[i]), Array.from(expectW[i]), `multi weights ${i}`);
      assert.equal(Array.from(bufs[i]), Array.from(expectB[i]), `multi momentum ${i}`);
      const h = halves[i];
      if (h) assert.equal(Array.from(h), Array.from(on('cpu', () => ops.toFloat16(expectW[i]))), `FP16 copy ${i}`);
    });
    // A non-finite gradient anywhere: reported, and nothing changes.
    gs[2][8999] = Infinity;
    const before = ws.map((w) => w.slice());
    assert.is(addon.ops.cudaSgdStepMulti(ws, gs, bufs, decays, 0.1, 0.9, true, 1 / 256, null, true), true);
    sizes.forEach((_, i) => assert.equal(Array.from(ws[i]), Array.from(before[i]), `skipped step leaves tensor ${i}`));
  });

  test('with a device: bad arguments are refused with their codes before any kernel runs, and the device works after', () => {
    expectCode(() => addon.ops.cudaRelu(new Float32Array(3), [4]), 'ERR_SHAPE', 'cudaRelu length');
    expectCode(() => addon.ops.cudaConv2d(f(32), X, f(54), W, ...conv, undefined, 'f64'), 'ERR_ARGUMENT', 'precision f64');
    expectCode(() => addon.ops.cudaConv2d(f(32), X, f(54), W, ...conv, undefined, 'f16', 'winograd'), 'ERR_ARGUMENT', 'algorithm');
    expectCode(() => addon.ops.cudaConv2d(f(32), X, f(54), [3, 3, 3, 3], ...conv), 'ERR_SHAPE', 'weight channels 3 for input channels 2');
    expectCode(() => addon.ops.cudaConv2d(f(32), X, f(36), [4, 3, 3, 1], 1, 1, 1, 1, 2), 'ERR_ARGUMENT', 'groups 2 on CUDA');
    expectCode(() => addon.ops.cudaConv2d(f(32), X, f(54 * 9), [3, 9, 9, 2], 1, 1, 0, 0, 1), 'ERR_SHAPE', '9x9 kernel on a 4x4 input');
    expectCode(() => addon.ops.cudaLinear(f(6), [2, 3], f(12), [4, 2], f(4)), 'ERR_SHAPE', 'linear in-features');
    expectCode(() => addon.ops.cudaCrossEntropyHard(f(6), [2, 3], new Int32Array([0, 3]), 0.1), 'ERR_ARGUMENT', 'label 3 of 3 classes');
    expectCode(() => addon.ops.cudaBatchNormTrain(f(32), X, f(3, 1), f(2, 0), f(2, 0), f(2, 1), 1e-5, 0.1), 'ERR_SHAPE', 'gamma of 3 for 2 channels');
    expectCode(() => addon.ops.cudaSgdStepMulti([f(4)], [f(3)], [f(4)], f(1, 1e-4), 0.1, 0.9, true, 1, null, true), 'ERR_SHAPE', 'gradient of 3 for a weight of 4');
    expectCode(() => addon.ops.cudaFromFloat16(new Float32Array(4)), 'ERR_DTYPE', 'fromFloat16 of a Float32Array');
    const y = on('cuda', () => ops.relu({ data: Float32Array.from([-1, 2, -3, 4]), shape: [4] }));
    assert.equal(Array.from(y.data), [0, 2, 0, 4]);
  });

  if (info.simulator) {
    test('doctor says when CUDA is the simulator, in text and JSON', () => {
      const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
      const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
      const json = spawnSync(process.execPath, [cli, 'doctor', '--json'], { encoding: 'utf8', env });
      assert.is(json.status, 0, json.stderr);
      // The simulator prints lines of its own around the report's one line.
      const line = json.stdout.split('\n').find((l) => l.startsWith('{"bagoftricks"'));
      assert.ok(line, `no report in: ${json.stdout.slice(-500)}`);
      const report = JSON.parse(line!);
      assert.is(report.cuda.simulator, true);
      assert.is(report.backend, 'cuda');
      assert.match(report.backendReason, /PTX simulator/);
      const text = spawnSync(process.execPath, [cli, 'doctor'], { encoding: 'utf8', env });
      assert.is(text.status, 0, text.stderr);
      assert.match(text.stdout, /simulator build \(BAGOFTRICKS_CUDA_SIM\)/);
    });
  }

  test('out of memory is ERR_CUDA_OOM and recoverable: a small op works after it in the same process', () => {
    const total = info.devices[0].totalMemory;
    expectCode(() => addon.runtime.cudaAllocate(total * 4), 'ERR_CUDA_OOM', 'allocating 4x the device memory');
    addon.runtime.cudaAllocate(1 << 20);
    const y = on('cuda', () => ops.relu({ data: Float32Array.from([-1, 2, -3, 4]), shape: [4] }));
    assert.equal(Array.from(y.data), [0, 2, 0, 4]);
  });
}

test.run();
