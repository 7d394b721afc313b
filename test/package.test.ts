/** The package as users load it: CommonJS and ESM entry points, types, runtime settings. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Rng, expectClose } from './helpers/compare';
import { bot } from './helpers/lib';

const root = path.join(__dirname, '..', '..');

test('require and import both expose ops, runtime and the error class', () => {
  assert.type(bot.ops.conv2d, 'function');
  assert.type(bot.runtime.getThreads, 'function');
  assert.type(bot.BagOfTricksError, 'function');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-esm-'));
  const file = path.join(dir, 'use.mjs');
  const entry = require.resolve(root);
  fs.writeFileSync(file, `import bot, { ops, runtime, BagOfTricksError } from ${JSON.stringify(entry)};
const y = ops.relu({ data: new Float32Array([-1, 2]), shape: [2] });
console.log(JSON.stringify({ y: Array.from(y.data), same: bot.ops === ops, threads: runtime.getThreads(), err: typeof BagOfTricksError }));`);
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.y, [0, 2]);
  assert.is(out.same, true);
  assert.is(out.err, 'function');
  assert.ok(fs.existsSync(path.join(root, 'dist', 'index.d.ts')), 'type declarations are built');
});

test('the README commands work in a clone: npx bagoftricks runs the built CLI', () => {
  const cli = path.join(root, 'dist', 'cli.js');
  assert.ok((fs.statSync(cli).mode & 0o111) !== 0, 'dist/cli.js is executable');
  assert.match(fs.readFileSync(cli, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  const env = { ...process.env, NO_COLOR: '1', npm_config_update_notifier: 'false' };
  const version = require(path.join(root, 'package.json')).version;
  // npx needs npm and a tree npm installed; the GPU check's unpacked bundle has neither, so
  // there the script itself is run as its shebang would run it.
  const installed = fs.existsSync(path.join(root, 'node_modules', '.package-lock.json')) && spawnSync('npx', ['--version']).status === 0;
  const r = installed
    ? spawnSync('npx', ['--offline', 'bagoftricks', 'version'], { cwd: root, encoding: 'utf8', env, timeout: 60_000 })
    : spawnSync(cli, ['version'], { cwd: root, encoding: 'utf8', env: { ...env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` }, timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), version);
});

test('the thread count can be changed and results do not depend on it beyond rounding', () => {
  const before = bot.runtime.getThreads();
  const rng = new Rng(5);
  const x = rng.tensor([3, 9, 9, 8]);
  const w = rng.tensor([12, 3, 3, 8], 0.2);
  try {
    bot.runtime.setThreads(1);
    assert.is(bot.runtime.getThreads(), 1);
    const one = bot.ops.conv2d(x, w, { padding: 1 });
    bot.runtime.setThreads(3);
    assert.is(bot.runtime.getThreads(), 3);
    const three = bot.ops.conv2d(x, w, { padding: 1 });
    expectClose(three.data, one.data, { op: 'conv2d threads 1 vs 3', seed: 5 }, { atol: 1e-5, rtol: 1e-5 });
  } finally {
    bot.runtime.setThreads(before);
  }
});

test('cudaInfo reports a device or the reason there is none', () => {
  const info = bot.runtime.cudaInfo();
  assert.type(info.compiled, 'boolean');
  if (info.available) {
    assert.ok(info.devices.length > 0);
    assert.match(info.devices[0].computeCapability, /^\d+\.\d+$/);
  } else {
    assert.ok(info.reason.length > 10, `reason: ${info.reason}`);
  }
  if (info.compiled) assert.match(info.archs, /^\d+a?(,\d+a?)*$/);
});

test.run();
