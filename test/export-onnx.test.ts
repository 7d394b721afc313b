/**
 * ONNX export, checked by onnxruntime: the exported file of every variant (A, B, C, D, a
 * bottleneck, both stems), with BN kept or folded, gives our Net's logits on the same
 * images (NHWC for the Net, NCHW for onnxruntime). Tolerance: max |ours − onnxruntime| over
 * all logits ≤ 1e-4 · max |logit| (a max-abs difference relative to the largest logit).
 *
 * Weights are the models' seeded initial values with zero-γ off, then every BN γ, β,
 * running mean and running variance and the classifier bias redrawn at random, so the
 * BN statistics (and their folding) matter. Set BOT_TEST_VERBOSE=1 to print the measured
 * differences.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { expectCode, Rng } from './helpers/compare';
import { bot } from './helpers/lib';
import type { ModelName } from '../lib/models';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const schema: typeof import('../lib/export/onnxSchema') = require('../../dist/export/onnxSchema');

type Model = Parameters<typeof bot.exportOnnx>[0];
type Params = Map<string, Float32Array>;

const TOLERANCE = 1e-4; // relative to max |logit|: FP32 sums in a different order on each side
const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const runCli = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 120_000 });
const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-onnx-'));
const verbose = process.env.BOT_TEST_VERBOSE === '1';

/** The model's initial values with random BN affine parameters and statistics and a random classifier bias. */
function randomParameters(model: Model, seed: number): Params {
  const rng = new Rng(seed);
  const params = model.initialParameters();
  for (const spec of model.parameters()) {
    const p = params.get(spec.name)!;
    for (let i = 0; i < p.length; i++) {
      if (spec.kind === 'gamma') p[i] = 0.5 + rng.uniform();
      else if (spec.kind === 'beta') p[i] = 0.2 * rng.normal();
      else if (spec.kind === 'running_mean') p[i] = 0.3 * rng.normal();
      else if (spec.kind === 'running_var') p[i] = 0.4 + 1.6 * rng.uniform();
      else if (spec.kind === 'bias') p[i] = 0.1 * rng.normal();
    }
  }
  return params;
}

/** NHWC → NCHW. */
function toNchw(x: Float32Array, [n, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let z = 0; z < w; z++) {
        for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + z] = x[((b * h + y) * w + z) * c + k];
      }
    }
  }
  return out;
}

/** An ONNX file's metadata_props as a record. */
function onnxMetadata(bytes: Uint8Array): Record<string, string> {
  const m = schema.onnxModelType().toObject(schema.onnxModelType().decode(bytes)) as { metadata_props?: { key: string; value: string }[] };
  return Object.fromEntries((m.metadata_props ?? []).map((p) => [p.key, p.value]));
}

async function ortLogits(session: ort.InferenceSession, nhwc: Float32Array, shape: number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const [n, h, w, c] = shape;
  const r = await session.run({ input: new ort.Tensor('float32', toNchw(nhwc, shape), [n, c, h, w]) });
  return { data: r.logits.data as Float32Array, dims: r.logits.dims };
}

