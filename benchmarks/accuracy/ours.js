'use strict';
// One run of the protocol by bagoftricks, through the public Trainer and DataLoader:
//   node benchmarks/accuracy/ours.js --protocol short --seed 0 --split DIR --out run.json
// DIR is a split prepared by data.js. Writes the run's per-epoch curve, the learning rate of
// every step and the wall time as JSON.
const fs = require('fs');
const path = require('path');
const { parseArgs } = require('util');

const { values: a } = parseArgs({ options: { protocol: { type: 'string' }, seed: { type: 'string' }, split: { type: 'string' }, out: { type: 'string' }, set: { type: 'string' } } });
const spec = JSON.parse(fs.readFileSync(path.join(__dirname, 'protocol.json'), 'utf8'));
if (!spec.protocols[a.protocol]) throw new Error(`no protocol ${a.protocol}`);
// --set '{"warmupEpochs": 0}': fields of the protocol changed for this run (run.js passes the same to both sides).
const p = { ...spec.protocols[a.protocol], ...(a.set ? JSON.parse(a.set) : {}) };
const seed = Number(a.seed);

const bot = require('../..');
const { pixelsDataset, SIDE } = require('./data');

/** The split's `name` arrays (train or eval) as a data set of the package. */
function load(dir, name, classes) {
  const read = (ext) => new Uint8Array(fs.readFileSync(path.join(dir, `${name}.${ext}`)));
  return pixelsDataset(bot, read('u8'), read('labels'), classes, name);
}

async function main() {
  bot.runtime.setThreads(spec.threads);
  const t0 = performance.now();
  const classes = JSON.parse(fs.readFileSync(path.join(a.split, 'meta.json'), 'utf8')).classes;
  const train = load(a.split, 'train', classes);
  const evalSet = load(a.split, 'eval', classes);
  const trainLoader = new bot.data.DataLoader(train, {
    batchSize: p.batchSize, seed, dropLast: true, size: SIDE, output: 'f32',
    transform: { type: 'padcrop', padding: p.padding, flip: p.flip },
  });
  const evalLoader = new bot.data.DataLoader(evalSet, { batchSize: 250, size: SIDE, output: 'f32', cache: true, transform: { type: 'eval', resizeRatio: 1 } });
  const trainer = new bot.Trainer(p.model, {
    recipe: 'tricks',
    overrides: {
      epochs: p.epochs, batchSize: p.batchSize, lr: p.lr, momentum: p.momentum, nesterov: p.nesterov, weightDecay: p.weightDecay,
      noBiasDecay: p.noBiasDecay, zeroGamma: p.zeroGamma, warmupEpochs: p.warmupEpochs, schedule: p.schedule,
      labelSmoothing: p.labelSmoothing, mixupAlpha: p.mixupAlpha, precision: 'fp32',
    },
    inputSize: SIDE, stem: p.stem, width: p.width, classes, seed,
  });
  const lrs = [];
  const losses = [];
  const curve = [];
  const tTrain = performance.now();
  await trainer.fit(trainLoader, {
    validation: evalLoader,
    callbacks: {
      onBatchEnd: (_s, l) => {
        lrs.push(l.lr);
        losses.push(l.loss);
      },
      onEpochEnd: (e, l) => {
        curve.push({ epoch: e, trainLoss: l.loss, trainAcc: l.acc, evalTop1: l.valTop1, evalLoss: l.valLoss, seconds: l.seconds });
        process.stderr.write(`ours seed ${seed} epoch ${e}: loss ${l.loss.toFixed(4)} eval top-1 ${(100 * l.valTop1).toFixed(2)}% (${l.seconds.toFixed(1)} s)\n`);
      },
    },
  });
  const trainSeconds = (performance.now() - tTrain) / 1000;
  trainer.dispose();
  const result = {
    side: 'bagoftricks', version: bot.version, seed, protocol: a.protocol, threads: bot.runtime.getThreads(),
    top1: curve[curve.length - 1].evalTop1, curve, lrs, losses, trainSeconds, totalSeconds: (performance.now() - t0) / 1000,
  };
  fs.writeFileSync(a.out, JSON.stringify(result));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
