#!/usr/bin/env node
'use strict';
/**
 * Inference throughput against PyTorch and ONNX Runtime on the same cores, in the same run:
 *
 *   node benchmarks/infer.js [--models resnet50d,resnet18d] [--batches 1,32] [--size 224]
 *                            [--threads N] [--warmup 3] [--iters 10] [--peer-isa AVX2]
 *                            [--rounds 1] [--no-peer] [--no-ort] [--json] [--out results.json]
 *
 * For each model and batch size: `Net.forward` (eval mode, fp32, NHWC input) of our core;
 * the PyTorch peer (benchmarks/peers/torch_infer.py: the same variant built by
 * peers/resnet.py, eval + inference_mode, both memory formats, the faster kept) with
 * torch.set_num_threads = our thread count, and with --peer-isa ISA a second PyTorch run
 * limited to that instruction set (ONEDNN_MAX_CPU_ISA=AVX2: our kernels are AVX2, the
 * installed oneDNN uses AVX-512 where the CPU has it); and onnxruntime-node on the ONNX
 * export of the same model (lib/export/onnx.ts, batch norm folded, H and W fixed as our
 * Net's are), intraOpNumThreads =
 * our thread count, interOpNumThreads 1 — skipped with the reason printed when the
 * exporter or the runtime is missing. All three run the same weights on the same images
 * and their logits are compared, so that the table compares the same computation.
 *
 * Timing: `--warmup` untimed passes, then `--iters` timed ones; img/s = batch × iters /
 * their total time. Ratios are ours ÷ peer (above 1: we are faster). The weights are the
 * model's seeded initial weights with zero-γ off and seeded random batch-norm statistics,
 * so that every residual branch contributes to the logits being compared.
 *
 * --rounds R repeats the whole measurement R times (ours, then ORT, model by model, so the
 * two alternate; PyTorch in the first round only): each row then reports the median img/s
 * of each side and the median and minimum of the per-round ratios, and the report keeps
 * every round's figures (row.rounds).
 *
 * Prints a table and one JSON line (--json: the JSON line alone); --out writes the whole
 * report (per-pass times, logit differences, versions, machine) as JSON.
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const bot = require('..');
const { machine } = require('./machine');

const INFER_DEFAULTS = {
  models: ['resnet50d', 'resnet18d'],
  batches: [1, 32],
  size: 224,
  threads: 0, // 0: the core's pool as it is (every core, or BAGOFTRICKS_THREADS)
  warmup: 3,
  iters: 10,
  classes: 1000,
  width: 1,
  peer: true,
  peerIsa: '', // e.g. 'AVX2': a second PyTorch run with ONEDNN_MAX_CPU_ISA set to it
  ort: true,
  rounds: 1,
};

/** Options from argv (flags as in the header), defaults filled in. */
function parseInferArgs(argv) {
  const arg = (name, dflt) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
  };
  const list = (s) => String(s).split(',').filter(Boolean);
  const d = INFER_DEFAULTS;
  return {
    models: list(arg('models', d.models.join(','))),
    batches: list(arg('batches', d.batches.join(','))).map(Number),
    size: Number(arg('size', d.size)),
    threads: Number(arg('threads', d.threads)),
    warmup: Number(arg('warmup', d.warmup)),
    iters: Number(arg('iters', d.iters)),
    classes: Number(arg('classes', d.classes)),
    width: Number(arg('width', d.width)),
    peer: !argv.includes('--no-peer'),
    peerIsa: arg('peer-isa', d.peerIsa),
    ort: !argv.includes('--no-ort'),
    rounds: Math.max(1, Number(arg('rounds', d.rounds))),
    json: argv.includes('--json'),
    out: arg('out', ''),
  };
}

/** A seeded LCG in [0, 1); the same generator as `bench train`'s images. */
function lcg(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  };
}

