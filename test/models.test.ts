/**
 * The model zoo: published parameter counts for every row of the table, multiply-adds,
 * the CIFAR stem, the width multiplier, graph well-formedness, timm state-dict keys,
 * zero-γ, the paper's Xavier initialisation and determinism, and coded errors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { GraphDesc, ParameterSpec } from '../lib/models';
import { deriveSeed, Random } from '../lib/random';
import { expectCode, Rng } from './helpers/compare';
import { bot } from './helpers/lib';
import type { ModelName } from '../lib/models';

// The models as users load them: through the package's entry point.
const { analyzeGraph, createModel, listModels, xavierBound } = bot.models;

const DEPTHS = [18, 34, 50, 101, 152] as const;
const VARIANTS = ['a', '', 'c', 'd'] as const;

/** torchvision/timm published parameter counts (ResNet v1 A and B have the same parameters). */
const PUBLISHED_PARAMS: Record<number, number> = {
  18: 11_689_512,
  34: 21_797_672,
  50: 25_557_032,
  101: 44_549_160,
  152: 60_192_808,
};
/** The deep stem (3×3 convs 3→32→32→64 with two extra BNs) minus the 7×7 conv: 28,768 − 9,536. */
const DEEP_STEM_EXTRA = 19_232;

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const gammaKeys = (ps: ParameterSpec[]) => ps.filter((p) => p.kind === 'gamma').map((p) => p.name);

test('the tables have exactly the 20 ResNet rows (5 depths × A, B, C, D) and the 4 MobileNetV1 widths', () => {
  const expected = [...DEPTHS.flatMap((d) => VARIANTS.map((v) => `resnet${d}${v}`)), 'mobilenetv1_100', 'mobilenetv1_075', 'mobilenetv1_050', 'mobilenetv1_025'];
  assert.equal([...listModels()].sort(), [...expected].sort());
  assert.equal(bot.listModels(), listModels(), 'exported from the package root');
  assert.type(bot.models.createModel, 'function');
});

test('parameter counts equal the published ones for every row (C and D add 19,232)', () => {
  for (const d of DEPTHS) {
    for (const v of VARIANTS) {
      const name = `resnet${d}${v}`;
      const s = createModel(name as ModelName).summary();
      const expected = PUBLISHED_PARAMS[d] + (v === 'c' || v === 'd' ? DEEP_STEM_EXTRA : 0);
      assert.is(s.params, expected, name);
      assert.is(s.trainableParams, expected, `${name} trainable`);
      assert.is(s.rows.reduce((n, r) => n + r.params, 0), expected, `${name}: rows add up`);
      const specs = createModel(name as ModelName).parameters();
      assert.is(s.buffers, specs.filter((p) => !p.trainable).reduce((n, p) => n + numel(p.shape), 0));
    }
  }
  assert.is(createModel('resnet50d').summary().params, 25_576_264);
});

test('multiply-adds at 224²: exact conv+linear counts, and timm-table counts that round to 1.82 / 4.11 / 4.35 G', () => {
  // Conv and linear multiply-adds (torchvision's "GFLOPS" column: 1.81, 4.09).
  const MACS: Record<string, number> = {
    resnet18: 1_814_073_344,
    resnet50a: 3_857_973_248,
    resnet50: 4_089_184_256,
    resnet50d: 4_328_824_832,
  };
  // Plus one per BN and ReLU output element: the convention of timm's table ("GMACs").
  const TIMM: Record<string, [number, number]> = {
    resnet18: [1_818_865_152, 1.82],
    resnet50: [4_109_906_944, 4.11],
    resnet50d: [4_351_153_152, 4.35],
  };
  for (const [name, macs] of Object.entries(MACS)) assert.is(createModel(name as ModelName).summary(224).macs, macs, name);
  for (const [name, [macs, published]] of Object.entries(TIMM)) {
    const s = createModel(name as ModelName).summary();
    assert.is(s.timmMacs, macs, name);
    assert.is(Math.round(s.timmMacs / 1e7) / 100, published, `${name} rounds to timm's ${published} G`);
  }
  assert.is(Math.round(MACS.resnet18 / 1e7) / 100, 1.81);
  assert.is(Math.round(MACS.resnet50 / 1e7) / 100, 4.09);
});

