#!/usr/bin/env node
'use strict';
/**
 * The CPU benchmarks in one run, into one results file:
 *
 *   node benchmarks/cpu.js [--models resnet50d,resnet18d] [--batch-size 32] [--batches 1,32]
 *                          [--size 224] [--steps 3] [--warmup 3] [--iters 10] [--threads N]
 *                          [--no-peer] [--no-ort] [--out FILE]
 *   node benchmarks/cpu.js --quick     # smoke run: resnet18d, 64², train batch 2 × 1 step,
 *                                      # inference batches 1,2 × 2 passes; written to the temp dir
 *
 * Training (benchmarks/train.js: ours with the per-op profile, PyTorch as installed and
 * limited to AVX2) and then inference (benchmarks/infer.js: ours, PyTorch as installed and
 * limited to AVX2, ONNX Runtime, with the logit check) on the same models and threads.
 * Writes benchmarks/results/cpu-<YYYY-MM-DD>.json (or --out): the machine, the versions
 * (node, bagoftricks, torch, onnxruntime), a summary (per model and batch: img/s, the
 * peers' img/s and the ratios ours ÷ peer) and both full reports.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const bot = require('..');
const { machine } = require('./machine');
const { parseTrainArgs, runTrain, trainSummary } = require('./train');
const { parseInferArgs, runInfer, printInferTable, inferSummary } = require('./infer');

const QUICK = ['--models', 'resnet18d', '--batch-size', '2', '--batches', '1,2', '--size', '64', '--steps', '1', '--warmup', '1', '--iters', '2'];

function parseArgs(argv) {
  const quick = argv.includes('--quick');
  // A flag is read at its first occurrence, so those given on the command line win over the quick ones.
  const args = quick ? [...argv, ...QUICK] : argv;
  const arg = (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
  };
  const models = String(arg('models', arg('model', 'resnet50d,resnet18d'))).split(',');
  const train = { ...parseTrainArgs(args), models };
  const infer = { ...parseInferArgs(args), models };
  infer.peerIsa = infer.peer ? arg('peer-isa', 'AVX2') : ''; // as train.js, which always adds the AVX2-only peer
  const date = new Date().toISOString().slice(0, 10);
  const out = arg('out', quick ? path.join(os.tmpdir(), `cpu-quick-${date}.json`) : path.join(__dirname, 'results', `cpu-${date}.json`));
  return { quick, threads: Number(arg('threads', 0)), train, infer, out };
}

(async () => {
  const o = parseArgs(process.argv.slice(2));
  if (o.threads) bot.runtime.setThreads(o.threads);
  const m = machine();
  const threads = bot.runtime.getThreads();
  console.log(`CPU benchmarks${o.quick ? ' (quick smoke configuration)' : ''}: ${o.train.models.join(', ')} on ${m.cpu}, ${m.cores} cores, ${threads} threads, measured clock ${m.clockGHz} GHz\n`);

  const train = await runTrain(o.train, m);
  console.log();
  console.log(`inference benchmark: ${o.infer.size}², fp32, eval mode, ${o.infer.warmup} warm-up + ${o.infer.iters} timed passes`);
  const infer = await runInfer(o.infer, m);
  printInferTable(infer);

  const torchVersion = infer.versions.torch ?? train.rows.find((r) => r.torch)?.torch.torch ?? null;
  const strip = ({ machine: _m, date: _d, ...rest }) => rest;
  const report = {
    benchmark: 'cpu',
    date: new Date().toISOString(),
    quick: o.quick,
    machine: m,
    threads,
    versions: { node: process.version, bagoftricks: bot.version, torch: torchVersion, onnxruntime: infer.versions.onnxruntime },
    summary: { train: trainSummary(train), infer: inferSummary(infer) },
    train: strip(train),
    infer: strip(infer),
  };
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, `${JSON.stringify(report, null, 1)}\n`);
  const rel = path.relative(process.cwd(), o.out);
  console.log(`\nwrote ${rel.startsWith('..') ? o.out : rel}`);
})().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