/** `n` NHWC images of size² × 3 in [−1, 1). */
function randomImages(n, size) {
  const next = lcg(12345);
  const data = new Float32Array(n * size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = (next() - 0.5) * 2;
  return { data, shape: [n, size, size, 3] };
}

/**
 * The model and the weights all three runtimes use: the seeded initial conv and linear
 * weights, and BN γ ∈ [0.5, 1.5), β ∈ [−0.1, 0.1), running mean ∈ [−0.1, 0.1) and
 * running variance ∈ [0.5, 1.5) from a seeded generator.
 */
function benchModel(name, o) {
  const model = bot.createModel(name, { numClasses: o.classes, width: o.width, seed: 0, zeroGamma: false });
  const params = model.initialParameters();
  const next = lcg(2024);
  const ranges = { gamma: [0.5, 1.5], beta: [-0.1, 0.1], running_mean: [-0.1, 0.1], running_var: [0.5, 1.5] };
  for (const spec of model.parameters()) {
    const r = ranges[spec.kind];
    if (!r) continue;
    const a = params.get(spec.name);
    for (let i = 0; i < a.length; i++) a[i] = r[0] + (r[1] - r[0]) * next();
  }
  return { model, params };
}

/** Awaits `fn` `warmup` times untimed, then `iters` times timed. */
async function timeIt(fn, batch, warmup, iters) {
  for (let i = 0; i < warmup; i++) await fn();
  const batchMs = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    batchMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const total = batchMs.reduce((a, b) => a + b, 0);
  return { imgPerSec: (batch * iters) / (total / 1000), msPerBatch: total / iters, batchMs };
}

/** Our Net.forward at one batch size (an inference-only Net): its logits, then its timing. */
async function oursForward(model, params, images, batch, o) {
  const net = bot.Net.fromModel(model, { batchSize: batch, inputSize: o.size, training: false });
  try {
    net.setParameters(params);
    const x = { data: images.data.subarray(0, batch * o.size * o.size * 3), shape: [batch, o.size, o.size, 3] };
    const logits = (await net.forward(x)).data;
    const timing = await timeIt(() => net.forward(x), batch, o.warmup, o.iters);
    return { ...timing, memoryBytes: net.memoryBytes(), logits };
  } finally {
    net.dispose();
  }
}

/** NHWC → NCHW copy of the first `batch` images. */
function toNCHW(images, batch, size) {
  const hw = size * size;
  const out = new Float32Array(batch * 3 * hw);
  for (let n = 0; n < batch; n++) {
    for (let p = 0; p < hw; p++) {
      for (let c = 0; c < 3; c++) out[(n * 3 + c) * hw + p] = images.data[(n * hw + p) * 3 + c];
    }
  }
  return out;
}

/** onnxruntime-node and our ONNX exporter, or the reason the ORT column is skipped. */
function loadOrt() {
  let ort;
  let exporter;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    return { reason: `onnxruntime-node is not installed (${e.code || e.message})` };
  }
  try {
    exporter = require('../dist/export/onnx');
  } catch (e) {
    return { reason: `the ONNX exporter (dist/export/onnx.js) is not built (${e.code || e.message})` };
  }
  if (typeof exporter.exportOnnx !== 'function') return { reason: 'dist/export/onnx.js has no exportOnnx' };
  return { ort, exportOnnx: exporter.exportOnnx, version: require('onnxruntime-node/package.json').version };
}

/** An ORT session on the ONNX export of the model (input "input", NCHW; output "logits"). */
async function ortSession(lib, model, params, size, threads) {
  const bytes = lib.exportOnnx(model, params, { foldBatchNorm: true, inputSize: size });
  return lib.ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

/** ORT at one batch size: its logits, then its timing. */
async function ortForward(session, lib, images, batch, o) {
  const x = new lib.ort.Tensor('float32', toNCHW(images, batch, o.size), [batch, 3, o.size, o.size]);
  const feeds = { [session.inputNames[0]]: x };
  const out = session.outputNames[0];
  const logits = (await session.run(feeds))[out].data;
  const timing = await timeIt(() => session.run(feeds), batch, o.warmup, o.iters);
  return { ...timing, logits: Float32Array.from(logits) };
}

/** Writes the weights (manifest order, float32 end to end) and the images for the peer. */
function writePeerFiles(dir, model, params, images) {
  const manifest = model.parameters().map((p) => ({ name: p.name, shape: p.shape }));
  const fd = fs.openSync(path.join(dir, 'params.bin'), 'w');
  for (const { name } of manifest) {
    const a = params.get(name);
    fs.writeSync(fd, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  fs.closeSync(fd);
  fs.writeFileSync(path.join(dir, 'input.bin'), new Uint8Array(images.data.buffer, images.data.byteOffset, images.data.byteLength));
  return manifest;
}

/** Runs the PyTorch peer on every batch size of one model; null (and a printed reason) when it cannot. */
function torchPeer(job, isa) {
  const env = { ...process.env };
  if (isa) env.ONEDNN_MAX_CPU_ISA = isa;
  const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'peers', 'torch_infer.py')], {
    input: JSON.stringify(job),
    encoding: 'utf8',
    env,
    maxBuffer: 16 << 20,
  });
  if (r.status !== 0) {
    console.error(`(PyTorch peer${isa ? ` ${isa}` : ''} unavailable: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`);
    return null;
  }
  return JSON.parse(r.stdout);
}

/** max |a − b| / max |b|: the largest difference relative to the reference's largest logit. */
function maxRelDiff(a, b) {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return m > 0 ? d / m : d;
}