test('A and B differ only in multiply-adds (bottlenecks), not in parameters; basic blocks are identical', () => {
  for (const d of DEPTHS) {
    const a = createModel(`resnet${d}a`);
    const b = createModel(`resnet${d}`);
    assert.equal(a.parameters(), b.parameters(), `resnet${d}: same keys and shapes`);
    const sa = a.summary();
    const sb = b.summary();
    assert.is(sa.params, sb.params);
    if (d < 50) assert.is(sa.macs, sb.macs, `resnet${d}: basic blocks put the stride on the 3×3 in both`);
    else assert.ok(sa.macs < sb.macs, `resnet${d}a's strided 1×1 conv skips 3/4 of its input`);
    // A: stride on conv1 (1×1); B: on conv2 (3×3).
    const conv = (m: typeof a, n: string) => m.graph().nodes.find((x) => x.name === n) as { stride: number[] };
    if (d >= 50) {
      assert.equal([conv(a, 'layer2.0.conv1').stride, conv(a, 'layer2.0.conv2').stride], [[2, 2], [1, 1]]);
      assert.equal([conv(b, 'layer2.0.conv1').stride, conv(b, 'layer2.0.conv2').stride], [[1, 1], [2, 2]]);
    }
  }
  // C and D: the same tensors (D's shortcut keys shift by one for the pool), and the same MACs
  // since pooling is not counted.
  const shapes = (n: string) => createModel(n as ModelName).parameters().map((p) => p.shape);
  assert.equal(shapes('resnet50c'), shapes('resnet50d'));
  assert.is(createModel('resnet50c').summary().macs, createModel('resnet50d').summary().macs);
});

test('CIFAR stem: 3×3 stride-1 first conv, no max pool; layer1..4 at 32, 16, 8, 4 pixels', () => {
  const shapeOf = (s: ReturnType<ReturnType<typeof createModel>['summary']>, n: string) => s.rows.find((r) => r.name === n)?.outputShape;
  const r18 = createModel('resnet18', { stem: 'cifar', numClasses: 10 });
  const s = r18.summary(32);
  assert.is(s.rows.some((r) => r.type === 'maxpool2d'), false);
  assert.equal(r18.parameters()[0], { name: 'conv1.weight', shape: [64, 3, 3, 3], kind: 'weight', trainable: true, decay: true });
  assert.equal(shapeOf(s, 'act1'), [32, 32, 64]);
  assert.equal(shapeOf(s, 'layer1.1.act2'), [32, 32, 64]);
  assert.equal(shapeOf(s, 'layer2.1.act2'), [16, 16, 128]);
  assert.equal(shapeOf(s, 'layer3.1.act2'), [8, 8, 256]);
  assert.equal(shapeOf(s, 'layer4.1.act2'), [4, 4, 512]);
  assert.equal(shapeOf(s, 'fc'), [10]);
  assert.is(s.params, 11_173_962, 'the usual CIFAR ResNet-18');
  assert.is(s.macs, 555_422_720);

  const d = createModel('resnet50d', { stem: 'cifar', numClasses: 100 });
  const sd = d.summary(32);
  for (const n of ['conv1.0', 'conv1.3', 'conv1.6']) {
    const node = d.graph().nodes.find((x) => x.name === n) as { stride: number[]; kernel: number[] };
    assert.equal([node.kernel, node.stride], [[3, 3], [1, 1]], n);
  }
  assert.equal(shapeOf(sd, 'conv1.6'), [32, 32, 64]);
  assert.equal(shapeOf(sd, 'layer2.0.downsample.0'), [16, 16, 256]);
  assert.equal(shapeOf(sd, 'layer4.2.act3'), [4, 4, 2048]);
  assert.equal(shapeOf(sd, 'fc'), [100]);
  assert.is(sd.rows.some((r) => r.type === 'maxpool2d'), false);
});

