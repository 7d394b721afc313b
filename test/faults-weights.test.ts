/**
 * Non-finite weights are refused when they are loaded (checkpoints, state dicts,
 * --resume, --pretrained, predict, Net.setParameters) with ERR_NON_FINITE listing each
 * tensor and its counts, unless the caller opts out with allowNonFinite.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'path';
import { bot } from './helpers/lib';

import { cli, folder, TINY, tempDirs } from './helpers/faults';

const tmp = tempDirs(test, 'faults-w');

let data = '';
let ckpt = '';
let poisoned = '';
let stateDict = '';
test.before(async () => {
  data = await folder(path.join(tmp('data'), 'data'));
  const run = path.join(tmp('run'), 'run');
  const r = cli(['train', '--data', data, ...TINY, '--epochs', '1', '--out', run]);
  assert.is(r.status, 0, r.stderr);
  ckpt = path.join(run, 'last.safetensors');
  const { tensors, metadata } = await bot.train.loadCheckpoint(ckpt);
  const conv = tensors['conv1.0.weight'].data as Float32Array;
  conv[5] = NaN; // one NaN in a conv weight
  const fc = tensors['fc.bias'].data as Float32Array;
  fc[0] = Infinity;
  fc[1] = -Infinity;
  poisoned = path.join(tmp('nan'), 'nan.safetensors');
  await bot.train.saveCheckpoint(poisoned, { tensors, metadata }, { allowNonFinite: true });
  const plain: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const [k, v] of Object.entries(tensors)) if (!k.startsWith('optimizer.')) plain[k] = { data: v.data as Float32Array, shape: v.shape };
  stateDict = path.join(tmp('sd'), 'sd.safetensors');
  await bot.train.writeSafetensors(stateDict, plain, {});
});

test('load(): ERR_NON_FINITE listing the tensors and counts; allowNonFinite opts out', async () => {
  const e = await bot.load(poisoned).then(() => null, (x) => x);
  assert.is(e?.code, 'ERR_NON_FINITE');
  assert.match(e.message, 'conv1.0.weight: 1 NaN');
  assert.match(e.message, 'fc.bias: 1 +Inf, 1 -Inf');
  assert.match(e.message, poisoned);
  assert.equal(e.tensors.map((t: { name: string }) => t.name).sort(), ['conv1.0.weight', 'fc.bias']);
  const sd = await bot.load(stateDict, { model: { name: 'resnet18d', width: 0.125, stem: 'cifar' } }).then(() => null, (x) => x);
  assert.is(sd?.code, 'ERR_NON_FINITE', 'a plain state dict too');
  const m = await bot.load(poisoned, { allowNonFinite: true });
  try {
    const logits = await m.forward(new Float32Array(3 * 8 * 8), [1, 3, 8, 8]);
    assert.is(logits.length, 2, 'loaded as asked');
  } finally {
    m.dispose();
  }
  const bad = await bot.load(poisoned, { allowNonFinite: 'yes' as never }).then(() => null, (x) => x);
  assert.is(bad?.code, 'ERR_ARGUMENT');
});

test('Net.setParameters refuses NaN/Inf unless allowNonFinite', async () => {
  const model = bot.createModel('resnet18d', { numClasses: 2, width: 0.125, stem: 'cifar' });
  const net = new bot.Net(model.graph(), { batchSize: 1, height: 8, width: 8, training: false });
  try {
    const params = model.initialParameters();
    const w = params.get('fc.weight')!;
    w[0] = NaN;
    let err: { code?: string; message?: string } | null = null;
    try {
      net.setParameters(params);
    } catch (e) {
      err = e as { code?: string; message?: string };
    }
    assert.is(err?.code, 'ERR_NON_FINITE');
    assert.match(String(err?.message), 'fc.weight: 1 NaN');
    net.setParameters(params, { allowNonFinite: true });
  } finally {
    net.dispose();
  }
});

test('CLI: --resume, --pretrained, predict and eval with NaN weights fail at load, naming the file', () => {
  const resume = cli(['train', '--resume', poisoned]);
  assert.is(resume.status, 1);
  assert.match(resume.stderr, `bagoftricks: ERR_NON_FINITE: --resume ${poisoned}: `);
  const pre = cli(['train', '--data', data, ...TINY, '--epochs', '1', '--pretrained', poisoned, '--out', path.join(tmp('pre'), 'run')]);
  assert.is(pre.status, 1);
  assert.match(pre.stderr, `bagoftricks: ERR_NON_FINITE: --pretrained ${poisoned}: `);
  assert.not.match(pre.stderr, 'Lower --lr');
  const p = cli(['predict', '--checkpoint', poisoned, path.join(data, 'a', '0.jpg'), '--json']);
  assert.is(p.status, 1);
  assert.match(p.stderr, `bagoftricks: ERR_NON_FINITE: --checkpoint ${poisoned}: `);
  assert.not.match(p.stdout, '"score":null');
  const e = cli(['eval', '--checkpoint', poisoned]);
  assert.is(e.status, 1);
  assert.match(e.stderr, 'ERR_NON_FINITE');
});

test.run();
