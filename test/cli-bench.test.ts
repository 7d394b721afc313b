/** `bagoftricks bench train`: one JSON line with the throughput; usage errors exit 2. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as path from 'path';

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
  assert.is(j.backend, 'cpu');
  assert.ok(j.memoryBytes > 0);
});

test('bench usage errors exit 2 with a message', () => {
  for (const args of [['bench'], ['bench', 'nope'], ['bench', 'train', '--batch-size', '0'], ['bench', 'train', '--model', 'resnet7'], ['bench', 'train', '--stepz', '2']]) {
    const r = run(...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.length > 0, `${args.join(' ')} explains itself`);
  }
});

test.run();