test('ImageNet shapes at 224 and at odd sizes (ceil-mode D shortcut agrees with the strided main path)', () => {
  const s = createModel('resnet50d').summary(224);
  const shapeOf = (n: string) => s.rows.find((r) => r.name === n)?.outputShape;
  assert.equal(shapeOf('maxpool'), [56, 56, 64]);
  assert.equal(shapeOf('layer4.2.act3'), [7, 7, 2048]);
  assert.equal(shapeOf('global_pool'), [2048]);
  for (const size of [225, 97, 33, 1]) {
    for (const name of ['resnet50d', 'resnet50a', 'resnet18d']) {
      const t = createModel(name as ModelName).summary(size); // an add of mismatched shapes would throw ERR_SHAPE
      assert.equal(t.rows[t.rows.length - 1].outputShape, [1000], `${name} at ${size}`);
    }
  }
  const odd = createModel('resnet50d').summary([225, 161]);
  assert.equal(odd.rows.find((r) => r.name === 'layer2.0.downsample.0')?.outputShape, [29, 21, 256]);
});

test('width multiplies every channel count with max(1, round(c · width)), stem included', () => {
  const m = createModel('resnet50', { width: 0.25 });
  const shapes = new Map(m.parameters().map((p) => [p.name, p.shape]));
  assert.equal(shapes.get('conv1.weight'), [16, 3, 7, 7]);
  assert.equal(shapes.get('layer1.0.conv1.weight'), [16, 16, 1, 1]);
  assert.equal(shapes.get('layer1.0.conv3.weight'), [64, 16, 1, 1]);
  assert.equal(shapes.get('layer4.0.downsample.0.weight'), [512, 256, 1, 1]);
  assert.equal(shapes.get('fc.weight'), [1000, 512], 'classes are not scaled');
  assert.is(m.summary().params, 1_993_976);
  assert.is(m.summary().macs, 278_085_632);
  const d = new Map(createModel('resnet50d', { width: 0.25 }).parameters().map((p) => [p.name, p.shape]));
  assert.equal([d.get('conv1.0.weight'), d.get('conv1.3.weight'), d.get('conv1.6.weight')], [[8, 3, 3, 3], [8, 8, 3, 3], [16, 8, 3, 3]]);
  // Rounding is per channel count, not per base width: round(256·0.3) = 77, round(64·0.3) = 19.
  const w3 = new Map(createModel('resnet50', { width: 0.3 }).parameters().map((p) => [p.name, p.shape]));
  assert.equal(w3.get('layer1.0.conv3.weight'), [77, 19, 1, 1]);
  const tiny = createModel('resnet18', { width: 0.001, numClasses: 2 });
  assert.ok(tiny.parameters().every((p) => p.name.startsWith('fc') || p.shape[0] === 1), 'at least one channel');
  tiny.summary(16);
});

/** Structural checks of a graph against its parameter list. */
function checkGraph(name: string, g: GraphDesc, specs: ParameterSpec[]): void {
  const OPS = new Set(['conv2d', 'batchnorm', 'relu', 'add', 'maxpool2d', 'avgpool2d', 'globalavgpool', 'linear']);
  const seen = new Set<string>(['input']);
  const used = new Map<string, number>();
  const specByName = new Map(specs.map((p) => [p.name, p]));
  assert.is(specByName.size, specs.length, `${name}: parameter names are unique`);
  const channels = new Map<string, number>([['input', g.inputChannels]]);
  for (const n of g.nodes) {
    assert.ok(OPS.has(n.op), `${name}: op ${n.op}`);
    assert.not.ok(seen.has(n.name), `${name}: node ${n.name} is unique`);
    assert.is(n.inputs.length, n.op === 'add' ? 2 : 1, `${name}: arity of ${n.name}`);
    for (const i of n.inputs) assert.ok(seen.has(i), `${name}: ${n.name} reads ${i}, defined earlier`);
    const cin = channels.get(n.inputs[0])!;
    const keys: [string, number[], ParameterSpec['kind']][] = [];
    let cout = cin;
    if (n.op === 'conv2d') {
      keys.push([n.weight, [n.outChannels, cin / n.groups, ...n.kernel], 'weight']);
      cout = n.outChannels;
    } else if (n.op === 'batchnorm') {
      keys.push([n.weight, [cin], 'gamma'], [n.bias, [cin], 'beta'], [n.runningMean, [cin], 'running_mean'], [n.runningVar, [cin], 'running_var']);
      assert.equal([n.eps, n.momentum], [1e-5, 0.1]);
    } else if (n.op === 'linear') {
      keys.push([n.weight, [n.outFeatures, cin], 'weight']);
      if (n.bias) keys.push([n.bias, [n.outFeatures], 'bias']);
      cout = n.outFeatures;
    } else if (n.op === 'add') {
      assert.is(channels.get(n.inputs[1]), cin, `${name}: ${n.name} adds equal channels`);
    }
    for (const [key, shape, kind] of keys) {
      const spec = specByName.get(key);
      assert.ok(spec, `${name}: ${key} is declared`);
      assert.equal(spec!.shape, shape, `${name}: shape of ${key}`);
      assert.is(spec!.kind, kind, `${name}: kind of ${key}`);
      used.set(key, (used.get(key) ?? 0) + 1);
    }
    channels.set(n.name, cout);
    seen.add(n.name);
  }
  for (const p of specs) {
    assert.is(used.get(p.name), 1, `${name}: ${p.name} is used by exactly one node`);
    assert.is(p.trainable, p.kind !== 'running_mean' && p.kind !== 'running_var', `${name}: trainable ${p.name}`);
    assert.is(p.decay, p.kind === 'weight', `${name}: no bias decay for ${p.name}`);
  }
  assert.is(g.output, name.startsWith('mobilenet') ? 'classifier' : 'fc');
  assert.is(g.nodes[g.nodes.length - 1].name, g.output);
}

