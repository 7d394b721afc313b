/**
 * load(): our checkpoints and timm/torchvision-layout state dicts, NCHW forward against the
 * Net on NHWC input, predict() on paths, encoded bytes and raw pixels, and every error a
 * wrong file or argument gives (missing, unexpected and mis-shaped keys listed).
 */
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, expectCodeAsync } from './helpers/compare';
import { rmDir, tmpDir, writeJpeg } from './helpers/data-images';
import { bot } from './helpers/lib';
import type { ModelName } from '../lib/models';

const { Net, createModel, load, train } = bot;
const dir = tmpDir('bot-load-');

/** Every tensor of `model` random (BN statistics too, variances positive), PyTorch layout. */
function randomWeights(model: ReturnType<typeof createModel>, seed: number): Record<string, { data: Float32Array; shape: number[] }> {
  const rng = new Rng(seed);
  const out: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const p of model.parameters()) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const fanIn = p.shape.length > 1 ? n / p.shape[0] : 1;
    for (let i = 0; i < n; i++) {
      const u = 2 * rng.uniform() - 1;
      data[i] = p.kind === 'running_var' ? 0.5 + Math.abs(u) : p.kind === 'gamma' ? 1 + 0.3 * u : p.kind === 'weight' ? (1.5 * u) / Math.sqrt(fanIn) : 0.1 * u;
    }
    out[p.name] = { data, shape: p.shape.slice() };
  }
  return out;
}

function nchwToNhwc(x: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) y[(i * h * w + p) * c + ch] = x[(i * c + ch) * h * w + p];
  return y;
}

async function netLogits(model: ReturnType<typeof createModel>, weights: Record<string, { data: Float32Array; shape: number[] }>, nchw: Float32Array, shape: number[]): Promise<Float32Array> {
  const [n, c, h, w] = shape;
  const net = new Net(model.graph(), { batchSize: n, height: h, width: w });
  net.setParameters(weights);
  const out = await net.forward({ data: nchwToNhwc(nchw, n, c, h, w), shape: [n, h, w, c] });
  net.dispose();
  return out.data as Float32Array;
}

test('a timm-layout state dict (module. prefix, num_batches_tracked, F16) loads and its NCHW forward equals the Net', async () => {
  const model = createModel('resnet18d', { numClasses: 5, width: 0.25 });
  const weights = randomWeights(model, 1);
  // As a hand-written timm state dict: DataParallel prefix, the I64 counters, half precision.
  const file = path.join(dir, 'timm-resnet18d.safetensors');
  const tensors: Record<string, { data: Float32Array | BigInt64Array; shape: number[] }> = {};
  for (const [k, v] of Object.entries(weights)) {
    tensors[`module.${k}`] = v;
    if (k.endsWith('.running_var')) tensors[`module.${k.replace('running_var', 'num_batches_tracked')}`] = { data: BigInt64Array.of(123n), shape: [] };
  }
  await train.writeSafetensors(file, tensors, {}, { dtype: 'F16' });
  const clf = await load(file, { model: { name: 'resnet18d', width: 0.25 } });
  assert.is(clf.source, 'state-dict');
  assert.is(clf.model.config.numClasses, 5, 'classes from fc.weight');
  assert.equal(clf.classes, ['0', '1', '2', '3', '4']);
  assert.is(clf.inputSize, 224);
  const rng = new Rng(7);
  const shape = [3, 3, 40, 36];
  const x = rng.array(3 * 3 * 40 * 36, 2);
  const got = await clf.forward(x, shape);
  // The reference: the same weights as stored (rounded to F16) in a Net fed NHWC directly.
  const rounded = clf.parameters();
  const want = await netLogits(model, rounded, x, shape);
  assert.is(got.length, 15);
  assert.equal(Array.from(got), Array.from(want));
  // Differs from the unrounded F32 weights only by the F16 rounding, and really differs.
  const f32 = await netLogits(model, weights, x, shape);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < f32.length; i++) {
    diff = Math.max(diff, Math.abs(f32[i] - got[i]));
    scale = Math.max(scale, Math.abs(f32[i]));
  }
  assert.ok(diff > 0 && diff < 0.05 * scale, `F16 rounding changes logits a little: ${diff} of ${scale}`);
  // A batch larger than the native batch runs in chunks with the same result per image.
  const one = await clf.forward(x.subarray(2 * 3 * 40 * 36), [1, 3, 40, 36]);
  assert.equal(Array.from(one), Array.from(got.subarray(10)));
  clf.dispose();
  await expectCodeAsync(() => clf.forward(x, shape), 'ERR_DISPOSED');
});