/** max |a − b| / max |b|, after checking the lengths agree. */
function relativeDiff(a: ArrayLike<number>, b: ArrayLike<number>, what: string): number {
  assert.is(a.length, b.length, `${what}: length`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  assert.ok(scale > 1e-3 && Number.isFinite(diff), `${what}: logits are degenerate (max |logit| ${scale})`);
  return diff / scale;
}

function expectMatch(ours: ArrayLike<number>, theirs: ArrayLike<number>, what: string): number {
  const rel = relativeDiff(ours, theirs, what);
  if (verbose) console.log(`${what}: max |ours - onnxruntime| / max |logit| = ${rel.toExponential(2)}`);
  assert.ok(rel <= TOLERANCE, `${what}: max |ours - onnxruntime| / max |logit| = ${rel} > ${TOLERANCE}`);
  return rel;
}

/** Our logits in eval mode for NHWC images. */
async function netLogits(model: Model, params: Params, images: { data: Float32Array; shape: number[] }): Promise<Float32Array> {
  const [n, h, w] = images.shape;
  const net = new bot.Net(model.graph(), { batchSize: n, height: h, width: w, parameters: params });
  try {
    return (await net.forward(images)).data;
  } finally {
    net.dispose();
  }
}

const CASES: { name: string; stem: 'imagenet' | 'cifar'; size: number }[] = [
  { name: 'resnet18a', stem: 'imagenet', size: 40 },
  { name: 'resnet18', stem: 'imagenet', size: 40 },
  { name: 'resnet18c', stem: 'cifar', size: 32 },
  { name: 'resnet18d', stem: 'imagenet', size: 40 }, // 40² reaches layer3 at 5×5: the D shortcut's ceil-mode pool has a partial window
  { name: 'resnet50d', stem: 'imagenet', size: 40 },
];

for (const [i, c] of CASES.entries()) {
  test(`${c.name} (${c.stem} stem, ${c.size}²) matches onnxruntime, with BN kept and folded`, async () => {
    const model = bot.createModel(c.name as ModelName, { width: 0.25, numClasses: 7, stem: c.stem, zeroGamma: false, seed: i });
    const params = randomParameters(model, 100 + i);
    const images = new Rng(200 + i).tensor([3, c.size, c.size, 3]);
    const ours = await netLogits(model, params, images);
    for (const foldBatchNorm of [false, true]) {
      const session = await ort.InferenceSession.create(bot.exportOnnx(model, params, { foldBatchNorm }));
      const theirs = await ortLogits(session, images.data, images.shape);
      assert.equal([...theirs.dims], [3, 7]);
      expectMatch(ours, theirs.data, `${c.name} foldBatchNorm=${foldBatchNorm}`);
    }
  });
}

test('folding removes every BatchNormalization; a folded Conv holds W·s and β − mean·s, s = γ/sqrt(var + ε)', () => {
  const model = bot.createModel('resnet18d', { width: 0.25, numClasses: 7 });
  const params = randomParameters(model, 7);
  const kept = bot.buildOnnxModel(model, params);
  const folded = bot.buildOnnxModel(model, params, { foldBatchNorm: true });
  const count = (m: typeof kept, op: string) => m.graph.node.filter((n) => n.op_type === op).length;
  const bns = model.graph().nodes.filter((n) => n.op === 'batchnorm').length;
  assert.is(count(kept, 'BatchNormalization'), bns);
  assert.is(count(folded, 'BatchNormalization'), 0);
  assert.is(folded.graph.node.length, kept.graph.node.length - bns);
  assert.is(count(folded, 'Conv'), count(kept, 'Conv'));
  // Every folded Conv has a bias; its weight is the original one scaled per output channel.
  const w = folded.graph.initializer.find((t) => t.name === 'conv1.0.weight')!;
  const b = folded.graph.initializer.find((t) => t.name === 'conv1.0.bias')!;
  const f32 = (u: Uint8Array) => new Float32Array(u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength));
  const g = params.get('conv1.1.weight')!;
  const v = params.get('conv1.1.running_var')!;
  const s0 = g[0] / Math.sqrt(v[0] + 1e-5);
  assert.ok(Math.abs(f32(w.raw_data)[0] - params.get('conv1.0.weight')![0] * s0) < 1e-6);
  assert.ok(Math.abs(f32(b.raw_data)[0] - (params.get('conv1.1.bias')![0] - params.get('conv1.1.running_mean')![0] * s0)) < 1e-6);
});

