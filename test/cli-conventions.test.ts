/**
 * The command line's conventions: every command and subcommand answers -h and --help with
 * its usage and exit 0; an unknown flag or command is one line on stderr that names the
 * nearest valid one and points at --help; `info` alone lists the models.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { bot } from './helpers/lib';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 60_000 });

const COMMANDS: [string[], RegExp][] = [
  [[], /^Usage: bagoftricks <command>/],
  [['train'], /^Usage: bagoftricks train /],
  [['eval'], /^Usage: bagoftricks eval /],
  [['predict'], /^Usage: bagoftricks predict /],
  [['export'], /^Usage: bagoftricks export /],
  [['doctor'], /^Usage: bagoftricks doctor /],
  [['info'], /^Usage: bagoftricks info /],
  [['bench'], /^Usage: bagoftricks bench </],
  [['bench', 'train'], /^Usage: bagoftricks bench train /],
  [['bench', 'data'], /^Usage: bagoftricks bench data /],
  [['version'], /^Usage: bagoftricks version/],
];

test('every command and subcommand answers -h and --help with its usage on stdout, exit 0', () => {
  for (const [cmd, usage] of COMMANDS) {
    for (const h of ['-h', '--help']) {
      const r = run(...cmd, h);
      assert.is(r.status, 0, `${[...cmd, h].join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, usage, `${[...cmd, h].join(' ')}`);
      assert.is(r.stderr, '', `${[...cmd, h].join(' ')} writes nothing on stderr`);
    }
  }
});

test('an unknown flag is one line naming the nearest valid flag and --help, exit 2', () => {
  const cases: [string[], string][] = [
    [['train', '--epoch', '3'], 'bagoftricks train: unknown option --epoch; did you mean --epochs? (see bagoftricks train --help)'],
    [['train', '--bach-size', '8'], 'bagoftricks train: unknown option --bach-size; did you mean --batch-size? (see bagoftricks train --help)'],
    [['eval', '--checkpont', 'x'], 'bagoftricks eval: unknown option --checkpont; did you mean --checkpoint? (see bagoftricks eval --help)'],
    [['predict', '--top', '2'], 'bagoftricks predict: unknown option --top; did you mean --topk? (see bagoftricks predict --help)'],
    [['export', '--onx', 'a.onnx'], 'bagoftricks export: unknown option --onx; did you mean --onnx? (see bagoftricks export --help)'],
    [['doctor', '--jsn'], 'bagoftricks doctor: unknown option --jsn; did you mean --json? (see bagoftricks doctor --help)'],
    [['info', 'resnet50', '--sise', '3'], 'bagoftricks info: unknown option --sise; did you mean --size? (see bagoftricks info --help)'],
    [['bench', 'train', '--step', '3'], 'bagoftricks bench train: unknown option --step; did you mean --steps? (see bagoftricks bench train --help)'],
    [['bench', 'data', '--worker', '3'], 'bagoftricks bench data: unknown option --worker; did you mean --workers? (see bagoftricks bench data --help)'],
    [['train', '--zzzzzz'], 'bagoftricks train: unknown option --zzzzzz (see bagoftricks train --help)'],
  ];
  for (const [args, line] of cases) {
    const r = run(...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stdout, '');
    assert.is(r.stderr, `${line}\n`, args.join(' '));
  }
  // The test-only --limit of train is never suggested.
  const hidden = run('train', '--limt', '5');
  assert.is(hidden.status, 2);
  assert.not.match(hidden.stderr, '--limit');
});

test('an unknown command is one line naming the nearest command, exit 2', () => {
  const cases: [string[], string][] = [
    [['trian'], 'bagoftricks: unknown command "trian"; did you mean train? (see bagoftricks --help)'],
    [['docter'], 'bagoftricks: unknown command "docter"; did you mean doctor? (see bagoftricks --help)'],
    [['frobnicate'], 'bagoftricks: unknown command "frobnicate" (see bagoftricks --help)'],
    [['bench', 'dta'], 'bagoftricks bench: unknown command "dta"; did you mean data? (see bagoftricks bench --help)'],
  ];
  for (const [args, line] of cases) {
    const r = run(...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stderr, `${line}\n`);
  }
});

test('info alone lists every model with its parameters and multiply-adds', () => {
  const r = run('info');
  assert.is(r.status, 0, r.stderr);
  const names = bot.listModels();
  for (const name of names) assert.match(r.stdout, new RegExp(`^${name}\\s+[\\d,]+\\s+[\\d,]+\\s+\\d+\\.\\d\\d$`, 'm'), name);
  // The published counts (DESIGN): ResNet-50 25,557,032 params; ResNet-50-D 25,576,264.
  assert.match(r.stdout, /^resnet50\s+25,557,032\s+4,089,184,256\s+4\.09$/m);
  assert.match(r.stdout, /^resnet50d\s+25,576,264\s/m);
  const j = run('info', '--json');
  assert.is(j.status, 0, j.stderr);
  const rows = j.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.map((x) => x.model), names);
  const r50 = rows.find((x) => x.model === 'resnet50');
  assert.equal(r50, { model: 'resnet50', params: 25557032, macs: 4089184256, inputSize: 224, numClasses: 1000 });
  const cifar = run('info', '--stem', 'cifar', '--classes', '10', '--json');
  assert.is(JSON.parse(cifar.stdout.split('\n')[0]).inputSize, 32);
});

test.run();
