/** `bagoftricks bench train`: one JSON line with the throughput; usage errors exit 2. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { bot } from './helpers/lib';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 120_000 });

test('bench train --json prints one line with img/s and ms per step', () => {
  const r = run('bench', 'train', '--model', 'resnet18d', '--width', '0.25', '--stem', 'cifar', '--size', '16', '--batch-size', '4', '--steps', '2', '--classes', '5', '--json');
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.is(lines.length, 1, r.stdout);
  const j = JSON.parse(lines[0]);
  assert.is(j.model, 'resnet18d');
  assert.is(j.batchSize, 4);
  assert.is(j.size, 16);
  assert.is(j.steps, 2);
  assert.is(j.stepMs.length, 2);
  assert.ok(j.imgPerSec > 0 && Number.isFinite(j.imgPerSec));
  assert.ok(Math.abs(j.msPerStep - (j.stepMs[0] + j.stepMs[1]) / 2) < 1e-6);
  assert.ok(Math.abs(j.imgPerSec - (4 * 1000) / j.msPerStep) < 1e-6 * j.imgPerSec);
  assert.is(j.backend, bot.runtime.cudaInfo().available ? 'cuda' : 'cpu');
  assert.ok(j.memoryBytes > 0);
});

test('bench train --profile reports time per op kind and phase', () => {
  const r = run('bench', 'train', '--model', 'resnet18', '--width', '0.25', '--stem', 'cifar', '--size', '16', '--batch-size', '4', '--steps', '2', '--classes', '5', '--json', '--profile');
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const by = (op: string, phase: string) => j.profile.find((e: { op: string; phase: string }) => e.op === op && e.phase === phase);
  // resnet18 has 20 convolutions (17 in the blocks and stem, 3 downsample) per pass.
  assert.is(by('conv2d', 'forward').calls, 2 * 20);
  assert.is(by('conv2d', 'backward').calls, 2 * 20);
  assert.is(by('sgd', 'update').calls, 2);
  assert.is(by('cross_entropy', 'loss').calls, 2);
  const total = j.profile.reduce((a: number, e: { seconds: number }) => a + e.seconds, 0);
  assert.ok(total > 0 && total <= (j.msPerStep * 2) / 1000 * 1.05, `profiled ${total} s of ${(j.msPerStep * 2) / 1000} s`);
  for (let i = 1; i < j.profile.length; i++) assert.ok(j.profile[i - 1].seconds >= j.profile[i].seconds, 'sorted');
});

test('bench train --precision fp16 --warmup 0, and --backend cuda runs on the GPU or says why not', () => {
  const r = run('bench', 'train', '--model', 'resnet18', '--width', '0.25', '--stem', 'cifar', '--size', '16', '--batch-size', '2', '--steps', '1', '--classes', '3', '--precision', 'fp16', '--warmup', '0', '--json', '--profile');
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal([j.precision, j.warmup, j.steps], ['fp16', 0, 1]);
  // No warm-up: the one timed step is the only one the profiler saw.
  assert.is(j.profile.find((e: { op: string }) => e.op === 'sgd').calls, 1);
  const cuda = run('bench', 'train', '--backend', 'cuda', '--model', 'resnet18', '--width', '0.25', '--size', '16', '--batch-size', '2', '--steps', '1', '--classes', '3', '--json');
  if (bot.runtime.cudaInfo().available) {
    assert.is(cuda.status, 0, cuda.stderr);
    assert.is(JSON.parse(cuda.stdout).backend, 'cuda');
    return;
  }
  assert.is(cuda.status, 1);
  assert.is(JSON.parse(cuda.stdout).error.code, 'ERR_CUDA_UNAVAILABLE');
  assert.match(cuda.stderr, /ERR_CUDA_UNAVAILABLE: --backend cuda: .+/);
});

test('bench usage errors exit 2 with a message', () => {
  for (const args of [['bench'], ['bench', 'nope'], ['bench', 'train', '--batch-size', '0'], ['bench', 'train', '--model', 'resnet7'], ['bench', 'train', '--stepz', '2']]) {
    const r = run(...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.length > 0, `${args.join(' ')} explains itself`);
  }
});

test.run();