test('the graph: input "input" (batch, C, H, W), output "logits" (batch, classes), batch 1 and 3 through one session', async () => {
  const model = bot.createModel('resnet18d', { width: 0.25, numClasses: 5, stem: 'cifar', zeroGamma: false });
  const params = randomParameters(model, 11);
  const session = await ort.InferenceSession.create(bot.exportOnnx(model, params));
  assert.equal(session.inputNames, ['input']);
  assert.equal(session.outputNames, ['logits']);
  const meta = (session as unknown as { inputMetadata: { shape: unknown[] }[]; outputMetadata: { shape: unknown[] }[] });
  assert.equal(meta.inputMetadata[0].shape, ['batch', 3, 'height', 'width']);
  assert.equal(meta.outputMetadata[0].shape, ['batch', 5]);
  const three = new Rng(12).tensor([3, 32, 32, 3]);
  const one = { data: three.data.slice(0, 32 * 32 * 3), shape: [1, 32, 32, 3] };
  const r3 = await ortLogits(session, three.data, three.shape);
  const r1 = await ortLogits(session, one.data, one.shape);
  assert.equal([...r3.dims], [3, 5]);
  assert.equal([...r1.dims], [1, 5]);
  expectMatch(r1.data, r3.data.subarray(0, 5), 'batch 1 vs row 0 of batch 3');
  expectMatch(await netLogits(model, params, three), r3.data, 'resnet18d cifar, batch 3');
  // Another image size through the same session: H and W are symbolic.
  const big = new Rng(13).tensor([2, 36, 36, 3]);
  expectMatch(await netLogits(model, params, big), (await ortLogits(session, big.data, big.shape)).data, 'resnet18d cifar at 36²');
});

test('inputSize fixes H and W; the batch stays symbolic', async () => {
  const model = bot.createModel('resnet18', { width: 0.25, numClasses: 4, stem: 'cifar' });
  const session = await ort.InferenceSession.create(bot.exportOnnx(model, model.initialParameters(), { inputSize: [32, 28] }));
  const meta = session as unknown as { inputMetadata: { shape: unknown[] }[] };
  assert.equal(meta.inputMetadata[0].shape, ['batch', 3, 32, 28]);
  let refused = false;
  await ortLogits(session, new Float32Array(32 * 32 * 3), [1, 32, 32, 3]).catch(() => (refused = true));
  assert.ok(refused, 'a 32×32 image does not fit a 32×28 input');
  const r = await ortLogits(session, new Float32Array(2 * 32 * 28 * 3), [2, 32, 28, 3]);
  assert.equal([...r.dims], [2, 4]);
});

test('opset: the declared operator set and IR version, from 13 to 21; others are refused', async () => {
  const model = bot.createModel('resnet18c', { width: 0.25, numClasses: 3, stem: 'cifar', zeroGamma: false });
  const params = randomParameters(model, 21);
  const images = new Rng(22).tensor([2, 32, 32, 3]);
  const ours = await netLogits(model, params, images);
  for (const [opset, ir] of [[13, 7], [17, 8], [21, 10]]) {
    const bytes = bot.exportOnnx(model, params, opset === 17 ? {} : { opset });
    // The file starts with ModelProto field 1 (ir_version, varint): tag 0x08, then the version.
    assert.equal([bytes[0], bytes[1]], [0x08, ir], `opset ${opset}: IR version`);
    assert.is(bot.onnxIrVersion(opset), ir);
    const built = bot.buildOnnxModel(model, params, opset === 17 ? {} : { opset });
    assert.equal(built.opset_import, [{ domain: '', version: opset }]);
    assert.is(built.producer_name, 'bagoftricks');
    assert.is(built.producer_version, bot.version);
    assert.is(built.graph.name, 'resnet18c');
    const session = await ort.InferenceSession.create(bytes);
    expectMatch(ours, (await ortLogits(session, images.data, images.shape)).data, `resnet18c opset ${opset}`);
  }
  expectCode(() => bot.exportOnnx(model, params, { opset: 12 }), 'ERR_ARGUMENT', 'opset 12');
  expectCode(() => bot.exportOnnx(model, params, { opset: 22 }), 'ERR_ARGUMENT', 'opset 22');
});

