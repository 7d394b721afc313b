'use strict';
// Training results through each decoder: the same CIFAR-10 JPEGs, model, recipe, seed and
// held-out split, trained three times through the public CLI, each run in its own process:
//
//   sharp     the ImageFolder, every image decoded by sharp (`train --decoder sharp`)
//   jpegPath  the same ImageFolder, plain JPEGs decoded by the core's libjpeg-turbo path (default)
//   pack      the file `bagoftricks pack` makes of that folder (`train --data FILE.pack`)
//
//   node benchmarks/accuracy/decoders.js [--per-class 1250] [--val-split 0.2] [--epochs 2]
//                                        [--seed 0] [--threads 1] [--cache DIR] [--out FILE]
//
// The folder holds the first 1,250 files (by name) of each class of
// ../shared/data/cifar10-jpeg (unpacked by ./data.js); the CLI holds out a stratified 20% (250
// per class) for validation, drawn from the seed, so the three runs train on the same 10,000
// images and report top-1 on the same 2,500 (the folder and the pack list the same files in the
// same order: checked below). The
// recipe is the short protocol's (protocol.json): resnet18d, CIFAR stem, width 0.5, 32², batch
// 64, lr 0.1, weight decay 5e-4, warmup 0.5 epoch, cosine, label smoothing 0.1, mixup 0.2,
// pad-and-crop. BAGOFTRICKS_THREADS=1 and --workers 1: one core each.
//
// Also measured: how many images each decoder handled (the `done` event's `decoders`), and
// whether both decoders give the same pixels on these files (every image decoded whole by
// each, compared byte for byte).
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { parseArgs } = require('util');
const { unpack, CLASSES } = require('./data');

const { values: a } = parseArgs({
  options: {
    'per-class': { type: 'string', default: '1250' },
    'val-split': { type: 'string', default: '0.2' },
    epochs: { type: 'string', default: '2' },
    seed: { type: 'string', default: '0' },
    threads: { type: 'string', default: '1' },
    cache: { type: 'string', default: path.join(os.tmpdir(), 'bagoftricks-accuracy') },
    out: { type: 'string' },
  },
});
const root = path.resolve(__dirname, '../..');
const cli = path.join(root, 'dist', 'cli.js');
const spec = JSON.parse(fs.readFileSync(path.join(__dirname, 'protocol.json'), 'utf8'));
const p = spec.protocols.short;
const perClass = Number(a['per-class']);