test('graphs are well formed and agree with parameters() for every row, both stems, odd widths and classes', () => {
  for (const name of listModels()) {
    for (const options of [{}, { stem: 'cifar' as const, numClasses: 10, width: 0.3, inputChannels: 1 }]) {
      const m = createModel(name, options);
      checkGraph(name, m.graph(), m.parameters());
      analyzeGraph(m.graph(), m.parameters(), options.stem ? [32, 32] : [224, 224]);
    }
  }
  const m = createModel('resnet18');
  const g = m.graph();
  g.nodes.length = 0;
  assert.ok(m.graph().nodes.length > 0, 'graph() returns a copy');
});

test('analyzeGraph rejects malformed graphs with ERR_SHAPE naming the node', () => {
  const m = createModel('resnet18', { width: 0.25 });
  const base = () => m.graph();
  const later = base();
  (later.nodes[0] as { inputs: string[] }).inputs = ['layer1.0.conv1'];
  expectCode(() => analyzeGraph(later, m.parameters(), [64, 64]), 'ERR_SHAPE', 'input defined later');
  const badShape = m.parameters();
  badShape[0].shape = [16, 3, 3, 3];
  expectCode(() => analyzeGraph(base(), badShape, [64, 64]), 'ERR_SHAPE', 'weight shape');
  const missing = m.parameters().filter((p) => p.name !== 'fc.bias');
  expectCode(() => analyzeGraph(base(), missing, [64, 64]), 'ERR_SHAPE', 'missing parameter');
  const badAdd = base();
  const add = badAdd.nodes.find((n) => n.name === 'layer2.0.add') as { inputs: string[] };
  add.inputs[1] = 'layer1.0.act1'; // 16 channels at 16×16, the main path has 32 at 8×8
  expectCode(() => analyzeGraph(badAdd, m.parameters(), [64, 64]), 'ERR_SHAPE', 'add of different shapes');
});

test('resnet50 parameter keys and order are timm\'s state dict (less num_batches_tracked)', () => {
  const keys = createModel('resnet50').parameters().map((p) => p.name);
  const bn = (p: string) => [`${p}.weight`, `${p}.bias`, `${p}.running_mean`, `${p}.running_var`];
  assert.equal(keys.slice(0, 30), [
    'conv1.weight', ...bn('bn1'),
    'layer1.0.conv1.weight', ...bn('layer1.0.bn1'),
    'layer1.0.conv2.weight', ...bn('layer1.0.bn2'),
    'layer1.0.conv3.weight', ...bn('layer1.0.bn3'),
    'layer1.0.downsample.0.weight', ...bn('layer1.0.downsample.1'),
    'layer1.1.conv1.weight', ...bn('layer1.1.bn1'),
  ]);
  for (const k of [
    'layer2.0.downsample.0.weight', 'layer2.0.downsample.1.running_var', 'layer3.5.bn3.weight',
    'layer4.0.downsample.1.bias', 'layer4.2.conv3.weight',
  ]) assert.ok(keys.includes(k), k);
  assert.equal(keys.slice(-7), ['layer4.2.conv3.weight', ...bn('layer4.2.bn3'), 'fc.weight', 'fc.bias']);
  assert.is(keys.length, 267, '53 convs, 53 BNs × 4, fc weight and bias');
  assert.not.ok(keys.some((k) => k.includes('layer1.1.downsample') || k.includes('downsample.2')));
});