function readFloats(file) {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/**
 * The benchmark over o.models × o.batches (options as parseInferArgs returns them);
 * also used by benchmarks/cpu.js. Returns the report: machine, threads, versions, rows.
 */
async function runInfer(o, m = machine()) {
  if (o.threads) bot.runtime.setThreads(o.threads);
  const threads = bot.runtime.getThreads();
  const lib = o.ort ? loadOrt() : { reason: 'disabled (--no-ort)' };
  if (lib.reason) console.error(`(ONNX Runtime column skipped: ${lib.reason})`);
  const maxBatch = Math.max(...o.batches);
  const images = randomImages(maxBatch, o.size);
  const rows = [];
  let torchVersion = null;
  for (const name of o.models) {
    const { model, params } = benchModel(name, o);
    const ours = new Map();
    for (const batch of o.batches) ours.set(batch, await oursForward(model, params, images, batch, o));

    const ort = new Map();
    let ortReason = lib.reason ?? '';
    if (!ortReason) {
      try {
        const session = await ortSession(lib, model, params, o.size, threads);
        for (const batch of o.batches) ort.set(batch, await ortForward(session, lib, images, batch, o));
        await session.release();
      } catch (e) {
        ortReason = `ONNX Runtime failed: ${e.message.split('\n')[0]}`;
        console.error(`(${name}: ${ortReason})`);
      }
    }

    let torch = null;
    let torchIsa = null;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-infer-'));
    try {
      if (o.peer) {
        const manifest = writePeerFiles(dir, model, params, images);
        const job = {
          model: name, classes: o.classes, width: o.width, size: o.size, batches: o.batches, threads,
          warmup: o.warmup, iters: o.iters, manifest, params: path.join(dir, 'params.bin'), input: path.join(dir, 'input.bin'),
        };
        torch = torchPeer({ ...job, logits: dir });
        if (torch && o.peerIsa) torchIsa = torchPeer(job, o.peerIsa);
        if (torch) torchVersion = torch.torch;
      }
      for (const batch of o.batches) {
        const us = ours.get(batch);
        const pt = torch?.rows.find((r) => r.batch === batch) ?? null;
        const ptIsa = torchIsa?.rows.find((r) => r.batch === batch) ?? null;
        const rt = ort.get(batch) ?? null;
        const ptLogits = pt ? readFloats(path.join(dir, `logits-${batch}.bin`)) : null;
        rows.push({
          model: name,
          batch,
          ours: { imgPerSec: us.imgPerSec, msPerBatch: us.msPerBatch, batchMs: us.batchMs, memoryBytes: us.memoryBytes },
          torch: pt,
          torchIsa: ptIsa ? { isa: o.peerIsa, ...ptIsa } : null,
          ort: rt ? { imgPerSec: rt.imgPerSec, msPerBatch: rt.msPerBatch, batchMs: rt.batchMs } : null,
          ortReason: rt ? '' : ortReason,
          ratioTorch: pt ? us.imgPerSec / pt.imgPerSec : null,
          ratioTorchIsa: ptIsa ? us.imgPerSec / ptIsa.imgPerSec : null,
          ratioOrt: rt ? us.imgPerSec / rt.imgPerSec : null,
          // Logits against PyTorch's (the reference) and ORT's against PyTorch's, or ours when there is no peer.
          maxRelDiff: {
            oursVsTorch: ptLogits ? maxRelDiff(us.logits, ptLogits) : null,
            ortVsTorch: rt && ptLogits ? maxRelDiff(rt.logits, ptLogits) : null,
            oursVsOrt: rt ? maxRelDiff(us.logits, rt.logits) : null,
          },
        });
      }
      if (torch && torch.params !== model.summary(o.size).params) console.log(`  note: ${name}: parameter counts differ (ours ${model.summary(o.size).params}, peer ${torch.params})`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    benchmark: 'infer',
    date: new Date().toISOString(),
    machine: m,
    threads,
    size: o.size,
    warmup: o.warmup,
    iters: o.iters,
    versions: { torch: torchVersion, onnxruntime: lib.version ?? null },
    ortReason: lib.reason ?? '',
    rows,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Runs runInfer `o.rounds` times (PyTorch in the first round only) and folds the rounds into
 * the first round's report: per row the median img/s of ours and ORT, the median ratio, and
 * row.rounds with every round's img/s and ratios (and their minimum).
 */
async function runInferRounds(o, m = machine()) {
  const reports = [];
  for (let r = 0; r < o.rounds; r++) reports.push(await runInfer(r === 0 ? o : { ...o, peer: false }, m));
  const report = reports[0];
  if (o.rounds === 1) return report;
  report.rounds = o.rounds;
  for (const [i, row] of report.rows.entries()) {
    const all = reports.map((rep) => rep.rows[i]);
    const ours = all.map((x) => x.ours.imgPerSec);
    const ort = all.every((x) => x.ort) ? all.map((x) => x.ort.imgPerSec) : null;
    const ratios = ort ? ours.map((v, k) => v / ort[k]) : null;
    row.rounds = { ours, ort, ratioOrt: ratios, ratioOrtMin: ratios ? Math.min(...ratios) : null, oursVsOrt: all.map((x) => x.maxRelDiff.oursVsOrt) };
    row.ours.imgPerSec = median(ours);
    if (ort) row.ort.imgPerSec = median(ort);
    row.ratioOrt = ratios ? median(ratios) : null;
    if (row.torch) {
      row.ratioTorch = row.ours.imgPerSec / row.torch.imgPerSec;
      if (row.torchIsa) row.ratioTorchIsa = row.ours.imgPerSec / row.torchIsa.imgPerSec;
    }
  }
  return report;
}

const fmt = (x, d = 2) => (x === null || x === undefined ? '—' : x.toFixed(d));
const fmtDiff = (x) => (x === null || x === undefined ? '—' : x.toExponential(1));

/** The table: model, batch, ours, PyTorch, ratio, [PyTorch ISA-limited, ratio], ORT, ratio, logit differences. */
function printInferTable(report) {
  const isa = report.rows.find((r) => r.torchIsa)?.torchIsa.isa;
  const head = ['model', 'batch', 'ours img/s', 'PyTorch img/s', 'ratio', ...(isa ? [`PyTorch ${isa}`, 'ratio'] : []), 'ORT img/s', 'ratio', 'Δ torch', 'Δ ORT'];
  const body = report.rows.map((r) => [
    r.model,
    String(r.batch),
    fmt(r.ours.imgPerSec),
    r.torch ? `${fmt(r.torch.imgPerSec)} (${r.torch.bestFormat === 'channels_last' ? 'NHWC' : 'NCHW'})` : '—',
    r.ratioTorch === null ? '—' : `${fmt(r.ratioTorch)}x`,
    ...(isa ? [fmt(r.torchIsa?.imgPerSec), r.ratioTorchIsa === null ? '—' : `${fmt(r.ratioTorchIsa)}x`] : []),
    fmt(r.ort?.imgPerSec),
    r.ratioOrt === null ? '—' : `${fmt(r.ratioOrt)}x${r.rounds?.ratioOrtMin != null ? ` (min ${fmt(r.rounds.ratioOrtMin)})` : ''}`,
    fmtDiff(r.maxRelDiff.oursVsTorch),
    fmtDiff(r.maxRelDiff.ortVsTorch ?? r.maxRelDiff.oursVsOrt),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(head));
  for (const row of body) console.log(line(row));
  console.log('ratio = ours ÷ peer (above 1: ours is faster). Δ = max |logit difference| ÷ max |reference logit|: ' +
    'ours against PyTorch, ORT against PyTorch (against ours without a PyTorch run).');
  if (report.rounds) console.log(`${report.rounds} rounds: img/s and the ORT ratio are medians over the rounds (min: the lowest round's ratio); PyTorch ran in the first round.`);
  if (report.ortReason) console.log(`ORT column skipped: ${report.ortReason}`);
}

/** The final JSON line (numbers only). */
function inferSummary(report) {
  return {
    benchmark: 'infer', size: report.size, threads: report.threads,
    rows: report.rows.map((r) => ({
      model: r.model, batch: r.batch, imgPerSec: r.ours.imgPerSec,
      torchImgPerSec: r.torch?.imgPerSec ?? null, ratioTorch: r.ratioTorch,
      torchIsaImgPerSec: r.torchIsa?.imgPerSec ?? null, ratioTorchIsa: r.ratioTorchIsa,
      ortImgPerSec: r.ort?.imgPerSec ?? null, ratioOrt: r.ratioOrt, ratioOrtMin: r.rounds?.ratioOrtMin ?? null, maxRelDiff: r.maxRelDiff,
    })),
  };
}

module.exports = { INFER_DEFAULTS, parseInferArgs, runInfer, runInferRounds, printInferTable, inferSummary, benchModel, randomImages, toNCHW, loadOrt, ortSession, median };

if (require.main === module) {
  (async () => {
    const o = parseInferArgs(process.argv.slice(2));
    const m = machine();
    if (o.threads) bot.runtime.setThreads(o.threads);
    if (!o.json) console.log(`inference benchmark on ${m.cpu} (${m.cores} cores, ${bot.runtime.getThreads()} threads), ${o.size}², fp32, eval mode, ${o.warmup} warm-up + ${o.iters} timed passes${o.rounds > 1 ? `, ${o.rounds} rounds` : ''}`);
    const report = await runInferRounds(o, m);
    if (!o.json) printInferTable(report);
    if (o.out) fs.writeFileSync(o.out, JSON.stringify(report, null, 1));
    console.log(JSON.stringify(inferSummary(report)));
  })().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
