#!/usr/bin/env node
'use strict';
/**
 * Training throughput against PyTorch on the same cores, in the same run:
 *
 *   node benchmarks/train.js [--model resnet50d,resnet18d] [--batch-size 32] [--size 224]
 *                            [--steps 3] [--classes 1000] [--width 1] [--stem imagenet|cifar]
 *                            [--no-peer] [--out benchmarks/results/train-DATE.json]
 *
 * For each model: `bagoftricks bench train` in-process (with its per-op profile), then
 * the PyTorch peer (benchmarks/peers/torch_train.py, both memory formats, the faster kept)
 * with the same batch, size, loss and optimizer — once as installed (oneDNN picks the
 * widest instruction set of the CPU, AVX-512 where there is one) and once limited to AVX2
 * (ONEDNN_MAX_CPU_ISA=AVX2), the instruction set of our kernels; prints img/s and both
 * ratios, and one JSON line. benchmarks/cpu.js runs this through runTrain().
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const bot = require('..');
const { benchTrain } = require('../dist/bench/train');
const { machine } = require('./machine');

const TRAIN_DEFAULTS = { models: ['resnet50d', 'resnet18d'], batchSize: 32, size: 224, steps: 3, classes: 1000, width: 1, stem: 'imagenet', peer: true };

/** Options from argv (flags as in the header), defaults filled in. */
function parseTrainArgs(argv) {
  const arg = (name, dflt) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
  };
  const d = TRAIN_DEFAULTS;
  return {
    models: String(arg('model', d.models.join(','))).split(','),
    batchSize: Number(arg('batch-size', d.batchSize)),
    size: Number(arg('size', d.size)),
    steps: Number(arg('steps', d.steps)),
    classes: Number(arg('classes', d.classes)),
    width: Number(arg('width', d.width)),
    stem: String(arg('stem', d.stem)),
    peer: !argv.includes('--no-peer'),
    out: arg('out', ''),
  };
}

/** The PyTorch peer for one model; null (and a printed reason) when it cannot run. */
function peer(o, model, threads, isa, formats) {
  if (!o.peer) return null;
  const env = { ...process.env };
  if (isa) env.ONEDNN_MAX_CPU_ISA = isa;
  const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'peers', 'torch_train.py')], {
    input: JSON.stringify({ model, batch: o.batchSize, size: o.size, steps: o.steps, classes: o.classes, width: o.width, stem: o.stem, threads, ...(formats ? { formats } : {}) }),
    encoding: 'utf8',
    env,
    maxBuffer: 16 << 20,
  });
  if (r.status !== 0) {
    console.error(`(PyTorch peer unavailable: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`);
    return null;
  }
  return JSON.parse(r.stdout);
}

/**
 * The benchmark over o.models (options as parseTrainArgs returns them), printing one
 * block per model as it goes; returns the report: machine, threads, rows (ours with its
 * per-op profile, the peer as installed and AVX2-only, ratios ours ÷ peer).
 */
async function runTrain(o, m = machine()) {
  const threads = bot.runtime.getThreads();
  console.log(`training benchmark on ${m.cpu} (${m.cores} cores, ${threads} threads), batch ${o.batchSize}, ${o.size}², width ${o.width}, ${o.stem} stem, fp32, ${o.steps} timed steps`);
  const rows = [];
  for (const model of o.models) {
    const ours = await benchTrain({ model, batchSize: o.batchSize, size: o.size, steps: o.steps, classes: o.classes, width: o.width, stem: o.stem, profile: true });
    const torch = peer(o, model, threads);
    const torchAvx2 = torch ? peer(o, model, threads, 'AVX2', [torch.bestFormat]) : null;
    const ratio = torch ? ours.imgPerSec / torch.imgPerSec : null;
    const ratioAvx2 = torchAvx2 ? ours.imgPerSec / torchAvx2.imgPerSec : null;
    const peak = m.peakGflopsPerCore * threads;
    const achieved = ours.imgPerSec * ours.gflopPerImage;
    console.log(`${model.padEnd(12)} ours ${ours.imgPerSec.toFixed(2)} img/s (${ours.msPerStep.toFixed(0)} ms/step, ${achieved.toFixed(1)} GFLOP/s = ${((100 * achieved) / peak).toFixed(0)}% of the AVX2 peak)`);
    if (torch) console.log(`${''.padEnd(12)} PyTorch ${torch.torch} ${torch.imgPerSec.toFixed(2)} img/s (${torch.bestFormat}, oneDNN default ISA): ratio ${ratio.toFixed(2)}x`);
    if (torchAvx2) console.log(`${''.padEnd(12)} PyTorch ${torchAvx2.imgPerSec.toFixed(2)} img/s (oneDNN limited to AVX2): ratio ${ratioAvx2.toFixed(2)}x`);
    if (torch && torch.params !== ours.params) console.log(`  note: parameter counts differ (ours ${ours.params}, peer ${torch.params})`);
    const total = ours.profile.reduce((a, e) => a + e.seconds, 0);
    console.log(`  where our time goes: ${ours.profile.slice(0, 6).map((e) => `${e.op} ${e.phase} ${((100 * e.seconds) / total).toFixed(0)}%`).join(', ')}`);
    rows.push({ model, ours, torch, torchAvx2, ratio, ratioAvx2 });
  }
  return { benchmark: 'train', date: new Date().toISOString(), machine: m, threads, batchSize: o.batchSize, size: o.size, width: o.width, stem: o.stem, steps: o.steps, rows };
}

/** The final JSON line (numbers only). */
function trainSummary(report) {
  return {
    benchmark: 'train', batchSize: report.batchSize, size: report.size, threads: report.threads,
    rows: report.rows.map((r) => ({ model: r.model, imgPerSec: r.ours.imgPerSec, torchImgPerSec: r.torch?.imgPerSec ?? null, ratio: r.ratio, torchAvx2ImgPerSec: r.torchAvx2?.imgPerSec ?? null, ratioAvx2: r.ratioAvx2 })),
  };
}

module.exports = { TRAIN_DEFAULTS, parseTrainArgs, runTrain, trainSummary };

if (require.main === module) {
  (async () => {
    const o = parseTrainArgs(process.argv.slice(2));
    const report = await runTrain(o);
    if (o.out) fs.writeFileSync(o.out, JSON.stringify(report, null, 1));
    console.log(JSON.stringify(trainSummary(report)));
  })().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
