/**
 * Fine-tuning (the paper's §5, transfer learning): `train --pretrained` from another run's
 * checkpoint onto a new class set replaces the classifier and keeps every backbone tensor;
 * --freeze-backbone leaves the backbone's weights exactly as they were; a timm-layout state
 * dict needs --model; mismatches and misuse have their codes and exit statuses.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { expectCodeAsync } from './helpers/compare';
import { rmDir, tmpDir, writeRaw } from './helpers/data-images';
import { bot } from './helpers/lib';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 120_000 });
const dir = tmpDir('bot-finetune-');
const events = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

/** An ImageFolder of `classes` classes, each a colour with noise, `per` images per class. */
async function colourFolder(root: string, classes: [string, number[]][], per: number): Promise<string> {
  let seed = 1;
  for (const [name, rgb] of classes) {
    fs.mkdirSync(path.join(root, name), { recursive: true });
    for (let i = 0; i < per; i++) {
      const px = new Uint8Array(20 * 20 * 3);
      for (let p = 0; p < px.length; p++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        px[p] = Math.max(0, Math.min(255, rgb[p % 3] + ((seed >>> 16) % 61) - 30));
      }
      await writeRaw(path.join(root, name, `${i}.png`), px, 20, 20, 3, 'png');
    }
  }
  return root;
}

const SMALL = ['--width', '0.125', '--size', '16', '--stem', 'cifar', '--batch-size', '8', '--epochs', '1', '--json'];

test('train --pretrained onto a new class set: classifier replaced, backbone kept (and frozen with --freeze-backbone)', async () => {
  // The "pretrained" run: MNIST digits, 10 classes.
  const first = path.join(dir, 'digits');
  const r1 = run('train', '--limit', '200', '--model', 'resnet18', ...SMALL, '--out', first);
  assert.is(r1.status, 0, r1.stderr);
  const source = path.join(first, 'last.safetensors');
  // The new task: three colours.
  const data = await colourFolder(path.join(dir, 'colours'), [['red', [200, 30, 30]], ['green', [30, 200, 30]], ['blue', [30, 30, 200]]], 12);
  const out = path.join(dir, 'frozen');
  const r2 = run('train', '--data', data, '--pretrained', source, '--freeze-backbone', '--size', '16', '--batch-size', '8', '--epochs', '2', '--json', '--out', out, '--val-split', '0.25');
  assert.is(r2.status, 0, r2.stderr);
  const start = events(r2.stdout)[0];
  assert.is(start.model, 'resnet18', 'the architecture comes from the checkpoint');
  const report = start.pretrained as { kept: number; replaced: string[]; fileClasses: number; source: string };
  assert.is(report.source, 'checkpoint');
  assert.equal(report.replaced, ['fc.weight', 'fc.bias']);
  assert.is(report.fileClasses, 10);
  const before = await bot.train.loadCheckpoint(source);
  const after = await bot.train.loadCheckpoint(path.join(out, 'last.safetensors'));
  const model = JSON.parse(after.metadata.model) as { config: { width: number; stem: string; numClasses: number } };
  assert.equal([model.config.width, model.config.stem, model.config.numClasses], [0.125, 'cifar', 3]);
  assert.equal(JSON.parse(after.metadata.classes), ['blue', 'green', 'red']);
  assert.equal(after.tensors['fc.weight'].shape, [3, 64]);
  let backbone = 0;
  for (const [k, t] of Object.entries(before.tensors)) {
    if (k.startsWith('optimizer.') || k.startsWith('fc.')) continue;
    backbone++;
    const same = t.data.every((v, i) => v === after.tensors[k].data[i]);
    // Frozen weights stay bit for bit; BN running statistics follow the new data.
    if (k.endsWith('running_mean') || k.endsWith('running_var')) assert.ok(!same, `${k} follows the new data`);
    else assert.ok(same, `${k} is frozen`);
  }
  assert.is(report.kept, backbone, 'every backbone tensor kept');
  assert.ok(JSON.parse(after.metadata.recipe).backboneLrScale === 0, 'the checkpoint remembers the frozen backbone');
  // The fine-tuned run's checkpoint loads for inference with its new classes.
  const clf = await bot.load(path.join(out, 'best.safetensors'));
  assert.equal(clf.classes, ['blue', 'green', 'red']);
  const [top] = await clf.predict([path.join(data, 'red', '0.png')], { topk: 3 });
  assert.equal(top.map((p) => p.label).sort(), ['blue', 'green', 'red']);
  clf.dispose();

  // A lower backbone rate moves the backbone, less than the classifier's rate would.
  const scaled = path.join(dir, 'scaled');
  const r3 = run('train', '--data', data, '--pretrained', source, '--backbone-lr-scale', '0.1', '--size', '16', '--batch-size', '8', '--epochs', '1', '--json', '--out', scaled);
  assert.is(r3.status, 0, r3.stderr);
  const moved = await bot.train.loadCheckpoint(path.join(scaled, 'last.safetensors'));
  assert.ok(moved.tensors['layer1.0.conv1.weight'].data.some((v, i) => v !== before.tensors['layer1.0.conv1.weight'].data[i]));
  assert.is(JSON.parse(moved.metadata.recipe).backboneLrScale, 0.1);
});

