/**
 * `bagoftricks eval` and `bagoftricks predict` on checkpoints produced by `train`: a tiny
 * ImageFolder generated with sharp (three colour classes, trained with the ImageNet stem and
 * the 'train' transform at 32×32) and a tiny MNIST run. Top-1/top-5 on the run's validation
 * split or a whole folder, top-k per image in the order given, and bad files reported one by
 * one with ERR_IMAGE_DECODE while the others are still predicted.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 120_000 });

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-cli-eval-'));
const FOLDER = path.join(ROOT, 'colours');
const CLASSES = ['blue', 'green', 'red'];
const TINT: Record<string, [number, number, number]> = { blue: [40, 60, 200], green: [50, 190, 60], red: [210, 50, 40] };

/** A 40×30 JPEG of a class's colour with seeded noise. */
async function writeImage(file: string, cls: string, seed: number): Promise<void> {
  const w = 40;
  const h = 30;
  const px = new Uint8Array(w * h * 3);
  let s = seed * 2654435761;
  for (let i = 0; i < w * h; i++) {
    for (let c = 0; c < 3; c++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      px[3 * i + c] = Math.max(0, Math.min(255, TINT[cls][c] + ((s >>> 24) % 61) - 30));
    }
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
}

let folderRun = '';
let mnistRun = '';

test.before(async () => {
  for (const cls of CLASSES) for (let i = 0; i < 20; i++) await writeImage(path.join(FOLDER, cls, `${i}.jpg`), cls, CLASSES.indexOf(cls) * 100 + i);
  folderRun = path.join(ROOT, 'folder-run');
  const a = run('train', '--data', FOLDER, '--size', '32', '--width', '0.125', '--epochs', '2', '--batch-size', '16', '--val-split', '0.2', '--out', folderRun, '--json');
  assert.is(a.status, 0, a.stderr);
  mnistRun = path.join(ROOT, 'mnist-run');
  const b = run('train', '--limit', '300', '--size', '16', '--width', '0.125', '--epochs', '1', '--batch-size', '32', '--out', mnistRun, '--json');
  assert.is(b.status, 0, b.stderr);
});

test.after(() => {
  fs.rmSync(ROOT, { recursive: true, force: true });
});

test('train on an ImageFolder: classes from the folders, the train transform at --size', () => {
  const config = JSON.parse(fs.readFileSync(path.join(folderRun, 'config.json'), 'utf8'));
  assert.equal(config.data.classes, CLASSES);
  assert.is(config.data.source, FOLDER);
  assert.is(config.data.train + config.data.val, 60);
  assert.is(config.data.val, 12, 'a stratified 20% of each class');
  assert.is(config.data.transform.type, 'train');
  assert.is(config.data.evalTransform.type, 'eval');
  assert.is(config.model.config.stem, 'imagenet');
});

test('eval: the run\'s validation split by default, a whole folder with --data, one JSON line', () => {
  const ckpt = path.join(folderRun, 'last.safetensors');
  const r = run('eval', '--checkpoint', ckpt, '--json');
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.split, 'val');
  assert.is(j.n, 12);
  assert.ok(j.top1 >= 0 && j.top1 <= 1 && !('top5' in j), 'three classes: top-5 (always right) left out');
  assert.equal(j.skipped, []);
  const all = JSON.parse(run('eval', '--checkpoint', ckpt, '--data', FOLDER, '--split', 'all', '--json').stdout);
  assert.is(all.n, 60);
  const human = run('eval', '--checkpoint', ckpt, '--data', FOLDER);
  assert.is(human.status, 0, human.stderr);
  assert.match(human.stdout, /^backend: CPU/);
  assert.match(human.stdout, /top-1 [\d.]+% {2}loss /);
});

test('eval on MNIST with the checkpoint\'s input size; a folder with unknown classes fails', () => {
  const r = run('eval', '--checkpoint', path.join(mnistRun, 'best.safetensors'), '--data', 'mnist', '--json');
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.data, 'mnist');
  assert.is(j.split, 'val');
  assert.is(j.n, 30);
  const wrong = run('eval', '--checkpoint', path.join(mnistRun, 'best.safetensors'), '--data', FOLDER);
  assert.is(wrong.status, 1);
  assert.match(wrong.stderr, /^bagoftricks: ERR_DATASET: .*"blue"/m);
});

