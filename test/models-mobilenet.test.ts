/**
 * MobileNetV1 in the zoo: the published counts (Howard et al. 2017: 4.2 M parameters, 569 M
 * multiply-adds at width 1.0, 224²), the block table of Howard et al. Table 1, timm's
 * state-dict keys, the width rounding, the CIFAR stem, zero-γ (nothing to zero), the
 * Xavier initialisation, the compiled Net's gradients against the composed single ops, and
 * `bagoftricks train --model mobilenetv1_025` with both recipes (a few hundred MNIST digits).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, expectClose, expectCode } from './helpers/compare';
import { composedStep } from './helpers/graph';
import { bot } from './helpers/lib';
import type { Conv2dNode, ModelName } from '../lib/models';

const { Net, createModel, listModels } = bot;
const { makeDivisible, xavierBound } = bot.models;

const NAMES = ['mobilenetv1_100', 'mobilenetv1_075', 'mobilenetv1_050', 'mobilenetv1_025'] as const;
const bn = (p: string) => [`${p}.weight`, `${p}.bias`, `${p}.running_mean`, `${p}.running_var`];
const convs = (name: ModelName, options = {}) => createModel(name, options).graph().nodes.filter((n): n is Conv2dNode => n.op === 'conv2d');

test('the four widths are in the zoo, after the ResNets, and createModel builds them', () => {
  const names = listModels();
  assert.equal(names.slice(-4), [...NAMES]);
  for (const n of NAMES) assert.is(createModel(n).name, n);
  expectCode(() => createModel('mobilenetv1_200' as ModelName), 'ERR_ARGUMENT', 'unknown width');
  expectCode(() => createModel('mobilenetv1_100', { depth: 2 } as never), 'ERR_ARGUMENT', 'unknown option');
});

test('mobilenetv1_100 at 224², 1000 classes: 4,231,976 parameters and 568.7 M multiply-adds', () => {
  const s = createModel('mobilenetv1_100').summary(224);
  assert.is(s.params, 4_231_976);
  assert.is(s.trainableParams, 4_231_976);
  assert.is(s.macs, 568_740_352, 'conv and linear multiply-adds');
  assert.is(Math.round(s.macs / 1e5) / 10, 568.7);
  assert.is(s.rows.reduce((n, r) => n + r.params, 0), s.params, 'rows add up');
  // The depthwise convs are 3% of the multiply-adds (Howard et al. Table 2: 3.06%).
  const dw = s.rows.filter((r) => r.name.endsWith('conv_dw')).reduce((n, r) => n + r.macs, 0);
  assert.is(Math.round((dw / s.macs) * 1000) / 10, 3.1);
});

test('the narrower widths (counts computed independently from the block table)', () => {
  const want: Record<string, [number, number]> = {
    mobilenetv1_075: [2_585_560, 325_400_448],
    mobilenetv1_050: [1_331_592, 149_497_088],
    mobilenetv1_025: [470_072, 41_030_272],
  };
  for (const [name, [params, macs]] of Object.entries(want)) {
    const s = createModel(name as ModelName).summary(224);
    assert.equal([s.params, s.macs], [params, macs], name);
  }
  // The width option multiplies the row's: mobilenetv1_100 at width 0.5 is mobilenetv1_050.
  assert.equal(createModel('mobilenetv1_100', { width: 0.5 }).parameters(), createModel('mobilenetv1_050').parameters());
});

test('Howard et al. Table 1: stem 3×3/2 to 32, then 13 depthwise 3×3 + pointwise 1×1 blocks', () => {
  const c = convs('mobilenetv1_100');
  assert.is(c.length, 27);
  assert.equal([c[0].name, c[0].kernel, c[0].stride, c[0].padding, c[0].outChannels, c[0].groups], ['conv_stem', [3, 3], [2, 2], [1, 1], 32, 1]);
  const dws = c.filter((n) => n.name.endsWith('conv_dw'));
  const pws = c.filter((n) => n.name.endsWith('conv_pw'));
  assert.equal(dws.map((n) => n.stride[0]), [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]);
  assert.equal(pws.map((n) => n.outChannels), [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]);
  for (const n of dws) {
    assert.equal([n.kernel, n.padding, n.stride[0], n.stride[1]], [[3, 3], [1, 1], n.stride[1], n.stride[0]], n.name);
    assert.is(n.groups, n.outChannels, `${n.name} is depthwise`);
  }
  for (const n of pws) assert.equal([n.kernel, n.stride, n.padding, n.groups], [[1, 1], [1, 1], [0, 0], 1], n.name);
  const s = createModel('mobilenetv1_100').summary(224);
  const shape = (n: string) => s.rows.find((r) => r.name === n)?.outputShape;
  assert.equal(shape('bn1.act'), [112, 112, 32]);
  assert.equal(shape('blocks.0.0.bn2.act'), [112, 112, 64]);
  assert.equal(shape('blocks.1.0.conv_dw'), [56, 56, 64]);
  assert.equal(shape('blocks.3.5.bn2.act'), [14, 14, 512]);
  assert.equal(shape('blocks.4.1.bn2.act'), [7, 7, 1024]);
  assert.equal(shape('global_pool'), [1024]);
  assert.equal(shape('classifier'), [1000]);
  // Every conv is followed by its BN and that BN by a ReLU; no residual adds, no pooling but the head's.
  assert.not.ok(s.rows.some((r) => r.type === 'add' || r.type === 'maxpool2d' || r.type === 'avgpool2d'));
  assert.is(s.rows.filter((r) => r.type === 'relu').length, 27);
});

test("keys and order are timm's mobilenetv1_100 state dict (less num_batches_tracked)", () => {
  const specs = createModel('mobilenetv1_100').parameters();
  const keys = specs.map((p) => p.name);
  const block = (p: string) => [`${p}.conv_dw.weight`, ...bn(`${p}.bn1`), `${p}.conv_pw.weight`, ...bn(`${p}.bn2`)];
  const stages = [1, 2, 2, 6, 2];
  const expected = ['conv_stem.weight', ...bn('bn1')];
  stages.forEach((n, s) => {
    for (let i = 0; i < n; i++) expected.push(...block(`blocks.${s}.${i}`));
  });
  expected.push('classifier.weight', 'classifier.bias');
  assert.equal(keys, expected);
  assert.is(keys.length, 137);
  const shape = new Map(specs.map((p) => [p.name, p.shape]));
  assert.equal(shape.get('conv_stem.weight'), [32, 3, 3, 3]);
  assert.equal(shape.get('blocks.0.0.conv_dw.weight'), [32, 1, 3, 3]);
  assert.equal(shape.get('blocks.0.0.conv_pw.weight'), [64, 32, 1, 1]);
  assert.equal(shape.get('blocks.4.1.conv_dw.weight'), [1024, 1, 3, 3]);
  assert.equal(shape.get('classifier.weight'), [1000, 1024]);
  assert.equal(shape.get('classifier.bias'), [1000]);
  assert.not.ok(keys.some((k) => /conv_(stem|dw|pw)\.bias$/.test(k)), 'convs have no bias');
  const decayed = specs.filter((p) => p.decay).map((p) => p.name);
  assert.is(decayed.length, 28, 'weight decay on the 27 conv weights and the classifier weight only');
});

test("width rounding is timm's make_divisible: multiples of 8, at least 8, never 10% under", () => {
  assert.equal([32, 64, 128, 1024].map((c) => makeDivisible(c * 0.25)), [8, 16, 32, 256]);
  assert.equal([32, 64, 128, 1024].map((c) => makeDivisible(c * 0.75)), [24, 48, 96, 768]);
  assert.is(makeDivisible(3), 8, 'at least the divisor');
  assert.is(makeDivisible(12), 16, 'half up: 12 → 16');
  assert.is(makeDivisible(11.9), 8 + 8, '11.9 → 8 is more than 10% under, so 16');
  assert.is(makeDivisible(83), 80, '80 ≥ 0.9 × 83');
  assert.is(makeDivisible(91), 88, '88 ≥ 0.9 × 91 = 81.9');
  const shape = new Map(createModel('mobilenetv1_025').parameters().map((p) => [p.name, p.shape]));
  assert.equal(shape.get('conv_stem.weight'), [8, 3, 3, 3]);
  assert.equal(shape.get('blocks.0.0.conv_pw.weight'), [16, 8, 1, 1]);
  assert.equal(shape.get('classifier.weight'), [1000, 256], 'classes are not scaled');
  const odd = new Map(createModel('mobilenetv1_100', { width: 0.3, numClasses: 7 }).parameters().map((p) => [p.name, p.shape]));
  assert.equal(odd.get('blocks.0.0.conv_pw.weight'), [24, 16, 1, 1], '0.3 × 32 = 9.6 → 8 is < 0.9 × 9.6, so 16; 0.3 × 64 = 19.2 → 24');
});

test('CIFAR stem: the stem conv and blocks.1.0 at stride 1, the blocks at 32, 16, 8, 4 pixels', () => {
  const m = createModel('mobilenetv1_050', { stem: 'cifar', numClasses: 10 });
  const c = m.graph().nodes.filter((n): n is Conv2dNode => n.op === 'conv2d');
  assert.equal(c.find((n) => n.name === 'conv_stem')!.stride, [1, 1]);
  assert.equal(c.filter((n) => n.name.endsWith('conv_dw')).map((n) => n.stride[0]), [1, 1, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]);
  const s = m.summary(32);
  const shape = (n: string) => s.rows.find((r) => r.name === n)?.outputShape;
  assert.equal(shape('bn1.act'), [32, 32, 16]);
  assert.equal(shape('blocks.1.1.bn2.act'), [32, 32, 64]);
  assert.equal(shape('blocks.2.1.bn2.act'), [16, 16, 128]);
  assert.equal(shape('blocks.3.5.bn2.act'), [8, 8, 256]);
  assert.equal(shape('blocks.4.1.bn2.act'), [4, 4, 512]);
  assert.equal(shape('classifier'), [10]);
  assert.is(s.params, 823_722);
  assert.is(s.macs, 45_310_976);
  // Same tensors as the ImageNet stem: only strides differ.
  assert.equal(
    m.parameters().filter((p) => !p.name.startsWith('classifier')),
    createModel('mobilenetv1_050').parameters().filter((p) => !p.name.startsWith('classifier')),
  );
});

test('zero-γ has nothing to zero (no residual block): every γ starts at 1 with it on or off', () => {
  const on = createModel('mobilenetv1_025', { zeroGamma: true }).initialParameters();
  const off = createModel('mobilenetv1_025', { zeroGamma: false }).initialParameters();
  for (const [k, v] of on) {
    assert.equal(Array.from(v), Array.from(off.get(k)!), k);
    if (k.endsWith('.weight') && !k.includes('conv') && !k.startsWith('classifier')) assert.ok(v.every((x) => x === 1), `${k} is a γ of 1`);
  }
});

test('Xavier-uniform init as the ResNets: a depthwise 3×3 has fan_in = fan_out = 9', () => {
  const m = createModel('mobilenetv1_100');
  const init = m.initialParameters();
  const dw = init.get('blocks.3.2.conv_dw.weight')!;
  const a = Math.sqrt(6 / 18);
  assert.is(xavierBound([512, 1, 3, 3], 512), a);
  let max = 0;
  for (const x of dw) max = Math.max(max, Math.abs(x));
  assert.ok(max <= Math.fround(a) && max > 0.95 * a, `max |w| ${max} against a = ${a}`);
  const pw = init.get('blocks.3.2.conv_pw.weight')!;
  const b = Math.sqrt(6 / (512 + 512));
  max = 0;
  for (const x of pw) max = Math.max(max, Math.abs(x));
  assert.ok(max <= Math.fround(b) && max > 0.99 * b, `pointwise max |w| ${max} against ${b}`);
  for (const k of ['classifier.bias', 'bn1.bias', 'blocks.0.0.bn1.running_mean']) assert.ok(init.get(k)!.every((x) => x === 0), k);
  assert.ok(init.get('blocks.0.0.bn2.running_var')!.every((x) => x === 1));
});

test('mobilenetv1_025 (CIFAR stem, 3 classes, 16², batch 2): Net gradients equal the composed single ops', async () => {
  const model = createModel('mobilenetv1_025', { numClasses: 3, stem: 'cifar', seed: 4 });
  const net = Net.fromModel(model, { batchSize: 2, inputSize: 16 });
  const rng = new Rng(41);
  const images = rng.tensor([2, 16, 16, 3]);
  const labels = Int32Array.from([2, 0]);
  const r = await net.forwardBackward({ images, labels, smoothing: 0.1, lr: 0 });
  const grads = net.getGradients();
  const ref = composedStep(model.graph(), net.getParameters(), images, labels, 0.1);
  expectClose([r.loss], [ref.loss], { op: 'net loss', seed: 41 }, { atol: 1e-5, rtol: 1e-5 });
  for (const p of net.parameterInfo().filter((q) => q.trainable)) {
    const scale = ref.grads[p.name].reduce((m, v) => Math.max(m, Math.abs(v)), 1e-6);
    expectClose(grads[p.name].data, ref.grads[p.name], { op: `dL/d${p.name}`, seed: 41 }, { atol: 2e-4 * scale, rtol: 2e-3 });
  }
  // Training moves the loss down on a fixed batch; eval mode runs with the BNs folded.
  let first = 0;
  let last = 0;
  for (let i = 0; i < 8; i++) {
    const s = await net.trainStep({ images, labels, lr: 0.05 });
    if (i === 0) first = s.loss;
    last = s.loss;
  }
  assert.ok(last < first, `loss ${first} → ${last}`);
  const logits = await net.forward(images);
  assert.equal(logits.shape, [2, 3]);
  assert.ok(Array.from(logits.data).every(Number.isFinite));
  net.dispose();
});

test('bagoftricks train --model mobilenetv1_025 --stem cifar: both recipes run, checkpoint and eval', () => {
  const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-mobilenet-train-'));
  try {
    for (const recipe of ['baseline', 'tricks']) {
      const out = path.join(dir, recipe);
      const r = spawnSync(process.execPath, [cli, 'train', '--model', 'mobilenetv1_025', '--stem', 'cifar', '--size', '16', '--limit', '200', '--batch-size', '32',
        '--epochs', '1', '--recipe', recipe, '--backend', 'cpu', '--out', out, '--json'], { encoding: 'utf8', timeout: 300_000 });
      assert.is(r.status, 0, r.stderr);
      const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; model?: string; top1?: number });
      assert.is(events[0].model, 'mobilenetv1_025');
      const done = events[events.length - 1];
      assert.is(done.event, 'done', recipe);
      assert.ok(Number.isFinite(done.top1), `${recipe}: top-1 ${done.top1}`);
      const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
      assert.is(config.model.name, 'mobilenetv1_025');
      const c = config.model.config;
      assert.is(c.multiplier, 0.25);
      assert.is(config.model.params, createModel('mobilenetv1_025', { stem: c.stem, numClasses: c.numClasses, width: c.width, inputChannels: c.inputChannels }).summary(16).params);
      const ev = spawnSync(process.execPath, [cli, 'eval', '--checkpoint', path.join(out, 'last.safetensors'), '--json'], { encoding: 'utf8', timeout: 120_000 });
      assert.is(ev.status, 0, ev.stderr);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