test('resnet50d keys: deep stem conv1.0/1/3/4/6, and downsample.1 (conv) / downsample.2 (BN) after the pool', () => {
  const specs = createModel('resnet50d').parameters();
  const keys = specs.map((p) => p.name);
  const bn = (p: string) => [`${p}.weight`, `${p}.bias`, `${p}.running_mean`, `${p}.running_var`];
  assert.equal(keys.slice(0, 16), [
    'conv1.0.weight', ...bn('conv1.1'), 'conv1.3.weight', ...bn('conv1.4'), 'conv1.6.weight', ...bn('bn1'), 'layer1.0.conv1.weight',
  ]);
  for (const l of [1, 2, 3, 4]) {
    assert.equal(
      keys.filter((k) => k.startsWith(`layer${l}.`) && k.includes('downsample')),
      [`layer${l}.0.downsample.1.weight`, ...bn(`layer${l}.0.downsample.2`)],
      `layer${l}`,
    );
  }
  const shape = new Map(specs.map((p) => [p.name, p.shape]));
  assert.equal(shape.get('conv1.0.weight'), [32, 3, 3, 3]);
  assert.equal(shape.get('conv1.3.weight'), [32, 32, 3, 3]);
  assert.equal(shape.get('conv1.6.weight'), [64, 32, 3, 3]);
  assert.equal(shape.get('layer1.0.downsample.1.weight'), [256, 64, 1, 1]);
  assert.equal(shape.get('layer3.0.downsample.1.weight'), [1024, 512, 1, 1]);
  assert.is(keys.length, 277);
  // The pool exists where the stride is 2 (layer2..4), not in layer1 (timm: Identity).
  const nodes = createModel('resnet50d').graph().nodes;
  const pools = nodes.filter((n) => n.op === 'avgpool2d');
  assert.equal(pools.map((n) => n.name), ['layer2.0.downsample.0', 'layer3.0.downsample.0', 'layer4.0.downsample.0']);
  const poolInput: Record<string, string> = {
    'layer2.0.downsample.0': 'layer1.2.act3',
    'layer3.0.downsample.0': 'layer2.3.act3',
    'layer4.0.downsample.0': 'layer3.5.act3',
  };
  for (const p of pools) {
    assert.equal(p, {
      op: 'avgpool2d', name: p.name, inputs: [poolInput[p.name]],
      kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceilMode: true, countIncludePad: false,
    });
  }
  const conv = nodes.find((n) => n.name === 'layer2.0.downsample.1') as { stride: number[]; inputs: string[] };
  assert.equal([conv.stride, conv.inputs], [[1, 1], ['layer2.0.downsample.0']]);
  const ds1 = nodes.find((n) => n.name === 'layer1.0.downsample.1') as { stride: number[]; inputs: string[] };
  assert.equal([ds1.stride, ds1.inputs], [[1, 1], ['maxpool']]);
  // resnet18d: basic blocks keep channels in layer1, so only layer2..4 have a shortcut.
  assert.equal(
    createModel('resnet18d').parameters().filter((p) => p.name.endsWith('downsample.1.weight')).map((p) => p.name),
    ['layer2.0.downsample.1.weight', 'layer3.0.downsample.1.weight', 'layer4.0.downsample.1.weight'],
  );
});