test('torchvision resnet50 keys load into resnet50 (B); a checkpoint saved here loads back with the same logits', async () => {
  const model = createModel('resnet50', { numClasses: 3, width: 0.125 });
  const weights = randomWeights(model, 2);
  const keys = Object.keys(weights);
  // torchvision's names for ResNet-50 (v1.5): the shortcut is downsample.0 (conv) / .1 (BN).
  for (const k of ['conv1.weight', 'bn1.running_mean', 'layer1.0.downsample.0.weight', 'layer2.0.downsample.1.running_var', 'layer4.2.bn3.bias', 'fc.weight', 'fc.bias']) {
    assert.ok(keys.includes(k), k);
  }
  const file = path.join(dir, 'tv-resnet50.safetensors');
  await train.writeSafetensors(file, weights, {});
  const clf = await load(file, { model: { name: 'resnet50', width: 0.125 }, classes: ['cat', 'dog', 'fox'] });
  const rng = new Rng(3);
  const x = rng.array(2 * 3 * 32 * 32, 1);
  const a = await clf.forward(x, [2, 3, 32, 32]);
  assert.equal(Array.from(a), Array.from(await netLogits(model, weights, x, [2, 3, 32, 32])));

  // Our own checkpoint: model, classes and input size come from its metadata.
  const trainer = new bot.Trainer(createModel('resnet18', { numClasses: 3, width: 0.25, stem: 'cifar' }), {
    recipe: 'baseline', inputSize: 16, classes: ['a', 'b', 'c'], overrides: { batchSize: 4, epochs: 1, precision: 'fp32' },
  });
  trainer.net.setParameters(randomWeights(trainer.model as ReturnType<typeof createModel>, 4));
  const ckpt = path.join(dir, 'ours.safetensors');
  await trainer.save(ckpt);
  const mine = await load(ckpt);
  assert.is(mine.source, 'checkpoint');
  assert.equal(mine.classes, ['a', 'b', 'c']);
  assert.is(mine.inputSize, 16);
  const y = rng.array(4 * 3 * 16 * 16, 1);
  const fromFile = await mine.forward(y, [4, 3, 16, 16]);
  const direct = await trainer.net.forward({ data: nchwToNhwc(y, 4, 3, 16, 16), shape: [4, 16, 16, 3] });
  assert.equal(Array.from(fromFile), Array.from(direct.data));
  // Naming another architecture for our checkpoint is refused.
  await expectCodeAsync(() => load(ckpt, { model: 'resnet50d' }), 'ERR_ARGUMENT');
  trainer.dispose();
  clf.dispose();
  mine.dispose();
});

test('a state dict that does not fit lists missing, unexpected and mis-shaped keys (ERR_WEIGHTS_MISMATCH)', async () => {
  const model = createModel('resnet18', { numClasses: 4, width: 0.25 });
  const weights = randomWeights(model, 5);
  delete weights['layer3.1.bn2.running_mean'];
  weights['head.extra.weight'] = { data: new Float32Array(2), shape: [2] };
  weights['layer1.0.conv1.weight'] = { data: new Float32Array(16 * 16 * 9 * 2), shape: [16, 32, 3, 3] };
  const file = path.join(dir, 'mismatch.safetensors');
  await train.writeSafetensors(file, weights, {});
  let err: (Error & { code?: string; details?: { missing: string[]; unexpected: string[]; conflicts: { key: string; expected: number[]; found: number[] }[] } }) | undefined;
  try {
    await load(file, { model: { name: 'resnet18', width: 0.25 } });
  } catch (e) {
    err = e as typeof err;
  }
  assert.ok(err instanceof bot.WeightsMismatchError, 'a WeightsMismatchError');
  assert.is(err!.code, 'ERR_WEIGHTS_MISMATCH');
  assert.equal(err!.details!.missing, ['layer3.1.bn2.running_mean']);
  assert.equal(err!.details!.unexpected, ['head.extra.weight']);
  assert.equal(err!.details!.conflicts, [{ key: 'layer1.0.conv1.weight', expected: [16, 16, 3, 3], found: [16, 32, 3, 3] }]);
  for (const part of ['layer3.1.bn2.running_mean', 'head.extra.weight', 'layer1.0.conv1.weight']) assert.ok(err!.message.includes(part), part);
  // The wrong variant: resnet18 weights named as resnet18d lack the deep stem.
  const good = path.join(dir, 'r18.safetensors');
  await train.writeSafetensors(good, randomWeights(model, 6), {});
  await expectCodeAsync(() => load(good, { model: { name: 'resnet18d', width: 0.25 } }), 'ERR_WEIGHTS_MISMATCH');
  // A plain state dict needs the architecture; unknown names and bad files have their codes.
  await expectCodeAsync(() => load(good), 'ERR_ARGUMENT');
  await expectCodeAsync(() => load(good, { model: 'resnet17' as ModelName }), 'ERR_ARGUMENT');
  await expectCodeAsync(() => load(path.join(dir, 'nope.safetensors'), { model: 'resnet18' }), 'ERR_ARGUMENT');
  const broken = path.join(dir, 'broken.safetensors');
  fs.writeFileSync(broken, fs.readFileSync(good).subarray(0, 100));
  await expectCodeAsync(() => load(broken, { model: 'resnet18' }), 'ERR_CHECKPOINT_FORMAT');
  await expectCodeAsync(() => load(good, { model: { name: 'resnet18', width: 0.25 }, classes: ['a'] }), 'ERR_ARGUMENT');
  await expectCodeAsync(() => load(good, { model: { name: 'resnet18', width: 0.25 }, colour: true } as never), 'ERR_ARGUMENT');
  const clf = await load(good, { model: { name: 'resnet18', width: 0.25 } });
  await expectCodeAsync(() => clf.forward(new Float32Array(10), [1, 3, 2, 2]), 'ERR_SHAPE');
  await expectCodeAsync(() => clf.forward(new Float32Array(12), [1, 1, 3, 4]), 'ERR_SHAPE');
  await expectCodeAsync(() => clf.forward(new Float64Array(12) as never, [1, 3, 2, 2]), 'ERR_DTYPE');
  clf.dispose();
});

