#!/usr/bin/env node
// The data benchmark over size classes, decoders, transforms and workers: runs
// `bagoftricks bench data --json` once per configuration and repetition, alternating the
// decoders (and packed/folder sources) so a busy neighbour disturbs both alike, and reports
// min / median / max of each measure.
//
//   node benchmarks/data.js --corpus /tmp/bot-data-corpus [--reps 3] [--out FILE.json]
//                           [--classes photos-0.27mp,photos-2mp] [--quick]
//
// The corpus comes from benchmarks/data-corpus.js; a class folder with a packed file beside it
// (CLASS.pack, from `bagoftricks pack CORPUS/CLASS CORPUS/CLASS.pack`) is measured from the
// pack too.
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const corpus = path.resolve(arg('--corpus', '/tmp/bot-data-corpus'));
const reps = Number(arg('--reps', '3'));
const outFile = arg('--out', '');
const cli = path.join(__dirname, '..', 'dist', 'cli.js');
// Images per run, per class (batches of 64; `bench data` times them after 4 warm-up batches,
// which fill the loader's array pools: a fresh f32 batch costs ~10k first-touch page faults).
const IMAGES = { 'photos-0.27mp': 1280, 'photos-0.48mp': 768, 'photos-2mp': 512, 'photos-5mp': 384, 'photos-12mp': 384, cmyk: 384 };
const classes = (arg('--classes', '') || Object.keys(IMAGES).join(',')).split(',').filter((c) => fs.existsSync(path.join(corpus, c)));

function files(dir) {
  return fs.readdirSync(path.join(dir, 'images')).filter((f) => !f.startsWith('.')).length;
}

function run(args) {
  const out = execFileSync(process.execPath, [cli, 'bench', 'data', ...args, '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return JSON.parse(out.trim().split('\n').pop());
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor((s.length - 1) / 2)], max: s[s.length - 1] };
}

const configs = [];
for (const c of classes) {
  const dir = path.join(corpus, c);
  const repeat = Math.max(1, Math.round((IMAGES[c] ?? 640) / files(dir)));
  const pack = path.join(corpus, `${c}.pack`);
  for (const [transform, output] of [['train', 'f32'], ['train', 'uint8'], ['eval', 'f32']]) {
    const group = [];
    group.push({ class: c, source: 'folder', decoder: 'auto', transform, output, args: ['--data', dir, '--repeat', String(repeat), '--decoder', 'auto'] });
    group.push({ class: c, source: 'folder', decoder: 'sharp', transform, output, args: ['--data', dir, '--repeat', String(repeat), '--decoder', 'sharp'] });
    // From the pack: as many images as the shared photos' runs (decoding is cheap there).
    if (fs.existsSync(pack)) group.push({ class: c, source: 'pack', decoder: 'auto', transform, output, args: ['--data', pack, '--repeat', String(Math.max(1, Math.round(IMAGES['photos-0.27mp'] / files(dir)))), '--decoder', 'auto'] });
    for (const g of group) g.args.push('--transform', transform, '--output', output);
    configs.push(group);
  }
}
// Scaling with workers: the shared photos, train transform, f32.
if (classes.includes('photos-0.27mp')) {
  const dir = path.join(corpus, 'photos-0.27mp');
  configs.push([1, 2, 4].map((w) => ({ class: 'photos-0.27mp', source: 'folder', decoder: 'auto', transform: 'train', output: 'f32', workers: w, args: ['--data', dir, '--repeat', '120', '--workers', String(w)] })));
}

const results = [];
const t0 = Date.now();
for (const group of configs) {
  const runs = group.map(() => []);
  for (let r = 0; r < reps; r++) {
    group.forEach((g, i) => {
      const rep = run(g.args);
      runs[i].push(rep);
    });
  }
  group.forEach((g, i) => {
    const rs = runs[i];
    const stage = (k) => stats(rs.map((x) => x.stagesMsPerImage[k]));
    const row = {
      class: g.class, source: g.source, decoder: g.decoder, transform: g.transform, output: g.output, workers: g.workers ?? rs[0].settings.workers,
      images: rs[0].images, timedImages: rs[0].timedImages, reps: rs.length,
      imgPerCpuSecond: stats(rs.map((x) => x.imgPerCpuSecond)),
      imgPerSecPerCore: stats(rs.map((x) => x.imgPerSecPerCore)),
      imgPerSec: stats(rs.map((x) => x.imgPerSec)),
      cpuMsPerImage: stats(rs.map((x) => x.cpuMsPerImage)),
      stagesMsPerImage: { read: stage('read'), header: stage('header'), pixels: stage('pixels'), colour: stage('colour') },
      decoders: rs[0].decoders,
      leftOut: rs[0].leftOutCount,
    };
    results.push(row);
    const m = row.imgPerCpuSecond.median;
    console.log(`${g.class.padEnd(14)} ${g.source.padEnd(6)} ${g.decoder.padEnd(5)} ${g.transform.padEnd(5)} ${g.output.padEnd(5)} w${String(row.workers).padEnd(2)} ` +
      `img/s per CPU-second ${m} (min ${row.imgPerCpuSecond.min}, max ${row.imgPerCpuSecond.max}); wall img/s per core ${row.imgPerSecPerCore.median} ` +
      `(min ${row.imgPerSecPerCore.min}); CPU ms/img ${row.cpuMsPerImage.median}`);
  });
}
const report = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus()[0]?.model, cores: os.cpus().length, loadavgAtEnd: os.loadavg(), node: process.version },
  seconds: Math.round((Date.now() - t0) / 1000),
  corpus,
  results,
};
if (outFile) fs.writeFileSync(outFile, JSON.stringify(report, null, 1) + '\n');