test('zero-γ: exactly the last BN of every block starts at γ = 0; all else as PyTorch BN', () => {
  for (const [name, last, blocks] of [['resnet50', 'bn3', 16], ['resnet18d', 'bn2', 8]] as const) {
    const m = createModel(name, { width: 0.25 });
    const init = m.initialParameters();
    const isLast = new RegExp(`^layer\\d\\.\\d+\\.${last}\\.weight$`);
    const gammas = gammaKeys(m.parameters());
    assert.is(gammas.filter((k) => isLast.test(k)).length, blocks);
    for (const k of gammas) {
      const v = init.get(k)!;
      const want = isLast.test(k) ? 0 : 1;
      assert.ok(v.every((x) => x === want), `${name}: ${k} should be ${want}`);
    }
    for (const p of m.parameters()) {
      const v = init.get(p.name)!;
      assert.is(v.length, numel(p.shape), p.name);
      if (p.kind === 'beta' || p.kind === 'bias' || p.kind === 'running_mean') assert.ok(v.every((x) => x === 0), p.name);
      if (p.kind === 'running_var') assert.ok(v.every((x) => x === 1), p.name);
    }
    const off = createModel(name, { width: 0.25, zeroGamma: false }).initialParameters();
    for (const k of gammas) assert.ok(off.get(k)!.every((x) => x === 1), `zeroGamma false: ${k}`);
  }
  // The shortcut's BN is never zeroed.
  const d = createModel('resnet50d', { width: 0.25 }).initialParameters();
  assert.ok(d.get('layer2.0.downsample.2.weight')!.every((x) => x === 1));
});

test('Xavier-uniform init (paper §3.1): bound sqrt(6/(fan_in+fan_out)) with kernel area, mean 0, variance a²/3', () => {
  const m = createModel('resnet50');
  const init = m.initialParameters();
  assert.equal([...init.keys()], m.parameters().map((p) => p.name), 'same keys, same order');
  // Hand-computed fans: conv1 7×7 3→64: 147 and 3136; fc 2048→1000.
  assert.is(xavierBound([64, 3, 7, 7]), Math.sqrt(6 / (3 * 49 + 64 * 49)));
  assert.is(xavierBound([1000, 2048]), Math.sqrt(6 / 3048));
  assert.is(xavierBound([512, 512, 3, 3]), Math.sqrt(6 / (512 * 9 * 2)));
  assert.is(xavierBound([32, 1, 3, 3], 32), Math.sqrt(6 / (9 + 9)), 'depthwise: fan_out = out·kh·kw/groups');
  for (const key of ['conv1.weight', 'layer1.0.conv1.weight', 'layer4.0.conv2.weight', 'layer4.0.downsample.0.weight', 'fc.weight']) {
    const w = init.get(key)!;
    const a = xavierBound(m.parameters().find((p) => p.name === key)!.shape);
    let max = 0;
    let sum = 0;
    let sq = 0;
    const bins = new Array(10).fill(0);
    for (const x of w) {
      max = Math.max(max, Math.abs(x));
      sum += x;
      sq += x * x;
      bins[Math.min(9, Math.floor(((x + a) / (2 * a)) * 10))]++;
    }
    const n = w.length;
    const mean = sum / n;
    const variance = sq / n - mean * mean;
    // Deterministic (seeded), and the margins are ≥ 6 standard errors: sd(mean) = a/√(3n),
    // sd(variance)/(a²/3) ≈ 0.894/√n, sd(bin)/bin ≈ 3/√n.
    assert.ok(max <= Math.fround(a), `${key}: max |w| ${max} ≤ a ${a}`);
    assert.ok(max > a * (1 - 20 / n), `${key}: the range reaches ±a (max ${max}, a ${a})`);
    assert.ok(Math.abs(mean) < (6 * a) / Math.sqrt(3 * n), `${key}: mean ${mean}`);
    assert.ok(Math.abs(variance / ((a * a) / 3) - 1) < 6 * 0.894 / Math.sqrt(n), `${key}: variance ${variance} vs ${(a * a) / 3}`);
    for (const b of bins) assert.ok(Math.abs(b / (n / 10) - 1) < 6 * 3 / Math.sqrt(n), `${key}: uniform histogram ${bins}`);
  }
});

