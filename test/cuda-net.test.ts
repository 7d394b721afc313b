/**
 * The Net on the CUDA backend (`backend: 'cuda'`). Without a usable device: the exact
 * unavailability behaviour of 'cuda' and 'auto'. With one (a GPU or the PTX simulator):
 * FP32 training steps on CUDA against the same steps on the CPU core from the same
 * parameters — forward and backward (loss, every gradient, BN running statistics) with
 * both stems, eval-mode logits with BN folded — `load()` on CUDA, and recoverable
 * out-of-memory. The mixed-precision steps are in cuda-net-mixed.test.ts. On a GPU (not
 * the simulator, where they would take hours): 20-step runs, resnet50d at 224² and CUDA
 * graphs (which the simulator does not support).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, expectCode, expectCodeAsync } from './helpers/compare';
import { SIMULATOR, closeAllRel, closeRel, expectDeviceTest, perturbBatchNorm, tinyResNet } from './helpers/cuda';
import { bot } from './helpers/lib';

const { Net, createModel, runtime } = bot;
type NetT = InstanceType<typeof Net>;
type Tensor = { data: Float32Array; shape: number[] };
const info = runtime.cudaInfo();

expectDeviceTest(test);

function tinyModel(classes = 10) {
  return createModel('resnet18d', { numClasses: classes, stem: 'cifar', width: 0.25, seed: 3 });
}

test('backend option: bad values are ERR_ARGUMENT; cpu is the default; auto picks CUDA only where it is usable', () => {
  const model = tinyModel();
  expectCode(() => Net.fromModel(model, { batchSize: 2, inputSize: 8, backend: 'tpu' as 'cpu' }), 'ERR_ARGUMENT', 'backend tpu');
  const cpu = Net.fromModel(model, { batchSize: 2, inputSize: 8 });
  assert.is(cpu.backend, 'cpu');
  cpu.dispose();
  const auto = Net.fromModel(model, { batchSize: 2, inputSize: 8, backend: 'auto' });
  assert.is(auto.backend, info.available ? 'cuda' : 'cpu');
  auto.dispose();
});

test('load(): a bad backend is ERR_ARGUMENT; cuda without a device is ERR_CUDA_UNAVAILABLE at load time', async () => {
  const model = tinyModel(3);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bot-cuda-net-')), 'w.safetensors');
  const net = Net.fromModel(model, { batchSize: 1, inputSize: 8 });
  await bot.train.writeSafetensors(file, net.getParameters(), {});
  net.dispose();
  await expectCodeAsync(() => bot.load(file, { model: { name: 'resnet18d', stem: 'cifar', width: 0.25 }, backend: 'gpu' as 'cpu' }), 'ERR_ARGUMENT');
  const spec = { name: 'resnet18d' as const, stem: 'cifar' as const, width: 0.25 };
  if (!info.available) {
    await expectCodeAsync(() => bot.load(file, { model: spec, backend: 'cuda' }), 'ERR_CUDA_UNAVAILABLE');
    return;
  }
  const [gpu, cpu] = [await bot.load(file, { model: spec, backend: 'cuda' }), await bot.load(file, { model: spec })];
  const side = SIMULATOR ? 8 : 32; // FP32 inference of the whole resnet18d: ~1 min at 8² on the simulator
  const x = Float32Array.from({ length: 2 * 3 * side * side }, (_, i) => Math.sin(i));
  const [a, b] = [await gpu.forward(x, [2, 3, side, side]), await cpu.forward(x, [2, 3, side, side])];
  const scale = Math.max(...Array.from(b, Math.abs));
  assert.ok(Array.from(a).every((v, i) => Math.abs(v - b[i]) <= 1e-3 * scale), 'CUDA and CPU logits agree');
  gpu.dispose();
  cpu.dispose();
});

if (!info.available) {
  console.log(`  (cuda-net: the GPU-against-CPU step tests need a CUDA device and are not run here: ${info.reason})`);
  test('without a device: backend cuda throws ERR_CUDA_UNAVAILABLE with the reason', () => {
    try {
      Net.fromModel(tinyModel(), { batchSize: 2, inputSize: 8, backend: 'cuda' });
      assert.unreachable('a CUDA Net should not be built');
    } catch (e) {
      const err = e as { code?: string; message: string };
      assert.is(err.code, 'ERR_CUDA_UNAVAILABLE', err.message);
      assert.ok(info.reason.length > 0 && err.message.includes(info.reason), `message "${err.message}" lacks "${info.reason}"`);
    }
  });

  test('without a device: the Trainer with backend cuda fails the same way, and auto trains on the CPU', () => {
    expectCode(() => new bot.Trainer(tinyModel(), { inputSize: 8, backend: 'cuda', overrides: { batchSize: 2 } }), 'ERR_CUDA_UNAVAILABLE');
    const t = new bot.Trainer(tinyModel(), { inputSize: 8, backend: 'auto', overrides: { batchSize: 2 } });
    assert.is(t.net.backend, 'cpu');
    t.dispose();
  });
} else {
  // ---------------------------------------------------------------------------------------
  // With a device: CUDA's steps against the CPU core's.
  //
  // Tolerances: every op of the step sums in another order on the two backends (FP32
  // rounding, 2^-24 relative per operation); through the ~20 layers of a step, with BN
  // dividing by the standard deviation of as few as 2 values in the last stage, that grows
  // to ~1e-4 of the largest gradient (measured: 3.4e-4 at worst). A wrong index, a missed
  // tile or a race gives errors of the order of the values themselves, far above 2e-3.

  const rng = new Rng(17);
  const randn = (n: number, s = 1) => Float32Array.from({ length: n }, () => rng.normal() * s);

  function images(n: number, size: number, c = 3): Tensor {
    return { data: randn(n * size * size * c), shape: [n, size, size, c] };
  }

  function dispose(...nets: NetT[]): void {
    for (const n of nets) n.dispose();
  }

  /** The small ResNet-D compiled twice, CPU and CUDA, from the same (BN-perturbed) parameters. */
  function tinyPair(o: { stem: 'cifar' | 'imagenet'; size: number; batch: number; precision?: 'fp32' | 'fp16' }) {
    const t = tinyResNet({ stem: o.stem });
    const opts = { batchSize: o.batch, height: o.size, width: o.size, noDecay: t.noDecay, parameters: perturbBatchNorm(t.parameters, 5), precision: o.precision };
    const cpu = new Net(t.graph, { ...opts, backend: 'cpu' });
    const gpu = new Net(t.graph, { ...opts, backend: 'cuda' });
    assert.is(gpu.backend, 'cuda');
    return { cpu, gpu };
  }

  for (const [stem, size] of [['cifar', 8], ['imagenet', 16]] as const) {
    test(`FP32 forward + backward, ${stem} stem: loss, every gradient and the BN running statistics match the CPU`, async () => {
      const { cpu, gpu } = tinyPair({ stem, size, batch: 2 });
      const batch = { images: images(2, size), labels: Int32Array.from([3, 9]), smoothing: 0.1, lr: 0.1 };
      const [a, b] = [await cpu.forwardBackward(batch), await gpu.forwardBackward(batch)];
      assert.ok(Math.abs(a.loss - b.loss) <= 1e-4 * Math.abs(a.loss), `loss cpu ${a.loss} cuda ${b.loss}`);
      assert.is(b.correct, a.correct);
      assert.ok(b.finite);
      closeAllRel(gpu.getGradients(), cpu.getGradients(), 2e-3, 'gradient');
      closeAllRel(gpu.getParameters(), cpu.getParameters(), 1e-4, 'parameter (running statistics)');
      dispose(cpu, gpu);
    });
  }

  test('FP32 eval-mode logits match the CPU (BN folded into the conv: a bias + ReLU epilogue on CUDA)', async () => {
    const { cpu, gpu } = tinyPair({ stem: 'cifar', size: 8, batch: 3 });
    const x = images(3, 8);
    closeRel((await gpu.forward(x)).data, (await cpu.forward(x)).data, 1e-3, 'logits');
    dispose(cpu, gpu);
  });

  test('out of memory is ERR_CUDA_OOM and recoverable: a smaller Net trains after it', async () => {
    if (SIMULATOR) {
      // The simulator's device memory is 2 GiB and it fails only a single allocation above
      // that; its heap also breaks past 1 GiB of allocations in one process (addresses above
      // 4 GiB: see README), so the Net must fail on its first large buffer: the input of a
      // 2^20-image batch of 16² images, 3 GiB, right after the small parameter buffers.
      const t = tinyResNet();
      expectCode(() => new Net(t.graph, { batchSize: 1 << 20, height: 16, width: 16, noDecay: t.noDecay, parameters: t.parameters, backend: 'cuda' }), 'ERR_CUDA_OOM', 'huge batch');
    } else {
      // resnet50d holds over 100 MB of activations and gradients per 224² image: 2600 images
      // (under the core's 2^31 elements per buffer) need far more than any GPU has.
      const model = createModel('resnet50d', { numClasses: 1000, seed: 0 });
      expectCode(() => Net.fromModel(model, { batchSize: 2600, inputSize: 224, backend: 'cuda' }), 'ERR_CUDA_OOM', 'huge batch');
    }
    const { cpu, gpu } = tinyPair({ stem: 'cifar', size: 8, batch: 2 });
    const batch = { images: images(2, 8), labels: Int32Array.from([0, 1]), lr: 0.1, lossScale: 1 };
    const [a, b] = [await cpu.trainStep(batch), await gpu.trainStep(batch)];
    assert.ok(b.finite && Number.isFinite(b.loss), `loss ${b.loss}`);
    assert.ok(Math.abs(a.loss - b.loss) <= 1e-4 * Math.abs(a.loss), `loss cpu ${a.loss} cuda ${b.loss}`);
    assert.is(b.correct, a.correct);
    closeAllRel(gpu.getParameters(), cpu.getParameters(), 1e-4, 'weights after the step');
    dispose(cpu, gpu);
  });

  if (!SIMULATOR) {
    /** The same model compiled twice, CPU and CUDA, from the same initial parameters. */
    function pair(o: { size: number; batch: number; precision?: 'fp32' | 'fp16'; model?: ReturnType<typeof createModel>; lrScale?: Record<string, number> }) {
      const model = o.model ?? tinyModel();
      const opts = { batchSize: o.batch, inputSize: o.size, precision: o.precision, lrScale: o.lrScale };
      const cpu = Net.fromModel(model, { ...opts, backend: 'cpu' });
      const gpu = Net.fromModel(model, { ...opts, backend: 'cuda' });
      assert.is(gpu.backend, 'cuda');
      return { cpu, gpu, model };
    }

    for (const precision of ['fp32', 'fp16'] as const) {
      test(`20 ${precision} training steps: the losses follow the CPU's, and so do weights and momentum`, async () => {
        const { cpu, gpu } = pair({ size: 16, batch: 8, precision });
        const lossScale = precision === 'fp16' ? 1024 : 1;
        const data = Array.from({ length: 4 }, () => ({ images: images(8, 16), labels: Int32Array.from({ length: 8 }, () => rng.int(0, 9)) }));
        const tol = precision === 'fp32' ? 2e-3 : 3e-2;
        for (let s = 0; s < 20; s++) {
          const batch = { ...data[s % 4], lr: 0.05, smoothing: 0.1, lossScale };
          const [a, b] = [await cpu.trainStep(batch), await gpu.trainStep(batch)];
          assert.is(b.finite, a.finite, `step ${s} finite`);
          assert.ok(Math.abs(a.loss - b.loss) <= tol * Math.max(1, Math.abs(a.loss)), `step ${s}: loss cpu ${a.loss} cuda ${b.loss}`);
        }
        closeAllRel(gpu.getParameters(), cpu.getParameters(), precision === 'fp32' ? 1e-2 : 5e-2, 'weights after 20 steps');
        closeAllRel(gpu.getMomentum(), cpu.getMomentum(), precision === 'fp32' ? 5e-2 : 2e-1, 'momentum after 20 steps');
        dispose(cpu, gpu);
      });
    }

    test('resnet50d at 224² (the real layer shapes): one FP16 step matches the CPU', async () => {
      const model = createModel('resnet50d', { numClasses: 100, seed: 1 });
      const { cpu, gpu } = pair({ size: 224, batch: 2, precision: 'fp16', model });
      const batch = { images: images(2, 224), labels: Int32Array.from([7, 42]), lr: 0.1, lossScale: 256 };
      const [a, b] = [await cpu.forwardBackward(batch), await gpu.forwardBackward(batch)];
      assert.ok(a.finite && b.finite);
      assert.ok(Math.abs(a.loss - b.loss) <= 2e-2 * Math.abs(a.loss), `loss cpu ${a.loss} cuda ${b.loss}`);
      closeAllRel(gpu.getGradients(), cpu.getGradients(), 5e-2, 'gradient');
      dispose(cpu, gpu);
    });

    test('CUDA graphs (BAGOFTRICKS_CUDA_GRAPHS=1): recorded and replayed steps train like eager ones, across batch sizes', async () => {
      const model = tinyModel();
      const make = (graphs: boolean) => {
        if (graphs) process.env.BAGOFTRICKS_CUDA_GRAPHS = '1';
        try {
          return Net.fromModel(model, { batchSize: 8, inputSize: 16, precision: 'fp16', backend: 'cuda' });
        } finally {
          delete process.env.BAGOFTRICKS_CUDA_GRAPHS;
        }
      };
      const [eager, graphed] = [make(false), make(true)];
      const data = Array.from({ length: 3 }, () => ({ images: images(8, 16), labels: Int32Array.from({ length: 8 }, () => rng.int(0, 9)) }));
      // Batch sizes 8, 8, 8 (eager, recorded, replayed), then 5 (a new recording), then 8 again.
      for (const [s, n] of [8, 8, 8, 5, 5, 5, 8, 8].entries()) {
        const d = data[s % 3];
        const batch = { images: { data: d.images.data.subarray(0, n * 16 * 16 * 3), shape: [n, 16, 16, 3] }, labels: d.labels.subarray(0, n), lr: 0.05, lossScale: 512 };
        const [a, b] = [await eager.trainStep(batch), await graphed.trainStep(batch)];
        assert.ok(Math.abs(a.loss - b.loss) <= 1e-2 * Math.max(1, Math.abs(a.loss)), `step ${s} (n ${n}): eager ${a.loss} graphs ${b.loss}`);
      }
      const x = images(8, 16);
      for (let i = 0; i < 3; i++) closeRel((await graphed.forward(x)).data, (await eager.forward(x)).data, 1e-2, `eval forward ${i}`);
      closeAllRel(graphed.getParameters(), eager.getParameters(), 1e-2, 'weights');
      dispose(eager, graphed);
    });
  }
}

test.run();