test('bad arguments: missing, misshapen, mistyped or unknown parameters and options have stable codes', () => {
  const model = bot.createModel('resnet18', { width: 0.25, numClasses: 4 });
  const params = model.initialParameters();
  const without = new Map(params);
  without.delete('layer2.0.bn1.running_var');
  try {
    bot.exportOnnx(model, without);
    assert.unreachable('a missing parameter is an error');
  } catch (e) {
    const err = e as { code?: string; message: string };
    assert.is(err.code, 'ERR_ARGUMENT');
    assert.match(err.message, 'layer2.0.bn1.running_var');
  }
  const record = Object.fromEntries(params);
  expectCode(() => bot.exportOnnx(model, { ...record, 'fc.bias': new Float32Array(5) }), 'ERR_SHAPE', 'wrong length');
  expectCode(() => bot.exportOnnx(model, { ...record, 'fc.bias': { data: new Float32Array(4), shape: [2, 2] } }), 'ERR_SHAPE', 'wrong shape');
  expectCode(() => bot.exportOnnx(model, { ...record, 'fc.bias': new Float64Array(4) as never }), 'ERR_DTYPE', 'Float64Array');
  expectCode(() => bot.exportOnnx(model, { ...record, 'fc.extra': new Float32Array(4) }), 'ERR_ARGUMENT', 'unexpected key');
  expectCode(() => bot.exportOnnx(model, params, { foldBn: true } as never), 'ERR_ARGUMENT', 'unknown option');
  expectCode(() => bot.exportOnnx(model, params, { foldBatchNorm: 1 } as never), 'ERR_ARGUMENT', 'foldBatchNorm not boolean');
  expectCode(() => bot.exportOnnx({} as never, params), 'ERR_ARGUMENT', 'not a model');
  // Tensors ({ data, shape }) as net.getParameters() gives them are accepted.
  const tensors = Object.fromEntries(model.parameters().map((p) => [p.name, { data: params.get(p.name)!, shape: p.shape }]));
  assert.ok(bot.exportOnnx(model, tensors).length > 4 * 100_000);
});