test('train --pretrained with a timm-layout state dict needs --model; misfits and misuse are refused', async () => {
  const model = bot.createModel('resnet18', { numClasses: 1000, width: 0.125, stem: 'cifar' });
  const weights: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const [k, v] of model.initialParameters()) weights[k] = { data: v, shape: model.parameters().find((p) => p.name === k)!.shape };
  const file = path.join(dir, 'timm.safetensors');
  await bot.train.writeSafetensors(file, weights, {});
  const data = await colourFolder(path.join(dir, 'two'), [['a', [250, 250, 250]], ['b', [5, 5, 5]]], 6);
  const common = ['--data', data, '--pretrained', file, '--size', '16', '--batch-size', '4', '--epochs', '1', '--json', '--val-split', '0.34'];
  const noModel = run('train', ...common, '--out', path.join(dir, 'x1'));
  assert.is(noModel.status, 2);
  assert.match(noModel.stderr, /--model/);
  const ok = run('train', ...common, '--model', 'resnet18', '--width', '0.125', '--stem', 'cifar', '--out', path.join(dir, 'x2'));
  assert.is(ok.status, 0, ok.stderr);
  const report = events(ok.stdout)[0].pretrained as { source: string; replaced: string[]; fileClasses: number };
  assert.equal([report.source, report.fileClasses], ['state-dict', 1000]);
  assert.equal(report.replaced, ['fc.weight', 'fc.bias']);
  // Another width: every backbone tensor has another shape.
  const wrong = run('train', ...common, '--model', 'resnet18', '--width', '0.25', '--stem', 'cifar', '--out', path.join(dir, 'x3'));
  assert.is(wrong.status, 1);
  assert.match(wrong.stderr, /ERR_WEIGHTS_MISMATCH/);
  // Another architecture named by a checkpoint, a missing file, flags without --pretrained.
  const trained = path.join(dir, 'x2', 'last.safetensors');
  const other = run('train', '--data', data, '--pretrained', trained, '--model', 'resnet18d', '--size', '16', '--out', path.join(dir, 'x4'));
  assert.is(other.status, 1);
  assert.match(other.stderr, /ERR_ARGUMENT/);
  assert.is(run('train', '--data', data, '--pretrained', path.join(dir, 'none.safetensors')).status, 2);
  assert.is(run('train', '--data', data, '--freeze-backbone').status, 2);
  assert.is(run('train', '--data', data, '--pretrained', file, '--model', 'resnet18', '--freeze-backbone', '--backbone-lr-scale', '0.5').status, 2);
  // The library call behind it.
  await expectCodeAsync(() => bot.pretrainedWeights(file, bot.createModel('resnet18', { width: 0.125 }) as never), 'ERR_WEIGHTS_MISMATCH');
  for (const d of ['x1', 'x3', 'x4']) assert.ok(!fs.existsSync(path.join(dir, d, 'last.safetensors')), `${d}: nothing trained`);
});

test.after(() => rmDir(dir));

test.run();
