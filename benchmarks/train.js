#!/usr/bin/env node
'use strict';
/**
 * Training throughput against PyTorch on the same cores, in the same run:
 *
 *   node benchmarks/train.js [--model resnet50d,resnet18d] [--batch-size 32] [--size 224]
 *                            [--steps 3] [--no-peer] [--out benchmarks/results/cpu-DATE.json]
 *
 * For each model: `bagoftricks bench train` in-process (with its per-op profile), then
 * the PyTorch peer (benchmarks/peers/torch_train.py, both memory formats, the faster kept)
 * with the same batch, size, loss and optimizer — once as installed (oneDNN picks the
 * widest instruction set of the CPU, AVX-512 where there is one) and once limited to AVX2
 * (ONEDNN_MAX_CPU_ISA=AVX2), the instruction set of our kernels; prints img/s and both
 * ratios, and one JSON line.
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const bot = require('..');
const { benchTrain } = require('../dist/bench/train');
const { machine } = require('./machine');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const models = String(arg('model', 'resnet50d,resnet18d')).split(',');
const batchSize = Number(arg('batch-size', 32));
const size = Number(arg('size', 224));
const steps = Number(arg('steps', 3));
const classes = Number(arg('classes', 1000));
const width = Number(arg('width', 1));
const usePeer = !process.argv.includes('--no-peer');
const outFile = arg('out', '');

function peer(model, threads, isa, formats) {
  if (!usePeer) return null;
  const env = { ...process.env };
  if (isa) env.ONEDNN_MAX_CPU_ISA = isa;
  const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'peers', 'torch_train.py')], {
    input: JSON.stringify({ model, batch: batchSize, size, steps, classes, width, threads, ...(formats ? { formats } : {}) }),
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

(async () => {
  const m = machine();
  const threads = bot.runtime.getThreads();
  console.log(`training benchmark on ${m.cpu} (${m.cores} cores, ${threads} threads), batch ${batchSize}, ${size}², fp32, ${steps} timed steps`);
  const rows = [];
  for (const model of models) {
    const ours = await benchTrain({ model, batchSize, size, steps, classes, width, stem: 'imagenet', profile: true });
    const torch = peer(model, threads);
    const torchAvx2 = torch ? peer(model, threads, 'AVX2', [torch.bestFormat]) : null;
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
  const report = { benchmark: 'train', date: new Date().toISOString(), machine: m, threads, batchSize, size, steps, rows };
  if (outFile) fs.writeFileSync(outFile, JSON.stringify(report, null, 1));
  console.log(JSON.stringify({ benchmark: 'train', batchSize, size, threads, rows: rows.map((r) => ({ model: r.model, imgPerSec: r.ours.imgPerSec, torchImgPerSec: r.torch?.imgPerSec ?? null, ratio: r.ratio, torchAvx2ImgPerSec: r.torchAvx2?.imgPerSec ?? null, ratioAvx2: r.ratioAvx2 })) }));
})();
