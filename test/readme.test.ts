/** The README's JavaScript samples run as written (with `bagoftricks` resolved to this package). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');
// Plain output from the children, whatever colour settings the test runner exported.
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };

test('every ```js block of README.md runs without error', () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 1, 'README has a JS sample');
  for (const code of blocks) {
    const script = code.replace(/require\('bagoftricks'\)/g, `require(${JSON.stringify(root)})`);
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000, env });
    assert.is(r.status, 0, `README sample failed:\n${r.stderr}`);
    // Each sample ends by printing a line of its own that says it ran to the end.
    if (code.includes('BagOfTricksError')) assert.match(r.stdout, /^true ERR_SHAPE$/m, `sample output: ${r.stdout}`);
    else assert.match(r.stdout, /^1 true$/m, `sample output: ${r.stdout}`);
  }
});

test('the CLI answers doctor, version and unknown commands', () => {
  const cli = path.join(root, 'dist', 'cli.js');
  const doc = spawnSync(process.execPath, [cli, 'doctor', '--json'], { encoding: 'utf8', env });
  assert.is(doc.status, 0, doc.stderr);
  const report = JSON.parse(doc.stdout);
  assert.is(report.bagoftricks, require(path.join(root, 'package.json')).version);
  assert.type(report.cpu.avx2, 'boolean');
  assert.ok(report.threads >= 1);
  assert.is(report.sharp.version, require(path.join(root, 'node_modules', 'sharp', 'package.json')).version);
  assert.match(report.sharp.libvips, /^\d+\.\d+\.\d+/);
  assert.ok(report.backend === 'cpu' || report.backend === 'cuda');
  if (!report.cuda.available) assert.ok(report.cuda.reason.length > 0, 'a CPU fallback gives its reason');
  const text = spawnSync(process.execPath, [cli, 'doctor'], { encoding: 'utf8', env });
  assert.match(text.stdout, /images\s+sharp \d+\.\d+\.\d+, libvips \d+\.\d+/);
  assert.match(text.stdout, /backend\s+(CPU, because CUDA is unavailable: .+|CUDA device 0)/);
  const bad = spawnSync(process.execPath, [cli, 'frobnicate'], { encoding: 'utf8', env });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, 'unknown command "frobnicate"');
  const badOpt = spawnSync(process.execPath, [cli, 'doctor', '--jsn'], { encoding: 'utf8', env });
  assert.is(badOpt.status, 2);
});

test.run();
