/**
 * The console of `train` and `eval`: "1 thread", the learning rate with 4 significant digits,
 * top-5 left out with 5 classes or fewer (console, --json, metrics rows, eval), and a progress
 * bar that fits the terminal and redraws in place on a TTY (plain lines elsewhere).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bot } from './helpers/lib';
import { rmDir, tmpDir, writeJpeg } from './helpers/data-images';
import { formatLr, Progress } from '../lib/cli/progress';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const run = (args: string[], extra: Record<string, string> = {}) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...env, ...extra }, timeout: 120_000 });
const made: string[] = [];
test.after(() => made.forEach(rmDir));

test('one thread is "1 thread"', () => {
  const r = spawnSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(path.join(__dirname, '..', '..', 'dist', 'cli', 'train.js'))}).chooseBackend('cpu').line)`], { encoding: 'utf8', env: { ...env, BAGOFTRICKS_THREADS: '1' } });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^backend: CPU, 1 thread; CUDA not used/);
});

test('the learning rate shows the warmup\'s small steps', () => {
  // 5 warmup epochs of 1,250 steps to 0.4: 6.4e-5 a step.
  const s = bot.train.scheduleFromEpochs({ kind: 'cosine', epochs: 10, stepsPerEpoch: 1250, warmupEpochs: 5, baseLr: 0.4 });
  assert.is.not(formatLr(s(5000)), formatLr(s(5001)));
  assert.is(formatLr(s(5000)), '0.32');
  assert.is(formatLr(s(5001)), '0.3201');
  assert.is(formatLr(0.000128), '0.000128');
  assert.is(formatLr(0), '0');
});

const logs = (step: number) => ({ step, epoch: 1, batch: step - 1, loss: 1.23456, acc: 0.5, lr: 0.0123456, lossScale: 1, imgPerSec: 1234.5, skipped: false }) as Parameters<Progress['update']>[0];

test('on a TTY the bar fits the width and redraws in place', () => {
  for (const columns of [40, 60, 80, 200]) {
    const writes: string[] = [];
    const p = new Progress({ write: (t: string) => writes.push(t), columns }, true, true, 1000, 100, 10, 0);
    p.update(logs(100), true); // the epoch's last step always draws
    assert.is(writes.length, 1);
    const w = writes[0];
    assert.ok(w.startsWith('\r\x1b[K'), 'return and clear to the end of the line');
    assert.not.ok(w.includes('\n'), 'no new line');
    const visible = w.slice('\r\x1b[K'.length);
    assert.ok(visible.length <= columns - 1, `${visible.length} characters in ${columns} columns: ${visible}`);
    if (columns >= 80) assert.ok(visible.startsWith('[') && visible.includes('lr 0.01235'), visible);
  }
});

test('without a TTY: plain lines at the sampled steps only', () => {
  const writes: string[] = [];
  const p = new Progress({ write: (t: string) => writes.push(t), columns: 40 }, false, true, 1000, 100, 10, 0);
  p.update(logs(1), false);
  p.update(logs(2), true);
  assert.is(writes.length, 1);
  assert.ok(writes[0].endsWith('\n') && !writes[0].includes('\r'), writes[0]);
  assert.ok(writes[0].includes('epoch 1/10 step 2/100'), writes[0]);
});

test('top-5 is left out with 5 classes or fewer: train console and --json, metrics, eval', async () => {
  const dir = tmpDir('console-top5');
  made.push(dir);
  const data = path.join(dir, 'data');
  for (const c of ['a', 'b', 'c']) {
    fs.mkdirSync(path.join(data, c), { recursive: true });
    for (let i = 0; i < 8; i++) await writeJpeg(path.join(data, c, `${i}.jpg`), 20, 20, i + 10 * c.charCodeAt(0));
  }
  const opts = ['--data', data, '--model', 'resnet18d', '--width', '0.125', '--size', '16', '--stem', 'cifar', '--batch-size', '8', '--epochs', '1', '--val-split', '0.25', '--workers', '1'];
  const out = path.join(dir, 'run');
  let r = run(['train', ...opts, '--out', out, '--json']);
  assert.is(r.status, 0, r.stderr);
  const ev = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const epoch = ev.find((e) => e.event === 'epoch');
  const done = ev.find((e) => e.event === 'done');
  assert.ok(typeof epoch.valTop1 === 'number' && !('valTop5' in epoch), JSON.stringify(epoch));
  assert.ok(typeof done.top1 === 'number' && !('top5' in done), JSON.stringify(done));
  const csv = fs.readFileSync(path.join(out, 'metrics.csv'), 'utf8').trim().split('\n');
  const header = csv[0].split(',');
  const row = csv.find((l) => l.startsWith('epoch,'))!.split(',');
  assert.is(row[header.indexOf('val_top5')], '', 'no val_top5 in the epoch row');
  assert.ok(row[header.indexOf('val_top1')] !== '');
  r = run(['train', ...opts, '--out', path.join(dir, 'run2')]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /val top-1 [\d.]+%/);
  assert.not.match(r.stdout, /top-5/);
  r = run(['eval', '--checkpoint', path.join(out, 'last.safetensors'), '--json']);
  assert.is(r.status, 0, r.stderr);
  const e = JSON.parse(r.stdout);
  assert.ok(typeof e.top1 === 'number' && !('top5' in e), r.stdout);
  r = run(['eval', '--checkpoint', path.join(out, 'last.safetensors')]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /top-1 [\d.]+%  loss/);
  assert.not.match(r.stdout, /top-5/);
});

test.run();
