/**
 * MobileNetV1 weights in and out: a timm-layout `mobilenetv1_100` safetensors state dict
 * (made here from the model's own parameters under timm's key names) through load() and
 * pretrainedWeights(), a misfit listed by ERR_WEIGHTS_MISMATCH, and the ONNX export run
 * by onnxruntime-node against our Net's logits (max |difference| ≤ 1e-4 · max |logit|), from
 * the API and from `bagoftricks export` on a plain state dict.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as ort from 'onnxruntime-node';
import { Rng, expectCodeAsync } from './helpers/compare';
import { rmDir, tmpDir } from './helpers/data-images';
import { bot } from './helpers/lib';
import type { ModelName } from '../lib/models';

const { Net, createModel, load, pretrainedWeights, train } = bot;
const dir = tmpDir('bot-mobilenet-io-');
const TOLERANCE = 1e-4; // relative to max |logit|: FP32 sums in another order on each side
const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');

type Weights = Record<string, { data: Float32Array; shape: number[] }>;

/** Every tensor of `model` random (BN statistics too, variances positive), PyTorch layout. */
function randomWeights(model: ReturnType<typeof createModel>, seed: number): Weights {
  const rng = new Rng(seed);
  const out: Weights = {};
  for (const p of model.parameters()) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const fanIn = p.shape.length > 1 ? n / p.shape[0] : 1;
    for (let i = 0; i < n; i++) {
      const u = 2 * rng.uniform() - 1;
      data[i] = p.kind === 'running_var' ? 0.5 + Math.abs(u) : p.kind === 'gamma' ? 1 + 0.3 * u : p.kind === 'weight' ? (1.7 * u) / Math.sqrt(fanIn) : 0.1 * u;
    }
    out[p.name] = { data, shape: p.shape.slice() };
  }
  return out;
}

function nchwToNhwc(x: Float32Array, [n, c, h, w]: number[]): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) y[(i * h * w + p) * c + ch] = x[(i * c + ch) * h * w + p];
  return y;
}

async function netLogits(model: ReturnType<typeof createModel>, weights: Weights, nchw: Float32Array, shape: number[]): Promise<Float32Array> {
  const [n, c, h, w] = shape;
  const net = new Net(model.graph(), { batchSize: n, height: h, width: w, training: false });
  net.setParameters(weights);
  const out = await net.forward({ data: nchwToNhwc(nchw, shape), shape: [n, h, w, c] });
  net.dispose();
  return out.data as Float32Array;
}

/** max |a − b| / max |b|. */
function relativeDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  assert.ok(scale > 1e-3, `logits are degenerate (max |logit| ${scale})`);
  return diff / scale;
}

/** The state dict as timm saves it: our keys are timm's; BN's num_batches_tracked counters added. */
function timmStateDict(weights: Weights): Record<string, { data: Float32Array | BigInt64Array; shape: number[] }> {
  const out: Record<string, { data: Float32Array | BigInt64Array; shape: number[] }> = {};
  for (const [k, v] of Object.entries(weights)) {
    out[k] = v;
    if (k.endsWith('.running_var')) out[k.replace('running_var', 'num_batches_tracked')] = { data: BigInt64Array.of(1000n), shape: [] };
  }
  return out;
}

test('a timm mobilenetv1_100 state dict loads (1000 classes from classifier.weight) and its NCHW forward equals the Net', async () => {
  const model = createModel('mobilenetv1_100');
  const weights = randomWeights(model, 11);
  const file = path.join(dir, 'mobilenetv1_100.safetensors');
  await train.writeSafetensors(file, timmStateDict(weights), {});
  const clf = await load(file, { model: 'mobilenetv1_100', batchSize: 2 });
  assert.is(clf.source, 'state-dict');
  assert.is(clf.model.name, 'mobilenetv1_100');
  assert.is(clf.model.config.numClasses, 1000);
  assert.is(clf.inputSize, 224);
  const shape = [2, 3, 64, 64];
  const x = new Rng(12).array(2 * 3 * 64 * 64, 1.5);
  const got = await clf.forward(x, shape);
  const want = await netLogits(model, weights, x, shape);
  assert.is(got.length, 2000);
  assert.equal(Array.from(got), Array.from(want));
  clf.dispose();
});

