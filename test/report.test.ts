/**
 * report.html: the validation confusion matrix with class names and counts that match the
 * run's own validation results, per-class accuracy, the gallery of the most confident
 * mistakes (at most GALLERY_CAP, each with true and predicted labels, score and a data:
 * thumbnail), the layout (charts scaling to the width, epoch x axis, per-epoch time, the
 * backend row without its label), and self-containment (no scripts, no external URLs).
 * A tiny MNIST run (the hidden --limit, width 0.125, 16×16) gives a real report.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { bot } from './helpers/lib';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const report: typeof import('../lib/cli/report') = require('../../dist/cli/report');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const details: typeof import('../lib/cli/report-validation') = require('../../dist/cli/report-validation');

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-report-'));
test.after(() => fs.rmSync(ROOT, { recursive: true, force: true }));

const pct = (v: number) => `${Number((v * 100).toPrecision(4))}%`;
const decode = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

/** Every confusion-matrix cell of a report: [true, predicted, count]. */
function matrixCells(html: string): [string, string, number][] {
  return [...html.matchAll(/title="true (.*?), predicted (.*?): (\d+)"/g)].map((m) => [decode(m[1]), decode(m[2]), Number(m[3])]);
}

/** The gallery's figures: thumbnail URI, true and predicted labels, score text. */
function gallery(html: string): { src: string; label: string; pred: string; score: string }[] {
  return [...html.matchAll(/<figure class="mistake"[^>]*>(?:<img src="([^"]*)"[^>]*>)?.*?<figcaption>true <b>(.*?)<\/b><br>pred <b class="bad">(.*?)<\/b><br>(.*?)<\/figcaption><\/figure>/g)]
    .map((m) => ({ src: m[1] ?? '', label: decode(m[2]), pred: decode(m[3]), score: m[4] }));
}

/** What a self-contained report must not hold: scripts, links, external or file URLs, non-data sources. */
function expectSelfContained(html: string): void {
  assert.not.match(html, /<script/i, 'no scripts');
  assert.not.match(html, /<link|<iframe|<object|@import|url\(/i, 'no linked resources');
  assert.not.match(html, /https?:\/\/|file:|\/\/[a-z0-9.-]+\.[a-z]{2,}\//i, 'no external or file URLs');
  assert.not.match(html, /\b(src|href)="(?!data:image\/(png|jpeg);base64,)/i, 'every source is an inline data: image');
}

test('train: report.html holds the validation confusion matrix, per-class accuracy and the confident mistakes of the run', () => {
  const out = path.join(ROOT, 'run');
  const r = spawnSync(process.execPath, [cli, 'train', '--limit', '300', '--width', '0.125', '--size', '16', '--batch-size', '32', '--epochs', '2', '--seed', '3', '--out', out],
    { encoding: 'utf8', env, timeout: 180_000 });
  assert.is(r.status, 0, r.stderr);
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  const classes: string[] = config.data.classes;
  const nVal: number = config.data.val;
  const rows = report.parseMetrics(fs.readFileSync(path.join(out, 'metrics.csv'), 'utf8'));
  const epochs = rows.filter((x) => x.kind === 'epoch');
  assert.is(epochs.length, 2);

  // The matrix: every (true, predicted) pair of class names once, counts summing to the validation split.
  const cells = matrixCells(html);
  assert.is(cells.length, classes.length ** 2, 'a k × k matrix');
  assert.equal(cells.map(([t, p]) => `${t}/${p}`), classes.flatMap((t) => classes.map((p) => `${t}/${p}`)), 'rows: true class, columns: predicted, in class order');
  const n = cells.reduce((a, c) => a + c[2], 0);
  assert.is(n, nVal, 'every validation image counted once');
  const correct = cells.filter(([t, p]) => t === p).reduce((a, c) => a + c[2], 0);
  // The final weights on the same (deterministic) validation batches: the last epoch's top-1.
  const top1 = epochs[1].val_top1!;
  assert.ok(Math.abs(correct / n - top1) < 1e-5, `matrix top-1 ${correct / n} vs the last epoch's val_top1 ${top1}`);
  for (const name of classes) assert.match(html, new RegExp(`<th scope="col">${name}</th>`), `column header ${name}`);

  // Per-class counts and accuracy beside each row.
  for (const t of classes) {
    const row = cells.filter((c) => c[0] === t);
    const total = row.reduce((a, c) => a + c[2], 0);
    const hit = row.find((c) => c[1] === t)![2];
    const m = new RegExp(`<tr><th scope="row">${t}</th>(?:<td[^>]*>\\d+</td>){${classes.length}}<td>(\\d+)</td><td>([^<]*)</td></tr>`).exec(html);
    assert.ok(m, `row of class ${t} with its count and accuracy`);
    assert.is(Number(m![1]), total, `images of class ${t}`);
    assert.is(m![2], total ? pct(hit / total) : '-', `accuracy of class ${t}`);
  }

  // The gallery: the most confident mistakes, capped, highest score first, each with a thumbnail.
  const g = gallery(html);
  assert.is(g.length, Math.min(details.GALLERY_CAP, n - correct), 'every mistake up to the cap');
  assert.ok(g.length > 0, 'a 2-epoch run of 300 digits makes mistakes');
  for (const f of g) {
    assert.ok(classes.includes(f.label) && classes.includes(f.pred) && f.label !== f.pred, `${f.label} → ${f.pred}`);
    assert.match(f.src, /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/, 'an inline PNG thumbnail');
    assert.match(f.score, /^\d+(\.\d+)?%$/);
    assert.ok(cells.find(([t, p]) => t === f.label && p === f.pred)![2] > 0, 'the mistake is counted in the matrix');
  }
  const scores = g.map((f) => Number(f.score.slice(0, -1)));
  assert.equal(scores, scores.slice().sort((a, b) => b - a), 'highest score first');
  assert.match(html, /predicted with the weights at the end of training \(epoch 2, last\.safetensors\)/, 'says which weights');

  // Layout: charts scale to the width, x axis in epochs, per-epoch time, backend without its label.
  assert.is((html.match(/<svg /g) ?? []).length, 4, 'loss, accuracy, learning rate and throughput charts');
  assert.not.match(html, /<svg [^>]*width="/, 'charts take their width from the page');
  assert.match(html, /grid-template-columns: repeat\(auto-fit/);
  assert.match(html, /<meta name="viewport" content="width=device-width/);
  assert.is((html.match(/font-size="12">epoch<\/text>/g) ?? []).length, 4, 'every x axis in epochs');
  assert.match(html, /<th>backend<\/th><td>CPU, /, 'the backend row without "backend:" again');
  const times = [...html.matchAll(/<td>([\d.]+) s<\/td><td>([\d.]+) s<\/td><\/tr>/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.is(times.length, 2, 'epoch time and total time per epoch row');
  assert.equal(times.map((t) => t[1]), epochs.map((e) => Number(e.time_s.toFixed(1))), 'total time: cumulative');
  assert.ok(Math.abs(times[1][0] - (epochs[1].time_s - epochs[0].time_s)) < 0.11, `epoch 2's own time ${times[1][0]}`);
  expectSelfContained(html);
});

test('renderReport: matrix and gallery from given validation details; class names escaped; the cap respected', () => {
  const classes = ['cat', 'dog', 'a<b&c'];
  const thumb = 'data:image/png;base64,iVBORw0KGgo=';
  const v = {
    weights: 'weights at the end of training (epoch 1, last.safetensors)',
    classes,
    confusion: [[5, 1, 0], [2, 3, 0], [0, 4, 0]],
    mistakes: Array.from({ length: 3 }, (_, i) => ({ name: `img${i}.png`, label: 2, pred: 1, score: 0.9 - i * 0.1, thumbnail: i === 2 ? '' : thumb })),
  };
  const rows = [
    { kind: 'step' as const, epoch: 1, step: 2, time_s: 1, loss: 2, acc: 0.2, lr: 0.1, img_per_s: 10, loss_scale: 1, skipped: 0 },
    { kind: 'epoch' as const, epoch: 1, step: 4, time_s: 3, loss: 1.5, acc: 0.4, lr: 0.05, img_per_s: 11, val_loss: 1.2, val_top1: 8 / 15, val_top5: 1, loss_scale: 1, skipped: 0 },
  ];
  const html = report.renderReport({ title: 't', facts: [['backend', 'backend: CPU, 2 threads'], ['model', 'resnet18d']], rows, config: {}, stepsPerEpoch: 4, epochs: 1, validation: v });
  assert.equal(matrixCells(html).map((c) => c[2]), [5, 1, 0, 2, 3, 0, 0, 4, 0]);
  assert.ok(html.includes('<th scope="row">a&lt;b&amp;c</th>') && !html.includes('a<b&c'), 'class names escaped');
  assert.match(html, /<th scope="row">cat<\/th>(?:<td[^>]*>\d+<\/td>){3}<td>6<\/td><td>83\.33%<\/td>/);
  assert.match(html, /<th scope="row">a&lt;b&amp;c<\/th>(?:<td[^>]*>\d+<\/td>){3}<td>4<\/td><td>0%<\/td>/);
  assert.match(html, /<th scope="row">predicted<\/th><td>7<\/td><td>8<\/td><td>0<\/td><td>15<\/td><td>53\.33%<\/td>/, 'predicted totals and top-1');
  const g = gallery(html);
  assert.equal(g.map((f) => [f.label, f.pred, f.score, f.src]), [['a<b&c', 'dog', '90%', thumb], ['a<b&c', 'dog', '80%', thumb], ['a<b&c', 'dog', '70%', '']]);
  assert.match(html, /<th>backend<\/th><td>CPU, 2 threads<\/td>/);
  // One epoch: ticks at round fractions of it, from 0 to 1.
  assert.equal(report.epochTicks(1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.equal(report.epochTicks(3), [0, 1, 2, 3]);
  expectSelfContained(html);

  // Before training has finished: no matrix, a note instead.
  const early = report.renderReport({ title: 't', facts: [], rows, config: {}, stepsPerEpoch: 4, epochs: 3 });
  assert.is(matrixCells(early).length, 0);
  assert.match(early, /appear here when training has finished/);
  assert.ok(early.includes('font-size="11">3</text>'), 'the x axis spans the epochs asked for');
});

test('renderReport: top-5 is shown where metrics.csv has it and left out where it is empty (5 classes or fewer)', () => {
  const row = (top5: number | undefined) => ({ kind: 'epoch' as const, epoch: 1, step: 4, time_s: 3, loss: 1.5, acc: 0.4, lr: 0.05, img_per_s: 11, val_loss: 1.2, val_top1: 0.5, val_top5: top5, loss_scale: 1, skipped: 0 });
  const withTop5 = report.renderReport({ title: 't', facts: [], rows: [row(0.9)], config: {}, stepsPerEpoch: 4, epochs: 1 });
  assert.ok(withTop5.includes('<th>val top-5</th>') && withTop5.includes('val top-5</text>'), 'top-5 column and chart series');
  assert.ok(withTop5.includes('<td>90%</td>') || withTop5.includes('<td>90.00%</td>'), 'the top-5 value');
  const without = report.renderReport({ title: 't', facts: [], rows: [row(undefined)], config: {}, stepsPerEpoch: 4, epochs: 1 });
  assert.not.ok(without.includes('top-5'), 'no top-5 column, series or legend');
  assert.ok(without.includes('<th>val top-1</th>'));
});

test('validationDetails: the cap on the gallery, the most confident mistakes first, JPEG thumbnails of files', async () => {
  // Six 20×20 images of two classes in files; an untrained model's mistakes, capped at 2.
  const dir = path.join(ROOT, 'files');
  fs.mkdirSync(dir);
  const files: string[] = [];
  for (let i = 0; i < 6; i++) {
    const file = path.join(dir, `${i}.png`);
    await sharp({ create: { width: 20, height: 30, channels: 3, background: { r: 40 * i, g: 200 - 30 * i, b: 90 } } }).png().toFile(file);
    files.push(file);
  }
  const ds = new bot.data.ImageList(files, [0, 0, 0, 1, 1, 1], ['left', 'right']);
  const model = bot.createModel('resnet18d', { width: 0.125, numClasses: 2, stem: 'cifar', seed: 5, zeroGamma: false });
  const net = new bot.Net(model.graph(), { batchSize: 4, height: 16, width: 16, training: false });
  try {
    const loader = new bot.data.DataLoader(ds, { batchSize: 4, transform: { type: 'eval', resizeRatio: 1 }, size: 16 });
    const all = await details.validationDetails(net, loader, ds, 'w', 100);
    const capped = await details.validationDetails(net, loader, ds, 'w', 2);
    assert.is(all.confusion.flat().reduce((a, b) => a + b, 0), 6);
    const wrong = 6 - all.confusion[0][0] - all.confusion[1][1];
    assert.is(all.mistakes.length, wrong);
    assert.is(capped.mistakes.length, Math.min(2, wrong));
    assert.equal(capped.mistakes.map((m) => m.name), all.mistakes.slice(0, 2).map((m) => m.name), 'the cap keeps the most confident');
    for (const m of all.mistakes) {
      assert.ok(m.score >= 0.5 && m.score <= 1, 'softmax of the predicted class (of 2)');
      assert.ok(m.label !== m.pred);
    }
    // Thumbnails of files: JPEG, GALLERY_THUMB_PX square.
    const uri = await details.thumbnail(ds, 4);
    assert.match(uri, /^data:image\/jpeg;base64,/);
    const meta = await sharp(Buffer.from(uri.split(',')[1], 'base64')).metadata();
    assert.equal([meta.format, meta.width, meta.height], ['jpeg', details.GALLERY_THUMB_PX, details.GALLERY_THUMB_PX]);
  } finally {
    net.dispose();
  }
});

test.run();
