/**
 * The Trainer from code under mpirun: `distributed: 'auto'` takes the launcher's group, each
 * rank's loaders take its shard, fit() trains and validates, evaluate() sums over the ranks.
 * Rank 0 writes what it saw as JSON to the path in argv[2].
 */
import * as fs from 'fs';
import { bot } from './lib';

async function main(): Promise<void> {
  const out = process.argv[2];
  const all = new bot.data.Mnist();
  const train = new bot.data.Subset(all, Int32Array.from({ length: 64 }, (_, i) => i));
  const val = new bot.data.Subset(all, Int32Array.from({ length: 30 }, (_, i) => 1000 + i));
  const trainer = new bot.Trainer('resnet18d', {
    inputSize: 28, numClasses: 10, width: 0.125, stem: 'cifar', distributed: 'auto',
    overrides: { batchSize: 16, epochs: 2, mixupAlpha: 0, warmupEpochs: 0 },
  });
  const group = trainer.distributed!;
  const shard = (pad: boolean) => ({ shard: { rank: group.rank, count: group.size, pad } });
  const t = { type: 'padcrop', padding: 2, flip: 0 } as const;
  const trainLoader = new bot.data.DataLoader(train, { batchSize: 16 / group.size, size: 28, transform: t, ...shard(true) });
  const valLoader = new bot.data.DataLoader(val, { batchSize: 8, size: 28, transform: { type: 'eval', resizeRatio: 1 }, ...shard(false) });
  const fit = await trainer.fit(trainLoader, { validation: valLoader });
  const v = await trainer.evaluate(valLoader);
  if (group.rank === 0) {
    fs.writeFileSync(out, JSON.stringify({ rank: group.rank, size: group.size, step: fit.step, epoch: fit.epoch, history: fit.history, evalN: v.n, top1: v.top1 }));
  }
  trainer.dispose();
  group.finalize();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
