#!/usr/bin/env node
'use strict';
/**
 * MobileNetV1 against PyTorch: the same weights in our model and in the PyTorch model of
 * peers/mobilenet.py (written from the paper, timm's module names), the same NCHW images
 * through load()'s Classifier.forward here and the eval-mode forward there.
 *
 *   node benchmarks/mobilenet-check.js [--model mobilenetv1_100] [--stem imagenet] [--size 224]
 *                                      [--batch 4] [--classes 1000] [--out results.json]
 *
 * The weights are the model's seeded initial values with every BN γ, β, running mean and
 * variance and the classifier bias redrawn at random, so BN (folded into the convs on our
 * side, not on PyTorch's) matters. Prints max |ours − PyTorch| / max |logit| and a JSON
 * line; exits 1 above 1e-4. Needs /usr/bin/python3 with torch and numpy; not a test.
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const bot = require('..');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const name = arg('model', 'mobilenetv1_100');
const stem = arg('stem', 'imagenet');
const size = Number(arg('size', stem === 'cifar' ? 32 : 224));
const batch = Number(arg('batch', 4));
const classes = Number(arg('classes', 1000));
const outFile = arg('out', '');
const TOLERANCE = 1e-4;

// mulberry32, as test/helpers/compare.ts: seeded and the same on every machine.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function main() {
  const model = bot.createModel(name, { numClasses: classes, stem, seed: 1 });
  const u = rng(2);
  const params = model.initialParameters();
  for (const spec of model.parameters()) {
    const p = params.get(spec.name);
    for (let i = 0; i < p.length; i++) {
      if (spec.kind === 'gamma') p[i] = 0.5 + u();
      else if (spec.kind === 'beta') p[i] = 0.4 * (u() - 0.5);
      else if (spec.kind === 'running_mean') p[i] = 0.6 * (u() - 0.5);
      else if (spec.kind === 'running_var') p[i] = 0.4 + 1.6 * u();
      else if (spec.kind === 'bias') p[i] = 0.02 * (u() - 0.5);
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-mobilenet-check-'));
  try {
    const weights = path.join(dir, 'weights.safetensors');
    const tensors = {};
    for (const spec of model.parameters()) tensors[spec.name] = { data: params.get(spec.name), shape: spec.shape };
    await bot.train.writeSafetensors(weights, tensors, {});
    const shape = [batch, 3, size, size];
    const x = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => 4 * (u() - 0.5));
    const input = path.join(dir, 'input.f32');
    fs.writeFileSync(input, Buffer.from(x.buffer));

    const clf = await bot.load(weights, { model: { name, numClasses: classes, stem }, batchSize: batch });
    const t0 = process.hrtime.bigint();
    const ours = await clf.forward(x, shape);
    const oursMs = Number(process.hrtime.bigint() - t0) / 1e6;
    clf.dispose();

    const c = model.config;
    const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'peers', 'mobilenet_check.py')], {
      input: JSON.stringify({ weights, input, shape, model: { multiplier: c.multiplier, width: c.width, stem, numClasses: classes } }),
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
    if (r.status !== 0) throw new Error(`PyTorch side failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
    const peer = JSON.parse(r.stdout);
    const buf = Buffer.from(peer.logits, 'base64');
    const theirs = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < theirs.length; i++) {
      diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
      scale = Math.max(scale, Math.abs(theirs[i]));
    }
    const rel = diff / scale;
    const report = {
      check: 'mobilenet-vs-pytorch', date: new Date().toISOString(), model: name, stem, size, batch, classes,
      torch: peer.torch, maxAbsDiff: diff, maxAbsLogit: scale, relative: rel, tolerance: TOLERANCE, pass: rel <= TOLERANCE, oursMs,
    };
    console.log(`${name} (${stem} stem, ${size}², batch ${batch}, ${classes} classes) vs PyTorch ${peer.torch}: max |ours - torch| = ${diff.toExponential(3)}, max |logit| = ${scale.toFixed(3)}, relative ${rel.toExponential(3)} (tolerance ${TOLERANCE})`);
    console.log(JSON.stringify(report));
    if (outFile) fs.writeFileSync(outFile, JSON.stringify(report, null, 1));
    if (!report.pass) process.exitCode = 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
