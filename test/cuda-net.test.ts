/**
 * The Net on the CUDA backend (`backend: 'cuda'`). Without a usable device: the exact
 * unavailability behaviour of 'cuda' and 'auto'. With one: whole training steps on the GPU
 * against the same steps on the CPU core, from the same parameters: forward and backward
 * (loss, every gradient, BN running statistics), eval-mode logits, 20 FP32 and 20 mixed
 * precision steps, mixup with soft targets and distillation, raw uint8 images (the colour
 * pass in the step), a frozen parameter, the FP16
 * overflow skip, resnet50d at 224², and recoverable out-of-memory.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, expectCode, expectCodeAsync } from './helpers/compare';
import { bot } from './helpers/lib';

const { Net, createModel, runtime } = bot;
type NetT = InstanceType<typeof Net>;
type Tensor = { data: Float32Array; shape: number[] };
const info = runtime.cudaInfo();

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
  const spec = { name: 'resnet18d', stem: 'cifar' as const, width: 0.25 };
  if (!info.available) {
    await expectCodeAsync(() => bot.load(file, { model: spec, backend: 'cuda' }), 'ERR_CUDA_UNAVAILABLE');
    return;
  }
  const [gpu, cpu] = [await bot.load(file, { model: spec, backend: 'cuda' }), await bot.load(file, { model: spec })];
  const x = Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i));
  const [a, b] = [await gpu.forward(x, [2, 3, 32, 32]), await cpu.forward(x, [2, 3, 32, 32])];
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
  // With a device: the GPU's steps against the CPU core's.

  const rng = new Rng(17);
  const randn = (n: number, s = 1) => Float32Array.from({ length: n }, () => rng.normal() * s);

  /** The same model compiled twice, CPU and CUDA, from the same initial parameters. */
  function pair(o: { size: number; batch: number; precision?: 'fp32' | 'fp16'; model?: ReturnType<typeof createModel>; lrScale?: Record<string, number> }) {
    const model = o.model ?? tinyModel();
    const opts = { batchSize: o.batch, inputSize: o.size, precision: o.precision, lrScale: o.lrScale };
    const cpu = Net.fromModel(model, { ...opts, backend: 'cpu' });
    const gpu = Net.fromModel(model, { ...opts, backend: 'cuda' });
    assert.is(gpu.backend, 'cuda');
    return { cpu, gpu, model };
  }

  function images(n: number, size: number, c = 3): Tensor {
    return { data: randn(n * size * size * c), shape: [n, size, size, c] };
  }

  /** max |a − b| ≤ rel · max |b| (+ a floor for all-zero tensors). */
  function close(a: Float32Array, b: Float32Array, rel: number, what: string): void {
    assert.is(a.length, b.length, `${what}: length`);
    let scale = 0;
    let worst = 0;
    for (let i = 0; i < b.length; i++) {
      scale = Math.max(scale, Math.abs(b[i]));
      const d = Math.abs(a[i] - b[i]);
      worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
    }
    assert.ok(worst <= rel * scale + 1e-7, `${what}: max difference ${worst} > ${rel} × max |cpu| ${scale}`);
  }

  function closeAll(a: Record<string, Tensor>, b: Record<string, Tensor>, rel: number, what: string): void {
    assert.equal(Object.keys(a).sort(), Object.keys(b).sort(), `${what}: names`);
    for (const k of Object.keys(b)) close(a[k].data, b[k].data, rel, `${what} ${k}`);
  }

  function dispose(...nets: NetT[]): void {
    for (const n of nets) n.dispose();
  }

  test('FP32 forward + backward: loss, every gradient and the BN running statistics match the CPU', async () => {
    const { cpu, gpu } = pair({ size: 16, batch: 6 });
    const batch = { images: images(6, 16), labels: Int32Array.from([0, 1, 2, 3, 4, 9]), smoothing: 0.1, lr: 0.1 };
    const [a, b] = [await cpu.forwardBackward(batch), await gpu.forwardBackward(batch)];
    assert.ok(Math.abs(a.loss - b.loss) <= 1e-4 * Math.abs(a.loss), `loss cpu ${a.loss} cuda ${b.loss}`);
    assert.is(b.correct, a.correct);
    assert.ok(b.finite);
    closeAll(gpu.getGradients(), cpu.getGradients(), 2e-3, 'gradient');
    closeAll(gpu.getParameters(), cpu.getParameters(), 1e-4, 'parameter (running statistics)');
    dispose(cpu, gpu);
  });

  test('eval-mode logits match the CPU (BN folded into the conv on both: packed weights there, a bias epilogue here)', async () => {
    const { cpu, gpu } = pair({ size: 16, batch: 5 });
    const batch = { images: images(5, 16), labels: Int32Array.from([1, 2, 3, 4, 5]), lr: 0.05 };
    await cpu.trainStep(batch);
    await gpu.trainStep(batch);
    const x = images(5, 16);
    close((await gpu.forward(x)).data, (await cpu.forward(x)).data, 1e-3, 'logits');
    dispose(cpu, gpu);
  });

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
      closeAll(gpu.getParameters(), cpu.getParameters(), precision === 'fp32' ? 1e-2 : 5e-2, 'weights after 20 steps');
      closeAll(gpu.getMomentum(), cpu.getMomentum(), precision === 'fp32' ? 5e-2 : 2e-1, 'momentum after 20 steps');
      dispose(cpu, gpu);
    });
  }

  test('mixup with soft targets and distillation: one step matches the CPU', async () => {
    const { cpu, gpu } = pair({ size: 16, batch: 6 });
    const targets = { data: new Float32Array(60), shape: [6, 10] };
    for (let i = 0; i < 6; i++) {
      targets.data[i * 10 + i] = 0.7;
      targets.data[i * 10 + ((i + 3) % 10)] = 0.3;
    }
    const batch = {
      images: images(6, 16), targets, lr: 0.1, mixup: { perm: Int32Array.from([5, 4, 3, 2, 1, 0]), lambda: 0.7 },
      teacherLogits: { data: randn(60, 3), shape: [6, 10] }, temperature: 20,
    };
    const [a, b] = [await cpu.forwardBackward(batch), await gpu.forwardBackward(batch)];
    assert.ok(Math.abs(a.loss - b.loss) <= 1e-4 * Math.abs(a.loss), `loss cpu ${a.loss} cuda ${b.loss}`);
    closeAll(gpu.getGradients(), cpu.getGradients(), 2e-3, 'gradient');
    dispose(cpu, gpu);
  });

  test('raw uint8 images: the colour pass in the step (with mixup) matches the CPU', async () => {
    const { cpu, gpu } = pair({ size: 16, batch: 6 });
    const pixels = Uint8Array.from({ length: 6 * 16 * 16 * 3 }, (_, i) => (i * 7919) % 256);
    const colour = {
      brightness: Float32Array.from([0.7, 1.3, 1, 0.9, 1.1, 0.6]),
      saturation: Float32Array.from([1.2, 0.8, 1, 1.4, 0.6, 1]),
      hue: Float32Array.from([0.9, 1.1, 1, 1.3, 0.7, 1]),
      alpha: randn(18, 0.1),
    };
    const batch = {
      images: { data: pixels, shape: [6, 16, 16, 3] }, colour, labels: Int32Array.from([0, 1, 2, 3, 4, 5]), lr: 0.1,
      mixup: { perm: Int32Array.from([1, 0, 3, 2, 5, 4]), lambda: 0.8 },
    };
    const [a, b] = [await cpu.forwardBackward(batch), await gpu.forwardBackward(batch)];
    assert.ok(Math.abs(a.loss - b.loss) <= 1e-4 * Math.abs(a.loss), `loss cpu ${a.loss} cuda ${b.loss}`);
    closeAll(gpu.getGradients(), cpu.getGradients(), 2e-3, 'gradient');
    const x = { data: pixels, shape: [6, 16, 16, 3] };
    close((await gpu.forward(x)).data, (await cpu.forward(x)).data, 1e-3, 'raw eval logits');
    dispose(cpu, gpu);
  });

  test('a frozen parameter (lrScale 0) stays bit-identical on the GPU; bad labels are ERR_ARGUMENT', async () => {
    const model = tinyModel();
    const frozen = model.parameters().find((p) => p.trainable && p.shape.length === 4)!.name;
    const { cpu, gpu } = pair({ size: 16, batch: 4, model, lrScale: { [frozen]: 0 } });
    const before = gpu.getParameters()[frozen].data.slice();
    await gpu.trainStep({ images: images(4, 16), labels: Int32Array.from([0, 1, 2, 3]), lr: 0.1 });
    assert.equal(Array.from(gpu.getParameters()[frozen].data), Array.from(before));
    await expectCodeAsync(() => gpu.trainStep({ images: images(4, 16), labels: Int32Array.from([0, 1, 2, 10]), lr: 0.1 }), 'ERR_ARGUMENT');
    dispose(cpu, gpu);
  });

  test('FP16 overflow: a huge loss scale skips the step on the GPU as on the CPU, weights untouched', async () => {
    const { cpu, gpu } = pair({ size: 16, batch: 4, precision: 'fp16' });
    const before = gpu.getParameters();
    const batch = { images: images(4, 16, 3), labels: Int32Array.from([0, 1, 2, 3]), lr: 0.1, lossScale: 2 ** 40 };
    const [a, b] = [await cpu.trainStep(batch), await gpu.trainStep(batch)];
    assert.is(a.finite, false);
    assert.is(b.finite, false);
    closeAll(gpu.getParameters(), before, 0, 'weights after a skipped step');
    dispose(cpu, gpu);
  });

  test('resnet50d at 224² (the real layer shapes): one FP16 step matches the CPU', async () => {
    const model = createModel('resnet50d', { numClasses: 100, seed: 1 });
    const { cpu, gpu } = pair({ size: 224, batch: 2, precision: 'fp16', model });
    const batch = { images: images(2, 224), labels: Int32Array.from([7, 42]), lr: 0.1, lossScale: 256 };
    const [a, b] = [await cpu.forwardBackward(batch), await gpu.forwardBackward(batch)];
    assert.ok(a.finite && b.finite);
    assert.ok(Math.abs(a.loss - b.loss) <= 2e-2 * Math.abs(a.loss), `loss cpu ${a.loss} cuda ${b.loss}`);
    closeAll(gpu.getGradients(), cpu.getGradients(), 5e-2, 'gradient');
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
    for (let i = 0; i < 3; i++) close((await graphed.forward(x)).data, (await eager.forward(x)).data, 1e-2, `eval forward ${i}`);
    closeAll(graphed.getParameters(), eager.getParameters(), 1e-2, 'weights');
    dispose(eager, graphed);
  });

  test('mixed precision stores activations as FP16 (BAGOFTRICKS_CUDA_F32_STORAGE=1 keeps FP32): less memory, the same training', async () => {
    const model = tinyModel();
    process.env.BAGOFTRICKS_CUDA_F32_STORAGE = '1';
    let wide: NetT;
    try {
      wide = Net.fromModel(model, { batchSize: 8, inputSize: 16, precision: 'fp16', backend: 'cuda' });
    } finally {
      delete process.env.BAGOFTRICKS_CUDA_F32_STORAGE;
    }
    const narrow = Net.fromModel(model, { batchSize: 8, inputSize: 16, precision: 'fp16', backend: 'cuda' });
    assert.ok(narrow.memoryBytes() < wide.memoryBytes(), `FP16 storage ${narrow.memoryBytes()} B, FP32 storage ${wide.memoryBytes()} B`);
    for (let s = 0; s < 5; s++) {
      const batch = { images: images(8, 16), labels: Int32Array.from({ length: 8 }, () => rng.int(0, 9)), lr: 0.05, lossScale: 256 };
      const [a, b] = [await wide.trainStep(batch), await narrow.trainStep(batch)];
      assert.ok(Math.abs(a.loss - b.loss) <= 2e-2 * Math.max(1, Math.abs(a.loss)), `step ${s}: FP32 storage ${a.loss}, FP16 storage ${b.loss}`);
    }
    closeAll(narrow.getParameters(), wide.getParameters(), 5e-2, 'weights');
    dispose(wide, narrow);
  });

  test('out of memory is ERR_CUDA_OOM and recoverable: a smaller Net trains after it', async () => {
    const model = createModel('resnet50d', { numClasses: 1000, seed: 0 });
    // resnet50d holds over 100 MB of activations and gradients per 224² image: 2600 images
    // (under the core's 2^31 elements per buffer) need far more than any GPU has.
    expectCode(() => Net.fromModel(model, { batchSize: 2600, inputSize: 224, backend: 'cuda' }), 'ERR_CUDA_OOM', 'huge batch');
    const small = Net.fromModel(tinyModel(), { batchSize: 2, inputSize: 16, backend: 'cuda' });
    const r = await small.trainStep({ images: images(2, 16), labels: Int32Array.from([0, 1]), lr: 0.1 });
    assert.ok(r.finite && Number.isFinite(r.loss));
    small.dispose();
  });
}

test.run();
