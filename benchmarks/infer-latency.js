#!/usr/bin/env node
'use strict';
/**
 * Latency and memory of inference through the public API, against ONNX Runtime:
 *
 *   node benchmarks/infer-latency.js [--models resnet18d,resnet50d] [--batches 1,32]
 *                                    [--calls 60] [--calls-large 6] [--rounds 3]
 *                                    [--threads N] [--out results.json]
 *
 * Ours: the weights written as a safetensors state dict, `load(file, { model, batchSize })`,
 * then `classifier.forward(x, [N, 3, 224, 224])` on an NCHW Float32Array (what a service
 * calls). ONNX Runtime: an InferenceSession on our ONNX export of the same weights (batch
 * norm folded; intraOpNumThreads = our thread count, interOpNumThreads 1, sequential,
 * every graph optimisation), `session.run` on the same NCHW tensor. Weights as in
 * benchmarks/infer.js (seeded, with random batch-norm statistics), 224².
 *
 * Each measurement runs in a child process of its own that loads only its runtime, so that
 * its peak resident memory (process.resourceUsage().maxRSS) is that side's alone: the Node
 * process, the runtime, the model and its buffers at that batch size. Per child: 3 warm-up
 * calls, then `--calls` timed calls at batch 1 (`--calls-large` above batch 1), each timed
 * on its own; p50 and p99 are the nearest-rank percentiles of those. The sides alternate
 * (ours, ORT, ours, ...) for `--rounds` rounds; a row reports the median over rounds of
 * each child's p50, p99 and peak RSS, and their minimum and maximum.
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

function arg(argv, name, dflt) {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
}

/** Nearest-rank percentile q (0..100) of xs. */
function percentile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1))];
}

/** The child: one side, one model file, one batch size; prints one JSON line. */
async function child(argv) {
  const side = arg(argv, 'child', '');
  const file = arg(argv, 'file', '');
  const model = arg(argv, 'model', '');
  const batch = Number(arg(argv, 'batch', '1'));
  const calls = Number(arg(argv, 'calls', '60'));
  const threads = Number(arg(argv, 'threads', '0'));
  const size = 224;
  const rssBefore = process.resourceUsage().maxRSS;
  const x = new Float32Array(batch * 3 * size * size);
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = (s / 4294967296 - 0.5) * 2;
  }
  let run;
  let release = async () => {};
  const t0 = process.hrtime.bigint();
  if (side === 'ours') {
    const bot = require('..');
    if (threads) bot.runtime.setThreads(threads);
    const classifier = await bot.load(file, { model, batchSize: batch, classes: Array.from({ length: 1000 }, (_, i) => `c${i}`) });
    run = () => classifier.forward(x, [batch, 3, size, size]);
    release = async () => classifier.dispose();
  } else {
    const ort = require('onnxruntime-node');
    const session = await ort.InferenceSession.create(file, {
      intraOpNumThreads: threads || os.availableParallelism(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, [batch, 3, size, size]) };
    run = () => session.run(feeds);
    release = () => session.release();
  }
  await run(); // the first call builds the Net (ours) or the kernels' state (ORT): counted as setup
  const setupMs = Number(process.hrtime.bigint() - t0) / 1e6;
  for (let i = 0; i < 2; i++) await run();
  const ms = [];
  for (let i = 0; i < calls; i++) {
    const a = process.hrtime.bigint();
    await run();
    ms.push(Number(process.hrtime.bigint() - a) / 1e6);
  }
  const maxRssKiB = process.resourceUsage().maxRSS;
  await release();
  process.stdout.write(`${JSON.stringify({ side, model, batch, setupMs, ms, maxRssKiB, rssBeforeKiB: rssBefore })}\n`);
}

