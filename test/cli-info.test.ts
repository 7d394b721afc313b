/**
 * `bagoftricks info`, run as users run it (node dist/cli.js). Bad usage, which includes an
 * unknown model name and option values the model rejects, exits with 2 and says what was
 * expected on stderr; nothing is printed on stdout then.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');
const cli = path.join(root, 'dist', 'cli.js');
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'info', ...args], { encoding: 'utf8', env });

test('--json prints exactly one line with model, params, macs, inputSize, numClasses', () => {
  const r = run('resnet50d', '--json');
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stderr, '');
  assert.ok(r.stdout.endsWith('\n') && r.stdout.trim().split('\n').length === 1, `one line: ${r.stdout}`);
  const j = JSON.parse(r.stdout);
  assert.equal(Object.keys(j), ['model', 'params', 'macs', 'inputSize', 'numClasses']);
  assert.equal(j, { model: 'resnet50d', params: 25_576_264, macs: 4_328_824_832, inputSize: 224, numClasses: 1000 });

  const c = JSON.parse(run('resnet18', '--stem', 'cifar', '--classes=10', '--json').stdout);
  assert.equal(c, { model: 'resnet18', params: 11_173_962, macs: 555_422_720, inputSize: 32, numClasses: 10 }, 'cifar defaults to 32²');
  const w = JSON.parse(run('--json', 'resnet50', '--width', '0.25', '--size', '160').stdout);
  assert.equal([w.params, w.inputSize], [1_993_976, 160]);
});

test('MobileNetV1: listed, and its counts (4,231,976 parameters, 568.7 M multiply-adds at 224²)', () => {
  const j = JSON.parse(run('mobilenetv1_100', '--json').stdout);
  assert.equal(j, { model: 'mobilenetv1_100', params: 4_231_976, macs: 568_740_352, inputSize: 224, numClasses: 1000 });
  const c = JSON.parse(run('mobilenetv1_050', '--stem', 'cifar', '--classes', '10', '--json').stdout);
  assert.equal(c, { model: 'mobilenetv1_050', params: 823_722, macs: 45_310_976, inputSize: 32, numClasses: 10 });
  const t = run('mobilenetv1_100');
  assert.is(t.status, 0, t.stderr);
  assert.match(t.stdout, /^mobilenetv1_100: 13 depthwise-separable blocks, multiplier 1$/m);
  assert.match(t.stdout, /^blocks\.0\.0\.conv_dw\s+conv2d\s+112×112×32\s+288\s+3,612,672$/m);
  assert.match(t.stdout, /^classifier\s+linear\s+1000\s+1,025,000\s+1,024,000$/m);
  const all = run();
  for (const [name, params] of [['mobilenetv1_100', '4,231,976'], ['mobilenetv1_025', '470,072']]) {
    assert.match(all.stdout, new RegExp(`^${name}\\s+${params}\\s`, 'm'), name);
  }
});

test('the text table has one row per layer and totals with thousands separators', () => {
  const r = run('resnet50');
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines[0], /^resnet50: bottleneck blocks \[3,4,6,3\], plain stem, conv shortcut/);
  assert.match(r.stdout, /^layer\s+type\s+output\s+params\s+MACs$/m);
  assert.match(r.stdout, /^conv1\s+conv2d\s+112×112×64\s+9,408\s+118,013,952$/m);
  assert.match(r.stdout, /^layer1\.0\.downsample\.0\s+conv2d\s+56×56×256\s+16,384\s+51,380,224$/m);
  assert.match(r.stdout, /^fc\s+linear\s+1000\s+2,049,000\s+2,048,000$/m);
  assert.match(r.stdout, /^parameters\s+25,557,032 /m);
  assert.match(r.stdout, /^multiply-adds\s+4,089,184,256 per image \(4\.09 G .*4\.11 G/m);
  const layerRows = lines.filter((l) => /^(conv1|bn1|act1|maxpool|layer\d|global_pool|fc)\b/.test(l));
  assert.is(layerRows.length, 174, 'every node: stem 4, 16 blocks × 10, 4 shortcuts × 2, pool and fc');
});

test('bad usage exits 2 with a clear message on stderr', () => {
  const bad = run('resnet51');
  assert.is(bad.status, 2);
  assert.is(bad.stdout, '');
  assert.match(bad.stderr, /bagoftricks info: Expected one of resnet18a, .*resnet50d.* for model name but received "resnet51"/);
  const cases: [string[], RegExp][] = [
    [['resnet50', '--depth', '3'], /unknown option --depth/],
    [['resnet50', '--size'], /--size needs a value/],
    [['resnet50', '--size', 'big'], /--size expects an integer but received "big"/],
    [['resnet50', '--size', '0'], /Expected integer ≥ 1 for inputSize but received 0/],
    [['resnet50', '--width', '-1'], /Expected number in \(0, 16\] for options.width but received -1/],
    [['resnet50', '--stem', 'tiny'], /Expected 'imagenet' or 'cifar' for options.stem but received "tiny"/],
    [['resnet50', 'resnet18'], /one model at a time/],
  ];
  for (const [args, message] of cases) {
    const r = run(...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const help = run('--help');
  assert.is(help.status, 0);
  assert.match(help.stdout, /^Usage: bagoftricks info <model>/);
  const top = spawnSync(process.execPath, [cli, 'help'], { encoding: 'utf8', env });
  assert.match(top.stdout, /^ {2}info <model>/m, 'listed in the top-level usage');
});

test.run();
