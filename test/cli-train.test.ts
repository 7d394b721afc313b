/**
 * `bagoftricks train`: the run folder (config.json, metrics.csv, both checkpoints, report.html),
 * the --json NDJSON events, Ctrl-C (exit 130 after saving) and resume from that step, a
 * diverging FP32 run (exit 1, nothing written), --backend cuda without CUDA (exit 1 with the
 * reason), and usage errors (exit 2). Tiny settings: a few hundred MNIST digits (the hidden
 * --limit), width 0.125, 16×16 inputs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { bot } from './helpers/lib';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 120_000 });
const TINY = ['--limit', '300', '--width', '0.125', '--size', '16', '--batch-size', '32'];
const made: string[] = [];
const tmp = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bot-cli-${prefix}-`));
  made.push(dir);
  return dir;
};
test.after(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

interface Event {
  event: string;
  [k: string]: unknown;
}
const events = (stdout: string): Event[] => stdout.trim().split('\n').map((l) => JSON.parse(l) as Event);

test('train --json: NDJSON events, and a complete run folder', async () => {
  const out = path.join(tmp('json'), 'run');
  const r = run('train', ...TINY, '--epochs', '2', '--out', out, '--json', '--log-every', '2', '--seed', '7');
  assert.is(r.status, 0, r.stderr);
  const ev = events(r.stdout);
  const start = ev[0];
  assert.is(start.event, 'start');
  assert.is(start.backend, 'cpu');
  assert.ok(typeof start.cudaNotUsed === 'string' && (start.cudaNotUsed as string).length > 0, 'the start event says why CUDA is not used');
  assert.is(start.model, 'resnet18d');
  assert.is(start.data, 'mnist');
  assert.is(start.train as number + (start.val as number), 300);
  const spe = start.stepsPerEpoch as number;
  assert.is(spe, Math.floor((start.train as number) / 32), 'drop-last batches of 32');
  const steps = ev.filter((e) => e.event === 'step');
  assert.ok(steps.length >= spe - 1, `${steps.length} step events`);
  assert.ok(steps.every((e) => (e.step as number) % 2 === 0 && Number.isFinite(e.loss) && Number.isFinite(e.lr) && Number.isFinite(e.imgPerSec)));
  const epochs = ev.filter((e) => e.event === 'epoch');
  assert.equal(epochs.map((e) => e.epoch), [1, 2]);
  assert.equal(epochs.map((e) => e.step), [spe, 2 * spe]);
  const done = ev[ev.length - 1];
  assert.is(done.event, 'done');
  for (const k of ['top1', 'top5', 'imgPerSec']) assert.ok(typeof done[k] === 'number' && Number.isFinite(done[k]), k);
  assert.is(done.top1, epochs[1].valTop1);
  assert.is(done.checkpoint, path.join(out, 'last.safetensors'));

  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.is(config.model.name, 'resnet18d');
  assert.is(config.model.config.width, 0.125);
  assert.is(config.model.inputSize, 16);
  assert.is(config.recipe.name, 'tricks');
  assert.is(config.recipe.epochs, 2);
  assert.is(config.recipe.precision, 'fp32');
  assert.is(config.data.source, 'mnist');
  assert.is(config.data.transform.type, 'padcrop');
  assert.is(config.seed, 7);
  assert.ok(typeof config.versions.bagoftricks === 'string' && config.versions.node === process.version);

  const csv = fs.readFileSync(path.join(out, 'metrics.csv'), 'utf8').trim().split('\n');
  assert.is(csv[0], 'kind,epoch,step,time_s,loss,acc,lr,img_per_s,val_loss,val_top1,val_top5,loss_scale,skipped');
  const rows = csv.slice(1).map((l) => l.split(','));
  assert.ok(rows.every((c) => c.length === 13));
  assert.is(rows.filter((c) => c[0] === 'step').length, steps.length);
  const epochRows = rows.filter((c) => c[0] === 'epoch');
  assert.is(epochRows.length, 2);
  assert.ok(epochRows.every((c) => Number(c[9]) >= 0 && Number(c[9]) <= 1 && c[10] !== ''), 'epoch rows carry val top-1/top-5');

  const last = await bot.Trainer.load(path.join(out, 'last.safetensors'));
  assert.is(last.step, 2 * spe);
  assert.is(last.epoch, 2);
  assert.equal(last.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  last.dispose();
  const best = await bot.Trainer.load(path.join(out, 'best.safetensors'));
  assert.ok(best.step === spe || best.step === 2 * spe);
  best.dispose();

  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.ok(html.startsWith('<!doctype html>'));
  assert.is((html.match(/<svg /g) ?? []).length, 4, 'loss, accuracy, learning rate and throughput charts');
  assert.not.match(html, /https?:\/\//, 'no external URLs');
  assert.not.match(html, /<script|<link|src="(?!data:)/i, 'self-contained (thumbnails inline as data: URIs)');
});

test('train: the first line names the backend (and why CUDA is not used); progress and epoch lines without a TTY', () => {
  const out = path.join(tmp('human'), 'run');
  const r = run('train', ...TINY, '--epochs', '1', '--out', out);
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const info = bot.runtime.cudaInfo();
  if (info.available) {
    assert.match(lines[0], /^backend: CUDA, .+ \(compute \d+\.\d+, \d+ GiB\), driver \d+\.\d+, runtime \d+\.\d+$/);
    assert.ok(lines[0].includes(info.devices[0].name));
  } else {
    assert.match(lines[0], /^backend: CPU, \d+ threads?; CUDA not used: .+/);
    assert.ok(lines[0].includes(info.reason));
  }
  assert.ok(lines.some((l) => /^epoch 1\/1 {2}train loss [\d.]+ acc [\d.]+% {2}val top-1 [\d.]+% top-5 [\d.]+% {2}\d+ img\/s/.test(l)), r.stdout);
  assert.match(r.stderr, /^epoch 1\/1 step \d+\/\d+ .*img\/s .*loss .*lr .*ETA/m);
  assert.not.match(r.stderr, /\r/, 'plain lines when stderr is not a TTY');
  assert.match(r.stdout, /^done in .*val top-1/m);
});

test('Ctrl-C saves last.safetensors and exits 130; --resume continues from that step', async () => {
  const out = path.join(tmp('sigint'), 'run');
  const args = ['train', '--limit', '900', '--width', '0.125', '--size', '16', '--batch-size', '16', '--epochs', '2', '--out', out, '--json', '--log-every', '1'];
  const child = spawn(process.execPath, [cli, ...args], { env });
  let stdout = '';
  let stderr = '';
  let sent = false;
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d) => {
    stdout += d;
    if (!sent && stdout.includes('"event":"step"')) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.ok(sent, 'a step was reported before the interrupt');
  assert.is(code, 130, stderr);
  const ev = events(stdout);
  const stopped = ev[ev.length - 1];
  assert.is(stopped.event, 'interrupted');
  const spe = ev[0].stepsPerEpoch as number;
  const at = stopped.step as number;
  assert.ok(at >= 1 && at < 2 * spe, `stopped at step ${at}`);
  assert.is(stopped.checkpoint, path.join(out, 'last.safetensors'));
  assert.ok(stderr.includes(`saved ${path.join(out, 'last.safetensors')}`), stderr);
  const saved = await bot.Trainer.load(path.join(out, 'last.safetensors'));
  assert.is(saved.step, at);
  saved.dispose();
  assert.ok(!fs.existsSync(path.join(out, 'best.safetensors')) || at >= spe);

  const r = run('train', '--resume', path.join(out, 'last.safetensors'), '--json', '--log-every', '1');
  assert.is(r.status, 0, r.stderr);
  const ev2 = events(r.stdout);
  assert.is(ev2[0].event, 'start');
  assert.is(ev2[0].step, at, 'resumes at the saved step');
  assert.is(ev2[0].resumedFrom, path.join(out, 'last.safetensors'));
  assert.is(ev2[0].out, out, 'the run folder of the checkpoint');
  const firstStep = ev2.find((e) => e.event === 'step')!;
  assert.is(firstStep.step, at + 1);
  const done = ev2[ev2.length - 1];
  assert.is(done.event, 'done');
  assert.is(done.step, 2 * spe);
  const rows = fs.readFileSync(path.join(out, 'metrics.csv'), 'utf8').trim().split('\n').slice(1).filter((l) => l.startsWith('step,'));
  assert.equal(rows.map((l) => Number(l.split(',')[2])), Array.from({ length: 2 * spe }, (_, i) => i + 1), 'one step row per step, none repeated');
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.is(config.resumedFrom.length, 1);
  assert.is(config.resumedFrom[0].step, at);
  // A resumed run keeps its data and model: changing them is a usage error.
  const bad = run('train', '--resume', path.join(out, 'last.safetensors'), '--width', '0.5');
  assert.is(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--width 0\.5 differs/);
});

test('a diverging FP32 run stops with ERR_NON_FINITE, exit 1, and writes no checkpoint', () => {
  const out = path.join(tmp('nan'), 'run');
  const r = run('train', ...TINY, '--epochs', '2', '--recipe', 'baseline', '--lr', '1000', '--out', out);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^bagoftricks: ERR_NON_FINITE: /m);
  assert.match(r.stderr, /no checkpoint was written/);
  assert.ok(!fs.existsSync(path.join(out, 'last.safetensors')));
  assert.ok(!fs.existsSync(path.join(out, 'best.safetensors')));
});

test('--backend cuda trains on the GPU, or fails with ERR_CUDA_UNAVAILABLE and the reason', () => {
  const info = bot.runtime.cudaInfo();
  const out = path.join(tmp('cuda'), 'run');
  const r = run('train', ...TINY, '--epochs', '1', '--backend', 'cuda', '--out', out);
  if (info.available) {
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^backend: CUDA, /);
    assert.ok(fs.existsSync(path.join(out, 'last.safetensors')));
    return;
  }
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /^bagoftricks: ERR_CUDA_UNAVAILABLE: --backend cuda: /);
  assert.ok(r.stderr.includes(info.reason), r.stderr);
  assert.is(r.stdout, '', 'nothing ran');
});

test('usage errors exit 2 with a message', () => {
  const dir = tmp('usage');
  fs.mkdirSync(path.join(dir, 'taken'));
  fs.writeFileSync(path.join(dir, 'taken', 'last.safetensors'), 'x');
  const cases = [
    ['train', '--epochs', '0'],
    ['train', '--epochs', 'two'],
    ['train', '--recipe', 'fancy'],
    ['train', '--precision', 'fp8'],
    ['train', '--bogus'],
    ['train', 'extra'],
    ['train', '--json=1'],
    ['train', '--data', path.join(dir, 'no-such-folder')],
    ['train', '--resume', path.join(dir, 'no-such.safetensors')],
    ['train', '--out', path.join(dir, 'taken'), ...TINY],
    ['train', '--backend', 'tpu'],
    ['train', '--model', 'resnet7'],
    ['train', '--lr', '-1'],
  ];
  for (const args of cases) {
    const r = run(...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^bagoftricks train: /, `${args.join(' ')} explains itself`);
  }
  const help = run('train', '--help');
  assert.is(help.status, 0);
  assert.match(help.stdout, /--val-split/);
  assert.not.match(help.stdout, /--limit/, 'the test-only option stays hidden');
});

test.run();
