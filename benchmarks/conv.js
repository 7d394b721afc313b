#!/usr/bin/env node
'use strict';
/**
 * Convolution benchmark: GFLOP/s of conv2d forward, backward-data and backward-filter
 * over ResNet-50's distinct convolutions, on 1 thread and on every core, next to the
 * cores' FMA peak and, where /usr/bin/python3 has torch, PyTorch on the same shapes and
 * thread count in the same run (ratio = our GFLOP/s / PyTorch's).
 *
 *   node benchmarks/conv.js [--batch 32] [--size 224] [--threads 1,2] [--reps 2]
 *                           [--only stem,layer3] [--no-peer] [--peer-isa AVX2] [--out results.json]
 *                           [--net resnet50|resnet18d|resnet18d-cifar|mobilenetv1|mobilenetv1-cifar]
 *                           [--width 1]
 * --net picks the network whose convolutions are measured (default ResNet-50's);
 * resnet18d-cifar is ResNet-18-D with the CIFAR stem (use --size 32), at --width;
 * mobilenetv1 are MobileNetV1's convolutions (--only dw: its 3×3 depthwise ones).
 * Prints a table per thread count and one final JSON line.
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const bot = require('..');
const { resnet50Convs, resnet18dConvs, mobilenetv1Convs, convFlops } = require('./shapes');
const { machine } = require('./machine');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const batch = Number(arg('batch', 32));
const size = Number(arg('size', 224));
const reps = Number(arg('reps', 2));
const threadList = String(arg('threads', `1,${require('os').cpus().length}`)).split(',').map(Number);
const only = arg('only', '');
const usePeer = !process.argv.includes('--no-peer');
const outFile = arg('out', '');

const net = arg('net', 'resnet50');
const width = Number(arg('width', 1));
const NETS = {
  resnet50: () => resnet50Convs(size),
  resnet18d: () => resnet18dConvs(size, width, false),
  'resnet18d-cifar': () => resnet18dConvs(size, width, true),
  mobilenetv1: () => mobilenetv1Convs(size, width, false),
  'mobilenetv1-cifar': () => mobilenetv1Convs(size, width, true),
};
if (!NETS[net]) throw new Error(`--net must be one of ${Object.keys(NETS).join(', ')}`);
let shapes = NETS[net]();
if (only) shapes = shapes.filter((s) => only.split(',').some((o) => s.name.includes(o)));

function best(fn) {
  fn();
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    t = Math.min(t, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return t;
}

function randn(n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5;
  return a;
}

function ours(sh) {
  const { ops } = bot;
  const x = { data: randn(batch * sh.h * sh.w * sh.c), shape: [batch, sh.h, sh.w, sh.c] };
  const g = sh.groups ?? 1;
  const w = { data: randn((sh.k * sh.r * sh.s * sh.c) / g), shape: [sh.k, sh.r, sh.s, sh.c / g] };
  const o = { stride: sh.stride, padding: sh.pad, groups: g };
  const y = ops.conv2d(x, w, o);
  const dy = { data: randn(y.data.length), shape: y.shape };
  // Outputs go to buffers allocated once (as in a training step), so that what is timed is
  // the convolution and not the allocation and first-touch page faults of a new array.
  const dx = new Float32Array(x.data.length);
  const dw = new Float32Array(w.data.length);
  return {
    forward: best(() => ops.conv2d(x, w, { ...o, out: y.data })),
    backwardData: best(() => ops.conv2dBackwardData(dy, w, { ...o, inputShape: x.shape, out: dx })),
    backwardFilter: best(() => ops.conv2dBackwardFilter(x, dy, { ...o, weightShape: w.shape, out: dw })),
  };
}

// The peer's oneDNN picks the widest instruction set of the CPU (AVX-512 where there is
// one); --peer-isa AVX2 limits it to AVX2 (ONEDNN_MAX_CPU_ISA), the instruction set of our
// kernels, for a like-for-like comparison.
const peerIsa = arg('peer-isa', '');

function torchPeer(threads) {
  if (!usePeer) return null;
  const env = { ...process.env };
  if (peerIsa) env.ONEDNN_MAX_CPU_ISA = peerIsa;
  const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'peers', 'torch_conv.py')], {
    input: JSON.stringify({ shapes, batch, threads, reps, format: 'channels_last' }),
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

const PASSES = ['forward', 'backwardData', 'backwardFilter'];
const m = machine();
const report = { benchmark: 'conv2d', date: new Date().toISOString(), machine: m, batch, size, peerIsa: peerIsa || 'default', runs: [] };
console.log(`conv2d on ${m.cpu} (${m.cores} cores, ${m.clockGHz} GHz, FMA peak ${m.peakGflopsPerCore} GFLOP/s per core), batch ${batch}, ${size}², NHWC fp32`);

for (const threads of threadList) {
  bot.runtime.setThreads(threads);
  const peer = torchPeer(threads);
  const peak = m.peakGflopsPerCore * threads;
  console.log(`\n${threads} thread(s), AVX2 peak ${peak.toFixed(0)} GFLOP/s${peer ? `; PyTorch ${peer.torch} (oneDNN ${peer.mkldnn}, channels_last, ISA ${peerIsa || 'default'})` : ''}`);
  console.log('shape'.padEnd(30) + PASSES.map((p) => p.padStart(16) + (peer ? '  vs torch' : '')).join(''));
  const rows = [];
  const totals = { ours: { forward: 0, backwardData: 0, backwardFilter: 0 }, torch: { forward: 0, backwardData: 0, backwardFilter: 0 } };
  let flopsTotal = 0;
  shapes.forEach((sh, i) => {
    const t = ours(sh);
    const flops = convFlops(sh, batch);
    flopsTotal += flops * sh.count;
    const row = { name: sh.name, count: sh.count, gflop: flops / 1e9 };
    let line = sh.name.padEnd(30);
    for (const p of PASSES) {
      const g = flops / t[p] / 1e9;
      row[p] = { seconds: t[p], gflops: g };
      totals.ours[p] += t[p] * sh.count;
      line += `${g.toFixed(1).padStart(10)} GF/s`.padStart(16);
      if (peer) {
        const tp = peer.results[i][p];
        totals.torch[p] += tp * sh.count;
        row[p].torchSeconds = tp;
        row[p].ratio = tp / t[p];
        line += `  ${(tp / t[p]).toFixed(2).padStart(7)}x`;
      }
    }
    rows.push(row);
    console.log(line);
  });
  const summary = {};
  let line = `${net} total (weighted)`.padEnd(30);
  for (const p of PASSES) {
    const g = flopsTotal / totals.ours[p] / 1e9;
    summary[p] = { gflops: g, percentOfPeak: (100 * g) / peak };
    line += `${g.toFixed(1).padStart(10)} GF/s`.padStart(16);
    if (peer) {
      summary[p].ratio = totals.torch[p] / totals.ours[p];
      line += `  ${summary[p].ratio.toFixed(2).padStart(7)}x`;
    }
  }
  console.log(line);
  console.log('% of FMA peak'.padEnd(30) + PASSES.map((p) => `${summary[p].percentOfPeak.toFixed(0)}%`.padStart(16) + (peer ? ''.padStart(10) : '')).join(''));
  report.runs.push({ threads, peakGflops: peak, torch: peer ? { version: peer.torch, mkldnn: peer.mkldnn, format: peer.format, isa: peerIsa || 'default' } : null, summary, rows });
}

if (outFile) fs.writeFileSync(outFile, JSON.stringify(report, null, 1));
console.log(JSON.stringify({ benchmark: 'conv2d', machine: m, batch, runs: report.runs.map((r) => ({ threads: r.threads, summary: r.summary })) }));