test('initialisation is deterministic per seed; each tensor has its own stream', () => {
  const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const a = createModel('resnet18', { width: 0.25 }).initialParameters();
  const b = createModel('resnet18', { width: 0.25 }).initialParameters();
  const c = createModel('resnet18', { width: 0.25, seed: 1 }).initialParameters();
  const d = createModel('resnet18', { width: 0.25, numClasses: 7 }).initialParameters();
  for (const [k, v] of a) {
    assert.ok(bytes(v).equals(bytes(b.get(k)!)), `same seed: ${k}`);
    if (k.endsWith('conv1.weight') || k === 'fc.weight') assert.not.ok(bytes(v).equals(bytes(c.get(k)!)), `seed 1 differs: ${k}`);
    if (!k.startsWith('fc.')) assert.ok(bytes(v).equals(bytes(d.get(k)!)), `numClasses leaves ${k} alone`);
  }
  assert.not.ok(bytes(a.get('layer1.0.conv1.weight')!).equals(bytes(a.get('layer1.1.conv1.weight')!)), 'different tensors, different streams');
  // Pinned values: any change to the generator, the stream derivation or the bound shows here.
  assert.is(deriveSeed(0, 'conv1.weight'), 4099197707);
  assert.is(deriveSeed(1, 'conv1.weight'), 3474448273);
  assert.equal(Array.from(a.get('conv1.weight')!.slice(0, 4)), [-0.01880720630288124, -0.06596369296312332, 0.04248903691768646, -0.07017484307289124]);
  assert.equal(Array.from(a.get('fc.weight')!.slice(0, 2)), [-0.06532429903745651, 0.03505939990282059]);
  // lib/random.ts is mulberry32: it agrees with the independent copy in the test helper.
  for (const seed of [0, 1, 123456789, 2 ** 32 - 1]) {
    const r = new Random(seed);
    const h = new Rng(seed);
    for (let i = 0; i < 100; i++) assert.is(r.uniform(), h.uniform(), `seed ${seed} draw ${i}`);
    const f = new Random(seed).fillUniform(new Float32Array(5), -2, 3);
    const g = new Rng(seed);
    assert.equal(Array.from(f), Array.from(f.map(() => Math.fround(-2 + 5 * g.uniform()))));
  }
});

test('unknown names and bad options throw ERR_ARGUMENT with the expectation in the message', () => {
  try {
    createModel('resnet51' as ModelName);
    assert.unreachable('resnet51 accepted');
  } catch (e) {
    const err = e as { code: string; message: string; name: string };
    assert.is(err.code, 'ERR_ARGUMENT');
    assert.instance(e, bot.BagOfTricksError);
    for (const n of listModels()) assert.ok(err.message.includes(n), `message lists ${n}: ${err.message}`);
    assert.match(err.message, '"resnet51"');
  }
  expectCode(() => createModel(42 as unknown as ModelName), 'ERR_ARGUMENT', 'non-string name');
  expectCode(() => createModel('toString' as ModelName), 'ERR_ARGUMENT', 'prototype key');
  const bad: [string, unknown][] = [
    ['numClasses', 0], ['numClasses', 2.5], ['numClasses', '10'], ['width', 0], ['width', -1], ['width', NaN],
    ['width', 17], ['width', Infinity], ['stem', 'deep'], ['zeroGamma', 1], ['seed', -1], ['seed', 2 ** 32],
    ['seed', 0.5], ['inputChannels', 0], ['classes', 10],
  ];
  for (const [k, v] of bad) expectCode(() => createModel('resnet18', { [k]: v } as never), 'ERR_ARGUMENT', `${k}=${String(v)}`);
  expectCode(() => createModel('resnet18', null as never), 'ERR_ARGUMENT', 'null options');
  expectCode(() => createModel('resnet18', { numClasses: 0 }), 'ERR_ARGUMENT');
  const m = createModel('resnet18');
  for (const size of [0, 1.5, -3, 100_000, '224', [224]]) expectCode(() => m.summary(size as never), 'ERR_ARGUMENT', `summary(${String(size)})`);
  assert.is(createModel('resnet18', { seed: 2 ** 32 - 1, width: 16, numClasses: 1 }).config.width, 16, 'limits are inclusive');
});

test('config is the resolved row plus options', () => {
  assert.equal(createModel('resnet50d').config, {
    block: 'bottleneck', layers: [3, 4, 6, 3], stemType: 'deep', downsample: 'avg', strideOn: '3x3',
    numClasses: 1000, width: 1, stem: 'imagenet', zeroGamma: true, seed: 0, inputChannels: 3,
  });
  const m = createModel('resnet18a', { stem: 'cifar', numClasses: 10, seed: 3, zeroGamma: undefined });
  assert.equal([m.name, m.config.block, m.config.strideOn, m.config.stem, m.config.numClasses, m.config.seed, m.config.zeroGamma], ['resnet18a', 'basic', '1x1', 'cifar', 10, 3, true]);
  assert.is(m.graph().inputChannels, 3);
  assert.is(createModel('resnet18', { inputChannels: 1 }).parameters()[0].shape[1], 1);
});

test.run();