test('a misfit is ERR_WEIGHTS_MISMATCH listing the wrong shape and the missing key', async () => {
  const model = createModel('mobilenetv1_100');
  const weights = randomWeights(model, 13);
  weights['blocks.3.2.conv_dw.weight'] = { data: new Float32Array(512 * 25), shape: [512, 1, 5, 5] };
  delete weights['blocks.4.1.bn2.running_mean'];
  const file = path.join(dir, 'misfit.safetensors');
  await train.writeSafetensors(file, weights, {});
  let err: (Error & { code?: string; details?: { missing: string[]; unexpected: string[]; conflicts: { key: string; expected: number[]; found: number[] }[] } }) | undefined;
  try {
    await load(file, { model: 'mobilenetv1_100' });
  } catch (e) {
    err = e as typeof err;
  }
  assert.ok(err instanceof bot.WeightsMismatchError, 'a WeightsMismatchError');
  assert.is(err!.code, 'ERR_WEIGHTS_MISMATCH');
  assert.equal(err!.details!.conflicts, [{ key: 'blocks.3.2.conv_dw.weight', expected: [512, 1, 3, 3], found: [512, 1, 5, 5] }]);
  assert.equal(err!.details!.missing, ['blocks.4.1.bn2.running_mean']);
  assert.equal(err!.details!.unexpected, []);
  assert.match(err!.message, /blocks\.3\.2\.conv_dw\.weight: model \[512,1,3,3\] vs file \[512,1,5,5\]/);
  // The width decides every shape: a mobilenetv1_100 file is not a mobilenetv1_050.
  await train.writeSafetensors(path.join(dir, 'good.safetensors'), randomWeights(model, 14), {});
  await expectCodeAsync(() => load(path.join(dir, 'good.safetensors'), { model: 'mobilenetv1_050' }), 'ERR_WEIGHTS_MISMATCH');
  await expectCodeAsync(() => load(path.join(dir, 'good.safetensors'), { model: 'resnet18' }), 'ERR_WEIGHTS_MISMATCH');
});

test('pretrainedWeights: the backbone of a timm state dict kept, the classifier replaced for 10 classes', async () => {
  const file = path.join(dir, 'pretrained.safetensors');
  await train.writeSafetensors(file, timmStateDict(randomWeights(createModel('mobilenetv1_100'), 15)), {});
  const target = createModel('mobilenetv1_100', { numClasses: 10, stem: 'cifar' });
  const { parameters, report } = await pretrainedWeights(file, target);
  assert.equal(report.replaced, ['classifier.weight', 'classifier.bias']);
  assert.is(report.fileClasses, 1000);
  assert.is(report.kept, target.parameters().length - 2);
  assert.not.ok('classifier.weight' in parameters);
  const same = await pretrainedWeights(file, createModel('mobilenetv1_100'));
  assert.equal(same.report.replaced, []);
});

const CASES: { name: ModelName; stem: 'imagenet' | 'cifar'; size: number; width?: number }[] = [
  { name: 'mobilenetv1_050', stem: 'cifar', size: 32 },
  { name: 'mobilenetv1_025', stem: 'imagenet', size: 72 },
  { name: 'mobilenetv1_075', stem: 'imagenet', size: 40, width: 0.5 }, // 24, 40, … channels: masked channel tails
];

for (const [i, c] of CASES.entries()) {
  test(`ONNX: ${c.name} (${c.stem} stem, ${c.size}²) in onnxruntime gives our logits, BN kept and folded`, async () => {
    const model = createModel(c.name, { numClasses: 7, stem: c.stem, width: c.width ?? 1, seed: i });
    const weights = randomWeights(model, 20 + i);
    const shape = [3, 3, c.size, c.size];
    const x = new Rng(30 + i).array(shape.reduce((a, b) => a * b, 1), 1.5);
    const ours = await netLogits(model, weights, x, shape);
    const params = new Map(Object.entries(weights).map(([k, v]) => [k, v.data]));
    for (const foldBatchNorm of [false, true]) {
      const session = await ort.InferenceSession.create(bot.exportOnnx(model, params, { foldBatchNorm }));
      const r = await session.run({ input: new ort.Tensor('float32', x, shape) });
      assert.equal([...r.logits.dims], [3, 7]);
      const rel = relativeDiff(ours, r.logits.data as Float32Array);
      assert.ok(rel <= TOLERANCE, `${c.name} foldBatchNorm=${foldBatchNorm}: ${rel} > ${TOLERANCE}`);
    }
  });
}

test('CLI: export of a plain mobilenetv1_025 state dict (classes and width from classifier.weight) runs in onnxruntime', async () => {
  const model = createModel('mobilenetv1_025', { numClasses: 5 });
  const weights = randomWeights(model, 40);
  const file = path.join(dir, 'plain-025.safetensors');
  await train.writeSafetensors(file, timmStateDict(weights), {});
  const onnx = path.join(dir, 'plain-025.onnx');
  const r = spawnSync(process.execPath, [cli, 'export', '--checkpoint', file, '--model', 'mobilenetv1_025', '--onnx', onnx, '--json'], { encoding: 'utf8', timeout: 120_000 });
  assert.is(r.status, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).model, 'mobilenetv1_025');
  const shape = [2, 3, 48, 48];
  const x = new Rng(41).array(2 * 3 * 48 * 48, 1.5);
  const session = await ort.InferenceSession.create(onnx);
  const out = await session.run({ input: new ort.Tensor('float32', x, shape) });
  assert.equal([...out.logits.dims], [2, 5]);
  assert.ok(relativeDiff(await netLogits(model, weights, x, shape), out.logits.data as Float32Array) <= TOLERANCE);
});

test.after(() => rmDir(dir));

test.run();
