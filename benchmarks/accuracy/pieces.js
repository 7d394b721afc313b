'use strict';
// Compares the pieces of a training run between bagoftricks and PyTorch, not only the end:
//   1. the learning rate of every step of the protocol's run (ours: the Trainer's schedule);
//   2. K steps of the Trainer on fixed batches from identical initial weights (ours saved,
//      PyTorch loads them): the loss of every step, then every weight, BN running statistic
//      and momentum buffer after the K steps;
//   3. one mixup step from the initial weights with the same pairing and λ on both sides;
//   4. the weight decay actually applied to each tensor, measured as the difference between
//      one step with and one without weight decay from the same weights and batch;
//   5. mixup's λ and pairing as the Trainer draws them, against Beta(α, α) and a uniform permutation;
//   6. the statistics of the augmented images over one epoch (padding, crop, flip, normalise).
//
//   node benchmarks/accuracy/pieces.js [--protocol short] [--steps 10] [--out FILE]
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { parseArgs } = require('util');
const { prepare, pixelsDataset, SIDE, IMAGE } = require('./data');

const { values: a } = parseArgs({
  options: {
    protocol: { type: 'string', default: 'short' },
    steps: { type: 'string', default: '10' },
    cache: { type: 'string', default: path.join(os.tmpdir(), 'bagoftricks-accuracy') },
    out: { type: 'string' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const root = path.resolve(__dirname, '../..');
const bot = require(root);
const spec = JSON.parse(fs.readFileSync(path.join(__dirname, 'protocol.json'), 'utf8'));
const p = spec.protocols[a.protocol];
const K = Number(a.steps);
const B = p.batchSize;

function overrides(extra = {}) {
  return {
    epochs: p.epochs, batchSize: B, lr: p.lr, momentum: p.momentum, nesterov: p.nesterov, weightDecay: p.weightDecay,
    noBiasDecay: p.noBiasDecay, zeroGamma: p.zeroGamma, warmupEpochs: p.warmupEpochs, schedule: p.schedule,
    labelSmoothing: p.labelSmoothing, mixupAlpha: p.mixupAlpha, precision: 'fp32', ...extra,
  };
}

function trainer(classes, extra) {
  return new bot.Trainer(p.model, { recipe: 'tricks', overrides: overrides(extra), inputSize: SIDE, stem: p.stem, width: p.width, classes, seed: 0 });
}

const MEAN = [123.68, 116.779, 103.939];
const STD = [58.393, 57.12, 57.375];

/** K fixed batches of K·B training images spread over every class (image 7919·i mod N), normalised, unaugmented. */
function fixedBatches(split) {
  const n = K * B;
  const images = new Float32Array(n * IMAGE);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = (i * 7919) % split.train.count;
    for (let e = 0; e < IMAGE; e++) images[i * IMAGE + e] = (split.train.pixels[j * IMAGE + e] - MEAN[e % 3]) / STD[e % 3];
    labels[i] = split.train.labels[j];
  }
  return { images, labels };
}

function batch(f, k) {
  return { images: { data: f.images.subarray(k * B * IMAGE, (k + 1) * B * IMAGE), shape: [B, SIDE, SIDE, 3] }, labels: f.labels.subarray(k * B, (k + 1) * B) };
}

function stats(xs) {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  return { mean, var: xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1) };
}

async function main() {
  bot.runtime.setThreads(spec.threads);
  const split = await prepare(p, path.resolve(root, spec.data), a.cache);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bagoftricks-pieces-'));
  const classes = split.classes;
  const report = { protocol: a.protocol, steps: K, date: new Date().toISOString(), command: `node benchmarks/accuracy/pieces.js --protocol ${a.protocol} --steps ${K}` };

  // 1. The protocol's learning-rate sequence.
  const perEpoch = Math.floor(split.train.count / B);
  const t0 = trainer(classes);
  const schedule = t0.schedule(perEpoch);
  const lrs = Array.from({ length: p.epochs * perEpoch }, (_, s) => schedule(s));
  t0.dispose();

  // 2. K Trainer steps on fixed batches (mixup off: its draws are compared in 3 and 5).
  const f = fixedBatches(split);
  fs.writeFileSync(path.join(work, 'batches.f32'), Buffer.from(f.images.buffer, f.images.byteOffset, f.images.byteLength));
  fs.writeFileSync(path.join(work, 'batches.labels'), Buffer.from(f.labels.buffer));
  const tr = trainer(classes, { mixupAlpha: 0, epochs: 2, warmupEpochs: 0.5 });
  await tr.save(path.join(work, 'init.safetensors'));
  const source = { length: K, async *epoch() { for (let k = 0; k < K; k++) yield batch(f, k); } };
  const oursLosses = [];
  const oursLrs = [];
  await tr.fit(source, { epochs: 1, callbacks: { onBatchEnd: (_s, l) => { oursLosses.push(l.loss); oursLrs.push(l.lr); } } });
  await tr.save(path.join(work, 'after.safetensors'));
  tr.dispose();

  // 3. One mixup step from the initial weights, the pairing and λ drawn here and given to both sides.
  const rng = new bot.train.TrainRng(7);
  const mix = bot.train.sampleMixup(rng, B, p.mixupAlpha);
  const b0 = batch(f, 0);
  const targets = bot.train.mixTargets(bot.train.smoothLabels(b0.labels, classes.length, p.labelSmoothing), mix.perm, mix.lambda);
  const mixLr = 0.05;
  const tm = trainer(classes);
  const mixStep = await tm.net.trainStep({ images: b0.images, targets, mixup: { perm: mix.perm, lambda: mix.lambda }, lr: mixLr, momentum: p.momentum, nesterov: p.nesterov, weightDecay: p.weightDecay });
  await tm.save(path.join(work, 'after-mixup.safetensors'));
  tm.dispose();

  // 4. Weight decay per tensor: one step at lr 0.1 from the initial weights with and without it.
  for (const wd of [0, p.weightDecay]) {
    const t = trainer(classes, { mixupAlpha: 0 });
    await t.net.trainStep({ ...b0, smoothing: p.labelSmoothing, lr: 0.1, momentum: p.momentum, nesterov: p.nesterov, weightDecay: wd });
    await t.save(path.join(work, `wd-${wd}.safetensors`));
    t.dispose();
  }

  // 5. Mixup draws as the Trainer makes them (TrainRng, seed 0).
  const r5 = new bot.train.TrainRng(0);
  const lambdas = [];
  let fixedPoints = 0;
  let firstSlot = 0;
  const draws = 20000;
  for (let i = 0; i < draws; i++) {
    const m = bot.train.sampleMixup(r5, B, p.mixupAlpha);
    lambdas.push(m.lambda);
    for (let j = 0; j < B; j++) if (m.perm[j] === j) fixedPoints++;
    firstSlot += m.perm[0];
  }
  const al = p.mixupAlpha;
  const ls = stats(lambdas);
  report.mixupDraws = {
    draws, alpha: al,
    lambdaMean: ls.mean, lambdaVar: ls.var, betaMean: 0.5, betaVar: (al * al) / ((2 * al) ** 2 * (2 * al + 1)),
    fractionBelow01: lambdas.filter((x) => x < 0.1).length / draws,
    fixedPointsPerBatch: fixedPoints / draws, uniformPermutationFixedPoints: 1,
    meanPermFirstSlot: firstSlot / draws, uniformMeanPermFirstSlot: (B - 1) / 2,
  };

  // 6. Augmented images over one epoch: per-channel mean and std, ours through the DataLoader.
  const loader = new bot.data.DataLoader(pixelsDataset(bot, split.train.pixels, split.train.labels, classes, 'train'), { batchSize: B, seed: 0, dropLast: true, size: SIDE, output: 'f32', transform: { type: 'padcrop', padding: p.padding, flip: p.flip } });
  const sum = [0, 0, 0], sq = [0, 0, 0];
  let count = 0, pad = 0;
  for await (const bt of loader.epoch(0)) {
    const d = bt.images.data;
    for (let i = 0; i < d.length; i++) {
      sum[i % 3] += d[i];
      sq[i % 3] += d[i] * d[i];
    }
    // Padding pixels are exactly the normalised 0 (CIFAR's own black pixels count too, on both sides).
    for (let i = 0; i < d.length; i += 3) if (Math.abs(d[i] + MEAN[0] / STD[0]) < 1e-6 && Math.abs(d[i + 1] + MEAN[1] / STD[1]) < 1e-6 && Math.abs(d[i + 2] + MEAN[2] / STD[2]) < 1e-6) pad++;
    count += d.length / 3;
    bt.release();
  }
  report.augmentation = { ours: { mean: sum.map((s) => s / count), std: sum.map((s, c) => Math.sqrt(sq[c] / count - (s / count) ** 2)), paddingFraction: pad / count } };

  // The PyTorch side of 1, 2, 3, 4 and 6.
  fs.writeFileSync(path.join(work, 'job.json'), JSON.stringify({
    protocol: a.protocol, steps: K, batch: B, perEpoch, lrs, oursLosses, oursLrs, mixup: { perm: Array.from(mix.perm), lambda: mix.lambda, lr: mixLr, oursLoss: mixStep.loss },
    split: split.dir, seed: 0,
  }));
  const r = spawnSync(a.python, [path.join(__dirname, 'pieces.py'), work], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, OMP_NUM_THREADS: String(spec.threads) } });
  if (r.status !== 0) throw new Error(`pieces.py failed (exit ${r.status ?? r.signal})`);
  const py = JSON.parse(r.stdout.toString());
  Object.assign(report, py, { augmentation: { ...report.augmentation, pytorch: py.augmentation } });
  fs.rmSync(work, { recursive: true, force: true });
  const out = a.out ?? path.join(root, 'benchmarks/results', `accuracy-pieces-${new Date().toISOString().slice(0, 10)}.json`);
  fs.writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  console.log(JSON.stringify(report, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
