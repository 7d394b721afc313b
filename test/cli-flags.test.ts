/**
 * `bagoftricks train` options --weight-decay, --warmup-epochs (fractions too), --workers and
 * --config FILE (a JSON file of the same options, or a run's config.json; flags override it):
 * listed in --help, applied, written to config.json's `options`, and checked once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { bot } from './helpers/lib';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 120_000 });
const TINY = ['--limit', '200', '--width', '0.125', '--size', '16', '--batch-size', '32'];
const made: string[] = [];
const tmp = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bot-flags-${prefix}-`));
  made.push(dir);
  return dir;
};
test.after(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));

test('train --help lists --weight-decay, --warmup-epochs, --workers and --config', () => {
  const r = run('train', '--help');
  assert.is(r.status, 0);
  for (const f of ['--weight-decay X', '--warmup-epochs X', '--workers N', '--config FILE']) assert.ok(r.stdout.includes(f), f);
});

test('a fractional warmup is rounded to whole steps', () => {
  const s = bot.train.scheduleFromEpochs({ kind: 'cosine', epochs: 2, stepsPerEpoch: 10, warmupEpochs: 0.5, baseLr: 0.4 });
  assert.ok(Math.abs(s(0)) < 1e-12);
  assert.ok(s(4) < 0.4 && s(4) > 0, `step 4 is in the warmup: ${s(4)}`);
  assert.ok(Math.abs(s(5) - 0.4) < 1e-9, `step 5 starts the decay at the peak: ${s(5)}`);
  assert.is(bot.train.resolveRecipe('tricks', { epochs: 2, warmupEpochs: 0.5 }).warmupEpochs, 0.5);
});

test('without --warmup-epochs a short run warms up for a quarter of its epochs, in fractions', () => {
  const out = path.join(tmp('warm'), 'a');
  const r = run('train', '--limit', '64', '--width', '0.125', '--size', '16', '--batch-size', '32', '--epochs', '2', '--out', out);
  assert.is(r.status, 0, r.stderr);
  assert.is(readJson(path.join(out, 'config.json')).recipe.warmupEpochs, 0.5);
});

test('the flags reach the recipe, the loader and config.json; the run\'s config.json runs it again', () => {
  const dir = tmp('run');
  const out = path.join(dir, 'a');
  const r = run('train', ...TINY, '--epochs', '2', '--warmup-epochs', '0.5', '--weight-decay', '5e-5', '--workers', '1', '--out', out, '--json', '--log-every', '1');
  assert.is(r.status, 0, r.stderr);
  const config = readJson(path.join(out, 'config.json'));
  assert.is(config.recipe.warmupEpochs, 0.5);
  assert.is(config.recipe.weightDecay, 5e-5);
  assert.is(config.options['warmup-epochs'], 0.5);
  assert.is(config.options['weight-decay'], 5e-5);
  assert.is(config.options.workers, 1);
  assert.is(config.options.epochs, 2);
  const start = JSON.parse(r.stdout.split('\n')[0]);
  const spe = start.stepsPerEpoch as number;
  const steps = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event === 'step');
  // The warmup is half an epoch: the rate rises to its peak over round(spe / 2) steps.
  const peak = config.recipe.lr as number;
  const w = Math.round(spe / 2);
  for (const e of steps.filter((e) => e.step < w)) assert.ok(e.lr < peak, `step ${e.step} in the warmup: ${e.lr}`);
  // Again from its config.json, the epochs and folder overridden on the command line.
  const again = path.join(dir, 'b');
  const r2 = run('train', '--config', path.join(out, 'config.json'), '--epochs', '1', '--warmup-epochs', '0', '--out', again);
  assert.is(r2.status, 0, r2.stderr);
  const c2 = readJson(path.join(again, 'config.json'));
  assert.equal({ ...c2.options, epochs: 2, 'warmup-epochs': 0.5 }, config.options);
  assert.is(c2.recipe.weightDecay, 5e-5);
  assert.is(c2.recipe.epochs, 1);
});

test('--config: a plain object of options; unknown keys and bad values are one line', () => {
  const dir = tmp('cfg');
  const file = path.join(dir, 'opts.json');
  fs.writeFileSync(file, JSON.stringify({ epoch: 2 }));
  let r = run('train', '--config', file);
  assert.is(r.status, 2);
  assert.is(r.stderr.trim(), `bagoftricks train: --config ${file}: unknown option "epoch"; did you mean "epochs"? (see bagoftricks train --help)`);
  fs.writeFileSync(file, JSON.stringify({ workers: 0 }));
  r = run('train', '--config', file);
  assert.is(r.status, 1);
  assert.is(r.stderr.trim(), `bagoftricks: ERR_ARGUMENT: --config ${file}: "workers" expects an integer in [1, 1024] but received 0`);
  fs.writeFileSync(file, JSON.stringify({ 'warmup-epochs': '1' }));
  r = run('train', '--config', file);
  assert.is(r.status, 1);
  assert.ok(r.stderr.startsWith('bagoftricks: ERR_ARGUMENT: '), r.stderr);
  fs.writeFileSync(file, '{ not json');
  r = run('train', '--config', file);
  assert.is(r.status, 1);
  assert.match(r.stderr, /^bagoftricks: ERR_ARGUMENT: --config .*: not valid JSON/);
  r = run('train', '--config', path.join(dir, 'missing.json'));
  assert.is(r.status, 2);
  assert.match(r.stderr, /--config: no file at/);
});

test('the flags are checked at the door', () => {
  let r = run('train', '--warmup-epochs', '-1');
  assert.is(r.status, 2);
  assert.is(r.stderr.trim(), 'bagoftricks train: --warmup-epochs expects a number in [0, 1000000] but received "-1" (see bagoftricks train --help)');
  r = run('train', '--workers', '1.5');
  assert.is(r.status, 2);
  assert.match(r.stderr, /--workers expects an integer in \[1, 1024\]/);
  r = run('train', '--weight-decay', '2');
  assert.is(r.status, 2);
  assert.match(r.stderr, /--weight-decay expects a number in \[0, 1\]/);
  r = run('train', '--weight-decays', '0.1');
  assert.is(r.status, 2);
  assert.match(r.stderr, /did you mean --weight-decay\?/);
  r = run('train', ...TINY, '--epochs', '2', '--warmup-epochs', '2', '--out', path.join(tmp('w'), 'x'));
  assert.is(r.status, 1);
  assert.match(r.stderr, /^bagoftricks: ERR_ARGUMENT: .*warmupEpochs/);
});

test.run();