test('CLI: export a training checkpoint and a plain state dict; onnxruntime gives the Net\'s logits', async () => {
  const classes = ['cat', 'dog', 'owl', 'fox', 'elk'];
  const trainer = new bot.Trainer('resnet18d', { inputSize: 32, stem: 'cifar', width: 0.25, classes, recipe: 'baseline', overrides: { batchSize: 4 } });
  try {
    trainer.net.setParameters(randomParameters(trainer.model, 31));
    const ckpt = path.join(ROOT, 'run.safetensors');
    await trainer.save(ckpt);
    const images = new Rng(32).tensor([4, 32, 32, 3]);
    const ours = (await trainer.net.forward(images)).data;

    const out = path.join(ROOT, 'run.onnx');
    const r = runCli('export', '--checkpoint', ckpt, '--onnx', out, '--json');
    assert.is(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout.trim());
    assert.is(report.onnx, out);
    assert.is(report.bytes, fs.statSync(out).size);
    assert.is(report.model, 'resnet18d');
    assert.is(report.opset, 17);
    assert.is(report.foldBatchNorm, false);
    assert.ok(report.nodes > 40, `nodes ${report.nodes}`);
    const session = await ort.InferenceSession.create(fs.readFileSync(out));
    expectMatch(ours, (await ortLogits(session, images.data, images.shape)).data, 'CLI checkpoint export');
    // The preprocessing beside the classes: input side and the eval transform's mean/std.
    const props = onnxMetadata(fs.readFileSync(out));
    assert.equal(JSON.parse(props['bagoftricks.classes']), classes);
    assert.is(props['bagoftricks.inputSize'], '32');
    assert.equal(JSON.parse(props['bagoftricks.mean']), [123.68, 116.779, 103.939]);
    assert.equal(JSON.parse(props['bagoftricks.std']), [58.393, 57.12, 57.375]);
    assert.match(props['bagoftricks.normalization'], /\(RGB pixel on the 0-255 scale - mean\) \/ std/);
    // A run's own eval transform (its normalisation) and --size are what the file records.
    const custom = path.join(ROOT, 'custom.safetensors');
    await trainer.save(custom, { run: JSON.stringify({ evalTransform: { type: 'eval', resizeRatio: 1, mean: [10, 20, 30], std: [2, 3, 4] } }) });
    assert.is(runCli('export', '--checkpoint', custom, '--onnx', path.join(ROOT, 'custom.onnx'), '--size', '40').status, 0);
    const customProps = onnxMetadata(fs.readFileSync(path.join(ROOT, 'custom.onnx')));
    assert.equal([customProps['bagoftricks.inputSize'], JSON.parse(customProps['bagoftricks.mean']), JSON.parse(customProps['bagoftricks.std'])], ['40', [10, 20, 30], [2, 3, 4]]);
    assert.equal(fs.readdirSync(ROOT).filter((f) => f.includes('.tmp-')), [], 'no temporary file left');

    const text = runCli('export', '--checkpoint', ckpt, '--onnx', path.join(ROOT, 'folded.onnx'), '--fold-bn', '--opset', '13');
    assert.is(text.status, 0, text.stderr);
    assert.match(text.stdout, /wrote .*folded\.onnx .*resnet18d, ONNX opset 13 \(IR 7\), \d+ nodes, batch norm folded/);
    const folded = await ort.InferenceSession.create(fs.readFileSync(path.join(ROOT, 'folded.onnx')));
    expectMatch(ours, (await ortLogits(folded, images.data, images.shape)).data, 'CLI checkpoint export, folded, opset 13');

    // A plain state dict (no metadata) of another architecture needs --model.
    const plainModel = bot.createModel('resnet18', { width: 0.25, numClasses: 6, zeroGamma: false, seed: 3 });
    const plainParams = randomParameters(plainModel, 33);
    const plain = path.join(ROOT, 'plain.safetensors');
    await bot.train.saveCheckpoint(plain, { tensors: Object.fromEntries(plainModel.parameters().map((p) => [p.name, { data: plainParams.get(p.name)!, shape: p.shape }])) });
    const missing = runCli('export', '--checkpoint', plain, '--onnx', path.join(ROOT, 'plain.onnx'));
    assert.is(missing.status, 2);
    assert.match(missing.stderr, /--model is required/);
    const wrong = runCli('export', '--checkpoint', plain, '--model', 'resnet18d', '--onnx', path.join(ROOT, 'plain.onnx'));
    assert.is(wrong.status, 1);
    assert.match(wrong.stderr, /ERR_WEIGHTS_MISMATCH: .*missing \(conv1\.0\.weight/);
    assert.not.ok(fs.existsSync(path.join(ROOT, 'plain.onnx')), 'nothing written on error');
    const ok = runCli('export', '--checkpoint', plain, '--model', 'resnet18', '--onnx', path.join(ROOT, 'plain.onnx'), '--json');
    assert.is(ok.status, 0, ok.stderr);
    const plainImages = new Rng(34).tensor([2, 40, 40, 3]);
    const plainSession = await ort.InferenceSession.create(fs.readFileSync(path.join(ROOT, 'plain.onnx')));
    expectMatch(await netLogits(plainModel, plainParams, plainImages), (await ortLogits(plainSession, plainImages.data, plainImages.shape)).data, 'CLI plain state dict export');

    const usage = runCli('export', '--checkpoint', ckpt);
    assert.is(usage.status, 2);
    assert.match(usage.stderr, /--onnx is required/);
    const differs = runCli('export', '--checkpoint', ckpt, '--model', 'resnet18', '--onnx', path.join(ROOT, 'x.onnx'));
    assert.is(differs.status, 2);
    assert.match(differs.stderr, /--model resnet18 differs from the checkpoint's model resnet18d/);
  } finally {
    trainer.dispose();
  }
});

test.after(() => fs.rmSync(ROOT, { recursive: true, force: true }));

test.run();