function runChild(args) {
  const r = spawnSync(process.execPath, [__filename, ...args], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`child ${args.join(' ')} failed: ${(r.stderr || '').trim().split('\n').slice(-5).join('\n')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

async function main(argv) {
  const bot = require('..');
  const { machine } = require('./machine');
  const { benchModel, loadOrt, median } = require('./infer');
  const { writeSafetensors } = require('../dist/train/safetensors');
  const models = arg(argv, 'models', 'resnet18d,resnet50d').split(',').filter(Boolean);
  const batches = arg(argv, 'batches', '1,32').split(',').map(Number);
  const calls = Number(arg(argv, 'calls', '60'));
  const callsLarge = Number(arg(argv, 'calls-large', '6'));
  const rounds = Number(arg(argv, 'rounds', '3'));
  const threads = Number(arg(argv, 'threads', '0')) || bot.runtime.getThreads();
  const out = arg(argv, 'out', '');
  const lib = loadOrt();
  if (lib.reason) throw new Error(`ONNX Runtime is needed: ${lib.reason}`);
  const m = machine();
  console.log(`inference latency and memory on ${m.cpu} (${m.cores} cores, ${threads} threads), 224², fp32; ` +
    `${calls} calls at batch 1, ${callsLarge} above; ${rounds} alternating rounds; onnxruntime-node ${lib.version}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-latency-'));
  const rows = [];
  try {
    for (const name of models) {
      const { model, params } = benchModel(name, { classes: 1000, width: 1 });
      const weights = path.join(dir, `${name}.safetensors`);
      const tensors = {};
      for (const spec of model.parameters()) tensors[spec.name] = { data: params.get(spec.name), shape: spec.shape };
      await writeSafetensors(weights, tensors);
      const onnx = path.join(dir, `${name}.onnx`);
      fs.writeFileSync(onnx, lib.exportOnnx(model, params, { foldBatchNorm: true, inputSize: 224 }));
      for (const batch of batches) {
        const n = batch === 1 ? calls : callsLarge;
        const runs = { ours: [], ort: [] };
        for (let r = 0; r < rounds; r++) {
          for (const side of ['ours', 'ort']) {
            runs[side].push(runChild(['--child', side, '--file', side === 'ours' ? weights : onnx, '--model', name,
              '--batch', String(batch), '--calls', String(n), '--threads', String(threads)]));
          }
        }
        const sum = (list) => {
          const p50 = list.map((c) => percentile(c.ms, 50));
          const p99 = list.map((c) => percentile(c.ms, 99));
          const rss = list.map((c) => c.maxRssKiB / 1024);
          const stat = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
          return { p50Ms: stat(p50), p99Ms: stat(p99), peakRssMiB: stat(rss), setupMs: stat(list.map((c) => c.setupMs)), calls: list.map((c) => c.ms) };
        };
        const row = { model: name, batch, ours: sum(runs.ours), ort: sum(runs.ort) };
        rows.push(row);
        const f = (s) => `${s.median.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
        console.log(`${name} batch ${batch}: p50 ms ours ${f(row.ours.p50Ms)} ORT ${f(row.ort.p50Ms)} | ` +
          `p99 ms ours ${f(row.ours.p99Ms)} ORT ${f(row.ort.p99Ms)} | peak RSS MiB ours ${f(row.ours.peakRssMiB)} ORT ${f(row.ort.peakRssMiB)}`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const report = { benchmark: 'infer-latency', date: new Date().toISOString(), machine: m, threads, calls, callsLarge, rounds, onnxruntime: lib.version, rows };
  if (out) fs.writeFileSync(out, JSON.stringify(report, null, 1));
  console.log(JSON.stringify({ benchmark: 'infer-latency', rows: rows.map((r) => ({ model: r.model, batch: r.batch,
    oursP50: r.ours.p50Ms.median, ortP50: r.ort.p50Ms.median, oursP99: r.ours.p99Ms.median, ortP99: r.ort.p99Ms.median,
    oursRssMiB: r.ours.peakRssMiB.median, ortRssMiB: r.ort.peakRssMiB.median })) }));
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  (argv.includes('--child') ? child(argv) : main(argv)).catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
