/**
 * Mixed-precision training steps of the CUDA Net against the CPU core's, on a small
 * ResNet-D (helpers/cuda.ts): FP16 tensor-core convolutions with activations stored as
 * FP16 (the default) and as FP32 (BAGOFTRICKS_CUDA_F32_STORAGE=1), several steps with the
 * SGD update; several batch sizes in one Net; mixup with soft targets and distillation;
 * raw uint8 batches with the colour pass in the step; a frozen parameter; the FP16
 * overflow skip; eval logits with BN folded. Each case is sized for the PTX simulator
 * (`npm run test:cuda-sim`) and runs on a GPU as well. Nothing is registered without a
 * CUDA device (cuda-net.test.ts covers that state).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, expectCodeAsync } from './helpers/compare';
import { HAVE_CUDA, closeAllRel, closeRel, expectDeviceTest, perturbBatchNorm, tinyResNet } from './helpers/cuda';
import { bot } from './helpers/lib';

const { Net } = bot;
type NetT = InstanceType<typeof Net>;
type Tensor = { data: Float32Array; shape: number[] };

expectDeviceTest(test);

// Tolerances. Both backends round the same tensors to FP16 (activations, weights), at
// places that differ by the FP32 summation order before the rounding, so a value can land
// one FP16 step (2^-11 relative) apart. From identical parameters, one step's loss agrees to
// ~1e-5 relative and its gradients to ~2.5e-3 of each tensor's largest (measured on this
// model); the updated weights differ by lr times that. A wrong index, a lost tile, a stale
// buffer or a missed update gives differences of the order of the values themselves.
const LOSS_REL = 1e-3;
const GRAD_REL = 2e-2;
const WEIGHT_REL = 2e-3;

const rng = new Rng(29);
const randn = (n: number, s = 1) => Float32Array.from({ length: n }, () => rng.normal() * s);
const images = (n: number, size: number): Tensor => ({ data: randn(n * size * size * 3), shape: [n, size, size, 3] });
const SIZE = 8;

function pair(o: { batch: number; lrScale?: Record<string, number>; stem?: 'cifar' | 'imagenet'; f32Storage?: boolean } = { batch: 2 }) {
  const t = tinyResNet({ stem: o.stem ?? 'cifar' });
  const opts = {
    batchSize: o.batch, height: SIZE, width: SIZE, noDecay: t.noDecay, parameters: perturbBatchNorm(t.parameters, 11),
    precision: 'fp16' as const, lrScale: o.lrScale,
  };
  const cpu = new Net(t.graph, { ...opts, backend: 'cpu' });
  if (o.f32Storage) process.env.BAGOFTRICKS_CUDA_F32_STORAGE = '1';
  let gpu: NetT;
  try {
    gpu = new Net(t.graph, { ...opts, backend: 'cuda' });
  } finally {
    delete process.env.BAGOFTRICKS_CUDA_F32_STORAGE;
  }
  assert.is(gpu.backend, 'cuda');
  return { cpu, gpu, names: t.names };
}

function dispose(...nets: NetT[]): void {
  for (const n of nets) n.dispose();
}

function lossClose(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) <= LOSS_REL * Math.max(1, Math.abs(a)), `${what}: loss cpu ${a} cuda ${b}`);
}

if (HAVE_CUDA) {
  for (const f32Storage of [false, true]) {
    const storage = f32Storage ? 'FP32 storage (BAGOFTRICKS_CUDA_F32_STORAGE=1)' : 'FP16 storage';
    test(`3 mixed-precision steps, ${storage}: each step's loss, gradients, update, momentum and BN statistics follow the CPU`, async () => {
      const { cpu, gpu } = pair({ batch: 2, f32Storage });
      for (let s = 0; s < 3; s++) {
        // Each step starts from the CPU's state (weights, running statistics, momentum), so
        // the comparison is of one step — the SGD update from a non-zero momentum included —
        // and not of two trajectories that drift apart as any two roundings would.
        if (s > 0) {
          gpu.setParameters(cpu.getParameters());
          gpu.setMomentum(cpu.getMomentum());
        }
        const batch = { images: images(2, SIZE), labels: Int32Array.from([s, 9 - s]), lr: 0.05, smoothing: 0.1, lossScale: 1024 };
        const [a, b] = [await cpu.trainStep(batch), await gpu.trainStep(batch)];
        assert.ok(a.finite && b.finite, `step ${s} finite`);
        lossClose(a.loss, b.loss, `step ${s}`);
        closeAllRel(gpu.getGradients(), cpu.getGradients(), GRAD_REL, `gradient of step ${s}`);
        closeAllRel(gpu.getParameters(), cpu.getParameters(), WEIGHT_REL, `weights and running statistics after step ${s}`);
        closeAllRel(gpu.getMomentum(), cpu.getMomentum(), GRAD_REL, `momentum after step ${s}`);
      }
      // The update also refreshed the FP16 copies the convolutions read: the same batch gives
      // the same loss before and after the copies are rebuilt from the FP32 weights.
      const probe = { images: images(2, SIZE), labels: Int32Array.from([4, 5]), lr: 0.05, lossScale: 1024 };
      const before = await gpu.forwardBackward(probe);
      gpu.setParameters(gpu.getParameters());
      const after = await gpu.forwardBackward(probe);
      assert.ok(Math.abs(before.loss - after.loss) <= 1e-6 * Math.abs(after.loss), `loss ${before.loss} with the step's FP16 copies, ${after.loss} with rebuilt ones`);
      dispose(cpu, gpu);
    });
  }

  test('several batch sizes in one Net (3, then 2, then 3): forward and backward match the CPU at each', async () => {
    const { cpu, gpu } = pair({ batch: 3 });
    for (const n of [3, 2, 3]) {
      const batch = { images: images(n, SIZE), labels: Int32Array.from({ length: n }, (_, i) => (i * 4 + n) % 10), lr: 0.05, lossScale: 256 };
      const [a, b] = [await cpu.forwardBackward(batch), await gpu.forwardBackward(batch)];
      lossClose(a.loss, b.loss, `batch ${n}`);
      closeAllRel(gpu.getGradients(), cpu.getGradients(), GRAD_REL, `gradient at batch ${n}`);
    }
    dispose(cpu, gpu);
  });

  test('mixup with soft targets and distillation (T = 20): loss and gradients match the CPU', async () => {
    const { cpu, gpu } = pair({ batch: 3 });
    const targets = { data: new Float32Array(30), shape: [3, 10] };
    for (let i = 0; i < 3; i++) {
      targets.data[i * 10 + i] = 0.7;
      targets.data[i * 10 + ((i + 3) % 10)] = 0.3;
    }
    const batch = {
      images: images(3, SIZE), targets, lr: 0.1, lossScale: 512, mixup: { perm: Int32Array.from([2, 0, 1]), lambda: 0.7 },
      teacherLogits: { data: randn(30, 3), shape: [3, 10] }, temperature: 20,
    };
    const [a, b] = [await cpu.forwardBackward(batch), await gpu.forwardBackward(batch)];
    lossClose(a.loss, b.loss, 'mixup + distillation');
    closeAllRel(gpu.getGradients(), cpu.getGradients(), GRAD_REL, 'gradient');
    dispose(cpu, gpu);
  });

  test('raw uint8 images: the colour pass in the step (with mixup) and in eval matches the CPU', async () => {
    const { cpu, gpu } = pair({ batch: 3 });
    const pixels = Uint8Array.from({ length: 3 * SIZE * SIZE * 3 }, (_, i) => (i * 7919) % 256);
    const colour = {
      brightness: Float32Array.from([0.7, 1.3, 1]),
      saturation: Float32Array.from([1.2, 0.8, 1.4]),
      hue: Float32Array.from([0.9, 1.1, 1.3]),
      alpha: randn(9, 0.1),
    };
    const batch = {
      images: { data: pixels, shape: [3, SIZE, SIZE, 3] }, colour, labels: Int32Array.from([0, 1, 2]), lr: 0.1, lossScale: 512,
      mixup: { perm: Int32Array.from([1, 2, 0]), lambda: 0.8 },
    };
    const [a, b] = [await cpu.forwardBackward(batch), await gpu.forwardBackward(batch)];
    lossClose(a.loss, b.loss, 'raw images');
    closeAllRel(gpu.getGradients(), cpu.getGradients(), GRAD_REL, 'gradient');
    const x = { data: pixels, shape: [3, SIZE, SIZE, 3] };
    closeRel((await gpu.forward(x)).data, (await cpu.forward(x)).data, 1e-2, 'raw eval logits');
    dispose(cpu, gpu);
  });

  test('lr scales: a frozen parameter (0) stays bit-identical, a halved one (0.5) moves as on the CPU; bad labels are ERR_ARGUMENT', async () => {
    const t = tinyResNet();
    const frozen = t.names.find((n) => /conv\d?\.weight$|conv1\.0\.weight$/.test(n))!;
    const { cpu, gpu } = pair({ batch: 2, lrScale: { [frozen]: 0, 'fc.weight': 0.5 } });
    const before = gpu.getParameters();
    const batch = { images: images(2, SIZE), labels: Int32Array.from([0, 1]), lr: 0.1, lossScale: 256 };
    await cpu.trainStep(batch);
    await gpu.trainStep(batch);
    const after = gpu.getParameters();
    assert.equal(Array.from(after[frozen].data), Array.from(before[frozen].data), `${frozen} is frozen`);
    assert.ok(after['fc.weight'].data.some((v, i) => v !== before['fc.weight'].data[i]), 'fc.weight moved');
    closeAllRel(after, cpu.getParameters(), WEIGHT_REL, 'weights after the step');
    await expectCodeAsync(() => gpu.trainStep({ images: images(2, SIZE), labels: Int32Array.from([0, 10]), lr: 0.1 }), 'ERR_ARGUMENT');
    dispose(cpu, gpu);
  });

  test('FP16 overflow: a huge loss scale skips the step on CUDA as on the CPU, weights and momentum untouched', async () => {
    const { cpu, gpu } = pair({ batch: 2 });
    const before = gpu.getParameters();
    const momentum = gpu.getMomentum();
    const batch = { images: images(2, SIZE), labels: Int32Array.from([0, 1]), lr: 0.1, lossScale: 2 ** 40 };
    const [a, b] = [await cpu.trainStep(batch), await gpu.trainStep(batch)];
    assert.is(a.finite, false);
    assert.is(b.finite, false);
    // The forward pass ran, so BN's running statistics moved (as in PyTorch); nothing else did.
    const weights = (r: Record<string, Tensor>) => Object.fromEntries(Object.entries(r).filter(([k]) => !/running_(mean|var)$/.test(k)));
    closeAllRel(weights(gpu.getParameters()), weights(before), 0, 'weights after a skipped step');
    closeAllRel(gpu.getMomentum(), momentum, 0, 'momentum after a skipped step');
    closeAllRel(gpu.getParameters(), cpu.getParameters(), WEIGHT_REL, 'running statistics after the skipped step');
    // The next step with a sane scale trains again, on both.
    const ok = { ...batch, lossScale: 256 };
    const [c, d] = [await cpu.trainStep(ok), await gpu.trainStep(ok)];
    assert.ok(c.finite && d.finite);
    lossClose(c.loss, d.loss, 'the step after the skip');
    dispose(cpu, gpu);
  });

  test('FP16 eval-mode logits with BN folded match the CPU, ImageNet stem (max pool) included', async () => {
    for (const stem of ['cifar', 'imagenet'] as const) {
      const { cpu, gpu } = pair({ batch: 2, stem });
      const x = images(2, SIZE);
      closeRel((await gpu.forward(x)).data, (await cpu.forward(x)).data, 1e-2, `${stem} logits`);
      dispose(cpu, gpu);
    }
  });
}

test.run();
