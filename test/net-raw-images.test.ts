/**
 * Raw images into the Net: Uint8Array RGB batches whose colour pass (brightness, saturation,
 * hue, lighting, normalisation) runs inside the step on the Net's device. On the CPU the
 * step must equal a step on the same pass's float output (ops.augment), with and without
 * mixup; eval forward normalises; the Trainer fed by a 'uint8' DataLoader trains like one
 * fed by an 'f32' loader; and every misuse has its code.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, expectCode, expectCodeAsync } from './helpers/compare';
import { bot } from './helpers/lib';

const { Net, createModel, ops, data } = bot;
const rng = new Rng(5);
const SIZE = 16;

function model() {
  return createModel('resnet18d', { numClasses: 4, stem: 'cifar', width: 0.25, seed: 2 });
}

function rawBatch(n: number) {
  const pixels = Uint8Array.from({ length: n * SIZE * SIZE * 3 }, () => rng.int(0, 255));
  const colour = {
    brightness: Float32Array.from({ length: n }, () => 0.6 + 0.8 * rng.uniform()),
    saturation: Float32Array.from({ length: n }, () => 0.6 + 0.8 * rng.uniform()),
    hue: Float32Array.from({ length: n }, () => 0.6 + 0.8 * rng.uniform()),
    alpha: Float32Array.from({ length: 3 * n }, () => 0.1 * rng.normal()),
  };
  return { images: { data: pixels, shape: [n, SIZE, SIZE, 3] }, colour };
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
  }
  return worst / Math.max(scale, 1e-30);
}

function sameParameters(a: InstanceType<typeof Net>, b: InstanceType<typeof Net>, rel: number): void {
  const pa = a.getParameters();
  const pb = b.getParameters();
  for (const k of Object.keys(pb)) assert.ok(maxRelDiff(pa[k].data, pb[k].data) <= rel, `${k}: ${maxRelDiff(pa[k].data, pb[k].data)}`);
}

for (const mixup of [false, true]) {
  test(`a raw step equals a step on ops.augment's output${mixup ? ', with mixup' : ''}`, async () => {
    const m = model();
    const [rawNet, floatNet] = [Net.fromModel(m, { batchSize: 6, inputSize: SIZE }), Net.fromModel(m, { batchSize: 6, inputSize: SIZE })];
    const constants = { mean: [120, 110, 100], std: [60, 55, 50] };
    for (let step = 0; step < 3; step++) {
      const { images, colour } = rawBatch(6);
      const floats = ops.augment(images, colour, constants);
      const labels = Int32Array.from([0, 1, 2, 3, 0, 1]);
      const mix = mixup ? { mixup: { perm: Int32Array.from([3, 4, 5, 0, 1, 2]), lambda: 0.6 } } : {};
      const targets = mixup ? { targets: { data: new Float32Array(24).fill(0.25), shape: [6, 4] } } : { labels };
      const a = await rawNet.trainStep({ images, colour, augment: constants, lr: 0.1, ...targets, ...mix });
      const b = await floatNet.trainStep({ images: floats, lr: 0.1, ...targets, ...mix });
      assert.ok(Math.abs(a.loss - b.loss) <= 1e-6 * Math.abs(b.loss), `step ${step}: loss ${a.loss} vs ${b.loss}`);
      assert.is(a.correct, b.correct);
    }
    sameParameters(rawNet, floatNet, 1e-5);
    rawNet.dispose();
    floatNet.dispose();
  });
}

test('eval forward on raw images normalises them (no colour coefficients); FP16 Nets take raw images too', async () => {
  const net = Net.fromModel(model(), { batchSize: 4, inputSize: SIZE });
  const { images } = rawBatch(4);
  const a = await net.forward(images);
  const b = await net.forward(ops.augment(images));
  assert.ok(maxRelDiff(a.data, b.data) <= 1e-6, `${maxRelDiff(a.data, b.data)}`);
  net.dispose();
  const half = Net.fromModel(model(), { batchSize: 4, inputSize: SIZE, precision: 'fp16' });
  const r = await half.trainStep({ ...rawBatch(4), labels: Int32Array.from([0, 1, 2, 3]), lr: 0.1, lossScale: 256 });
  assert.ok(r.finite && Number.isFinite(r.loss));
  half.dispose();
});

test('raw images: misuse is ERR_SHAPE / ERR_ARGUMENT / ERR_DTYPE, and the Net still works after', async () => {
  const net = Net.fromModel(model(), { batchSize: 4, inputSize: SIZE });
  const { images, colour } = rawBatch(4);
  const labels = Int32Array.from([0, 1, 2, 3]);
  expectCode(() => net.trainStep({ images: { data: images.data.subarray(1), shape: images.shape }, labels, lr: 0.1 }), 'ERR_SHAPE', 'short pixels');
  expectCode(() => net.trainStep({ images: { data: images.data, shape: [4, SIZE, SIZE, 1] }, labels, lr: 0.1 }), 'ERR_SHAPE', 'one channel');
  expectCode(() => net.trainStep({ images, colour: { hue: new Float32Array(3) }, labels, lr: 0.1 }), 'ERR_SHAPE', 'short hue');
  expectCode(() => net.trainStep({ images, colour: { gamma: new Float32Array(4) } as never, labels, lr: 0.1 }), 'ERR_ARGUMENT', 'unknown colour key');
  expectCode(() => net.trainStep({ images, augment: { std: [1, 0, 1] }, labels, lr: 0.1 }), 'ERR_ARGUMENT', 'std 0');
  expectCode(() => net.trainStep({ images: ops.augment(images), colour, labels, lr: 0.1 }), 'ERR_ARGUMENT', 'colour with float images');
  await expectCodeAsync(() => net.trainStep({ images, colour: { brightness: new Float32Array(4).fill(NaN) }, labels, lr: 0.1 }), 'ERR_ARGUMENT');
  const ok = await net.trainStep({ images, colour, labels, lr: 0.1 });
  assert.ok(ok.finite);
  net.dispose();
  // A graph with a one-channel input (gray images) takes no raw RGB batches.
  const g = new Net({ ...model().graph(), inputChannels: 1 }, { batchSize: 4, height: SIZE, width: SIZE });
  expectCode(() => g.trainStep({ images, labels, lr: 0.1 }), 'ERR_SHAPE', 'raw images on a 1-channel Net');
  g.dispose();
});

test("the Trainer on a 'uint8' DataLoader trains like one on an 'f32' loader (colour pass in the step)", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-raw-'));
  try {
    for (const [c, cls] of ['red', 'green', 'blue', 'grey'].entries()) {
      fs.mkdirSync(path.join(dir, cls));
      for (let i = 0; i < 6; i++) {
        const px = Buffer.alloc(20 * 20 * 3);
        for (let j = 0; j < px.length; j++) px[j] = (j % 3 === c || c === 3 ? 150 : 40) + ((i * 37 + j * 11) % 60);
        await sharp(px, { raw: { width: 20, height: 20, channels: 3 } }).png().toFile(path.join(dir, cls, `${i}.png`));
      }
    }
    const ds = new data.ImageFolder(dir);
    const results = [];
    for (const output of ['f32', 'uint8'] as const) {
      const trainer = new bot.Trainer(model(), { inputSize: SIZE, overrides: { batchSize: 8, epochs: 2, warmupEpochs: 0, mixupAlpha: 0, precision: 'fp32' }, classes: ds.classes.slice() });
      const loader = new data.DataLoader(ds, { batchSize: 8, seed: 3, size: SIZE, transform: 'train', output, dropLast: true });
      const val = new data.DataLoader(ds, { batchSize: 8, size: SIZE, transform: 'eval', output });
      const fit = await trainer.fit(loader, { epochs: 2, validation: val });
      results.push({ fit, params: trainer.net.getParameters() });
      trainer.dispose();
    }
    const [f, u] = results;
    for (let e = 0; e < 2; e++) {
      assert.ok(Math.abs(f.fit.history[e].loss - u.fit.history[e].loss) <= 1e-4 * Math.abs(f.fit.history[e].loss), `epoch ${e} loss`);
      assert.is(u.fit.history[e].valTop1, f.fit.history[e].valTop1, `epoch ${e} val top-1`);
    }
    for (const k of Object.keys(f.params)) assert.ok(maxRelDiff(u.params[k].data, f.params[k].data) <= 1e-3, k);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