test('predict() takes paths, encoded bytes, raw pixels and arrays of them; a bad image is ERR_IMAGE_DECODE', async () => {
  const model = createModel('resnet18', { numClasses: 4, width: 0.25, stem: 'cifar' });
  const file = path.join(dir, 'cifar.safetensors');
  await train.writeSafetensors(file, randomWeights(model, 8), {});
  const clf = await load(file, { model: { name: 'resnet18', width: 0.25, stem: 'cifar' }, classes: ['w', 'x', 'y', 'z'] });
  assert.is(clf.inputSize, 32);
  const jpg = await writeJpeg(path.join(dir, 'a.jpg'), 48, 40, 1);
  const top = await clf.predict(jpg, { topk: 3 });
  assert.is(top.length, 3);
  assert.ok(top.every((p) => ['w', 'x', 'y', 'z'][p.index] === p.label && p.score > 0 && p.score < 1));
  assert.ok(top[0].score >= top[1].score && top[1].score >= top[2].score);
  // The same file as bytes gives the same scores; all four scores sum to 1.
  const fromBytes = await clf.predict(fs.readFileSync(jpg), { topk: 4 });
  assert.equal(fromBytes.slice(0, 3), top);
  assert.ok(Math.abs(fromBytes.reduce((s, p) => s + p.score, 0) - 1) < 1e-5);
  // Raw pixels of the right size skip the resize: same as feeding the normalised tensor.
  const px = new Uint8Array(32 * 32 * 3).map((_, i) => (i * 37) % 256);
  const [fromPixels] = await clf.predict([{ data: px, width: 32, height: 32, channels: 3 }], { topk: 1 });
  const mean = [123.68, 116.779, 103.939];
  const std = [58.393, 57.12, 57.375];
  const x = new Float32Array(3 * 32 * 32);
  for (let p = 0; p < 32 * 32; p++) for (let c = 0; c < 3; c++) x[c * 1024 + p] = (px[p * 3 + c] - mean[c]) / std[c];
  const logits = await clf.forward(x, [1, 3, 32, 32]);
  const best = Array.from(logits).indexOf(Math.max(...logits));
  assert.is(fromPixels[0].index, best);
  // An array keeps its order; a bad image rejects with its code and name.
  const both = await clf.predict([fs.readFileSync(jpg), jpg], { topk: 2 });
  assert.is(both.length, 2);
  // In one batch of two (the kernels block a batch differently: equal to rounding).
  both.forEach((b) => b.forEach((p, i) => assert.ok(p.index === top[i].index && Math.abs(p.score - top[i].score) < 1e-5, `${p.label} ${p.score}`)));
  await expectCodeAsync(() => clf.predict(Buffer.from('not an image at all')), 'ERR_IMAGE_DECODE');
  await expectCodeAsync(() => clf.predict([jpg, path.join(dir, 'missing.png')]), 'ERR_IMAGE_DECODE');
  await expectCodeAsync(() => clf.predict(42 as never), 'ERR_ARGUMENT');
  await expectCodeAsync(() => clf.predict(jpg, { topk: 5 }), 'ERR_ARGUMENT');
  assert.equal(await clf.predict([]), []);
  clf.dispose();
});

test.after(() => rmDir(dir));

test.run();