test('predict: top-k per image in the given order; bad files get ERR_IMAGE_DECODE, the others still run', () => {
  const ckpt = path.join(folderRun, 'best.safetensors');
  const bad = path.join(ROOT, 'not-an-image.jpg');
  fs.writeFileSync(bad, 'this is text');
  const missing = path.join(ROOT, 'missing.png');
  const good = [path.join(FOLDER, 'red', '3.jpg'), path.join(FOLDER, 'blue', '0.jpg')];
  const r = run('predict', '--checkpoint', ckpt, good[0], bad, good[1], missing, '--json', '--topk', '2');
  assert.is(r.status, 1, 'some image failed');
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.map((l) => l.path), [good[0], bad, good[1], missing]);
  for (const i of [0, 2]) {
    assert.is(lines[i].top.length, 2);
    assert.ok(CLASSES.includes(lines[i].top[0].label));
    assert.ok(lines[i].top[0].score >= lines[i].top[1].score && lines[i].top[0].score <= 1);
  }
  assert.is(lines[1].error.code, 'ERR_IMAGE_DECODE');
  assert.is(lines[1].error.reason, 'not-image');
  assert.is(lines[3].error.code, 'ERR_IMAGE_DECODE');
  assert.is(lines[3].error.reason, 'unreadable');
  assert.match(r.stderr, new RegExp(`ERR_IMAGE_DECODE: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

  const ok = run('predict', '--checkpoint', ckpt, ...good);
  assert.is(ok.status, 0, ok.stderr);
  const out = ok.stdout.trim().split('\n');
  assert.is(out.length, 2);
  assert.ok(out[0].startsWith(`${good[0]}: `));
  assert.is(out[0].split(', ').length, 3, 'topk 5 clamped to the 3 classes');

  const allBad = run('predict', '--checkpoint', ckpt, bad);
  assert.is(allBad.status, 1);
  assert.match(allBad.stderr, /ERR_IMAGE_DECODE/);
});

test('predict DIR: every image under the folder, recursively, in name order; other files are left out, said on stderr', () => {
  const ckpt = path.join(folderRun, 'best.safetensors');
  const dir = path.join(ROOT, 'to-predict');
  fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
  fs.copyFileSync(path.join(FOLDER, 'red', '1.jpg'), path.join(dir, 'c.jpg'));
  fs.copyFileSync(path.join(FOLDER, 'blue', '1.jpg'), path.join(dir, 'a.jpg'));
  fs.copyFileSync(path.join(FOLDER, 'green', '1.jpg'), path.join(dir, 'sub', 'b.jpg'));
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image');
  const single = path.join(FOLDER, 'red', '2.jpg');
  const r = run('predict', '--checkpoint', ckpt, dir, single, '--json', '--topk', '1');
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.map((l) => l.path), [path.join(dir, 'a.jpg'), path.join(dir, 'c.jpg'), path.join(dir, 'sub', 'b.jpg'), single]);
  for (const l of lines) assert.ok(CLASSES.includes(l.top[0].label), JSON.stringify(l));
  assert.match(r.stderr, `bagoftricks predict: left out ${path.join(dir, 'notes.txt')} (`);

  const empty = path.join(ROOT, 'empty-folder');
  fs.mkdirSync(empty);
  const none = run('predict', '--checkpoint', ckpt, empty);
  assert.is(none.status, 2);
  assert.is(none.stderr.trim(), `bagoftricks predict: no images in ${JSON.stringify(empty)} (see bagoftricks predict --help)`);
});

test('predict on an MNIST checkpoint decodes a PNG digit at the checkpoint\'s size', async () => {
  const png = path.join(ROOT, 'digit.png');
  await sharp(Buffer.alloc(28 * 28, 0), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(png);
  const r = run('predict', '--checkpoint', path.join(mnistRun, 'last.safetensors'), png, '--json', '--topk', '10');
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.top.length, 10);
  assert.ok(Math.abs(j.top.reduce((s: number, t: { score: number }) => s + t.score, 0) - 1) < 1e-5, 'softmax scores sum to 1');
});

test('eval/predict usage errors exit 2', () => {
  const ckpt = path.join(mnistRun, 'last.safetensors');
  for (const args of [
    ['eval'],
    ['eval', '--checkpoint', path.join(ROOT, 'none.safetensors')],
    ['eval', '--checkpoint', ckpt, '--split', 'test'],
    ['eval', '--checkpoint', ckpt, '--data', FOLDER, '--split', 'val'],
    ['predict', '--checkpoint', ckpt],
    ['predict', 'x.png'],
    ['predict', '--checkpoint', ckpt, 'x.png', '--topk', '0'],
  ]) {
    const r = run(...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^bagoftricks (eval|predict): /);
  }
});

test.run();