function node(args, env = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', maxBuffer: 1 << 28, cwd: root, env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`bagoftricks ${args.join(' ')} failed (exit ${r.status ?? r.signal}):\n${r.stderr}`);
  return r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

/** The first `perClass` files of each class, copied into `dir` (an ImageFolder). */
function makeFolder(train, dir) {
  if (fs.existsSync(path.join(dir, '.complete'))) return;
  fs.rmSync(dir, { recursive: true, force: true });
  for (const c of CLASSES) {
    const names = fs.readdirSync(path.join(train, c)).filter((f) => f.endsWith('.jpg')).sort().slice(0, perClass);
    if (names.length < perClass) throw new Error(`class ${c} has ${names.length} images, fewer than ${perClass}`);
    fs.mkdirSync(path.join(dir, c), { recursive: true });
    for (const n of names) fs.copyFileSync(path.join(train, c, n), path.join(dir, c, n));
  }
  fs.writeFileSync(path.join(dir, '.complete'), '');
}

/** Every image of the folder decoded whole by each decoder: how many come out identical. */
async function comparePixels(bot, folder) {
  const { decodeImage, DECODE_DEFAULTS } = bot.data;
  let same = 0;
  let diffSum = 0;
  let maxDiff = 0;
  let values = 0;
  let jpegPathImages = 0;
  for (let i = 0; i < folder.length; i++) {
    const src = folder.source(i);
    const t = {};
    const x = await decodeImage(src, () => ({}), { ...DECODE_DEFAULTS, jpegPath: true }, t);
    const y = await decodeImage(src, () => ({}), { ...DECODE_DEFAULTS, jpegPath: false });
    jpegPathImages += t.jpegPathImages ?? 0;
    let eq = x.data.length === y.data.length;
    for (let k = 0; k < x.data.length; k++) {
      const d = Math.abs(x.data[k] - y.data[k]);
      if (d) eq = false;
      diffSum += d;
      if (d > maxDiff) maxDiff = d;
    }
    values += x.data.length;
    if (eq) same++;
  }
  return { images: folder.length, decodedByJpegPath: jpegPathImages, identical: same, meanAbsDiff: diffSum / values, maxAbsDiff: maxDiff };
}

async function main() {
  const archive = path.resolve(root, spec.data);
  const train = unpack(archive, a.cache);
  const folder = path.join(a.cache, `decoders-${perClass}`);
  makeFolder(train, folder);
  const pack = path.join(a.cache, `decoders-${perClass}.pack`);
  const packReport = node(['pack', folder, pack, '--json'])[0];

  const bot = require(root);
  const images = new bot.data.ImageFolder(folder);
  const packed = new bot.data.PackedDataset(pack);
  const sameOrder = images.length === packed.length && Array.from({ length: images.length }, (_, i) => i).every((i) => images.label(i) === packed.label(i) && packed.name(i) === `${pack}:${images.name(i)}`);
  const pixels = await comparePixels(bot, images);
  console.log(`pixels: ${pixels.identical} of ${pixels.images} images identical through both decoders (mean |diff| ${pixels.meanAbsDiff.toFixed(4)}, max ${pixels.maxAbsDiff})`);

  const recipe = ['--model', p.model, '--stem', p.stem, '--size', '32', '--width', String(p.width), '--epochs', a.epochs, '--batch-size', String(p.batchSize),
    '--lr', String(p.lr), '--weight-decay', String(p.weightDecay), '--warmup-epochs', String(p.warmupEpochs), '--label-smoothing', String(p.labelSmoothing),
    '--mixup', String(p.mixupAlpha), '--val-split', a['val-split'], '--seed', a.seed, '--workers', '1', '--json'];
  const runs = [];
  for (const [name, data, extra] of [['sharp', folder, ['--decoder', 'sharp']], ['jpegPath', folder, []], ['pack', pack, []]]) {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), `bagoftricks-decoders-${name}-`));
    const t0 = performance.now();
    const ev = node(['train', '--data', data, ...recipe, ...extra, '--out', path.join(out, 'run')], { BAGOFTRICKS_THREADS: a.threads });
    const seconds = (performance.now() - t0) / 1000;
    const start = ev.find((e) => e.event === 'start');
    const done = ev.find((e) => e.event === 'done');
    const epochs = ev.filter((e) => e.event === 'epoch').map((e) => ({ epoch: e.epoch, loss: e.loss, acc: e.acc, valTop1: e.valTop1, valLoss: e.valLoss, seconds: e.seconds }));
    const run = { name, data, train: start.train, val: start.val, top1: done.top1, top5: done.top5, bestTop1: done.bestTop1, decoders: done.decoders, epochs, processSeconds: seconds };
    runs.push(run);
    console.log(`${name.padEnd(9)} top-1 ${(100 * run.top1).toFixed(2)}%  decoders: ${run.decoders.jpegPath} JPEG path, ${run.decoders.sharp} sharp  ${seconds.toFixed(0)} s`);
    fs.rmSync(out, { recursive: true, force: true });
  }

  const short = JSON.parse(fs.readFileSync(path.join(root, 'benchmarks', 'results', 'accuracy-short-2026-12-02.json'), 'utf8'));
  const sd = short.summary.bagoftricks.top1.sd;
  const top1s = runs.map((r) => r.top1);
  const spread = Math.max(...top1s) - Math.min(...top1s);
  const report = {
    date: new Date().toISOString(),
    command: `node benchmarks/accuracy/decoders.js ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, gpu: 'none', threads: Number(a.threads), node: process.version },
    data: {
      archive: spec.data, folder: `the first ${perClass} files of each class, by name`, images: images.length,
      valSplit: Number(a['val-split']), pack: { images: packReport.images, verbatim: packReport.verbatim, bytes: packReport.bytes },
      packListsTheFolderInOrder: sameOrder,
    },
    recipe: { model: p.model, stem: p.stem, size: 32, width: p.width, epochs: Number(a.epochs), batchSize: p.batchSize, lr: p.lr, weightDecay: p.weightDecay,
      warmupEpochs: p.warmupEpochs, labelSmoothing: p.labelSmoothing, mixupAlpha: p.mixupAlpha, seed: Number(a.seed), transform: 'padcrop (padding 4, flip 0.5)' },
    pixels,
    runs,
    summary: {
      top1: Object.fromEntries(runs.map((r) => [r.name, r.top1])),
      maxDifferencePoints: Math.round(spread * 10000) / 100,
      seedToSeedSdPoints: Math.round(sd * 10000) / 100,
      seedToSeedSource: 'benchmarks/results/accuracy-short-2026-12-02.json (4 seeds, same recipe, 1,000 eval images per class)',
    },
  };
  console.log(`max difference ${report.summary.maxDifferencePoints} points; seed-to-seed sd ${report.summary.seedToSeedSdPoints} points`);
  if (a.out) fs.writeFileSync(a.out, JSON.stringify(report, null, 1) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
