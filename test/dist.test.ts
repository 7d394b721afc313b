/**
 * Data-parallel pieces that run in one process: the loader's shards, BN over groups of the
 * batch (what each rank computes), and the API's argument checks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bot } from './helpers/lib';
import { shardOrder } from '../lib/data/loader';
import { fixedBatch, STEPS } from './helpers/dist-steps';

const range = (n: number) => Int32Array.from({ length: n }, (_, i) => 100 + i);

test('shards: the ranks together take each global batch once, in order, and as many steps each', () => {
  const order = range(23);
  for (const count of [1, 2, 3, 4]) {
    const parts = Array.from({ length: count }, (_, rank) => shardOrder(order, 3, { rank, count, pad: true }, false));
    const steps = parts.map((p) => Math.ceil(p.length / 3));
    assert.ok(steps.every((s) => s === steps[0]), `count ${count}: steps ${steps}`);
    // Global batch g is the ranks' g-th batches one after the other.
    const padded = Array.from({ length: Math.ceil(23 / count) * count }, (_, i) => order[i % 23]);
    const rebuilt: number[] = [];
    for (let g = 0; g < steps[0]; g++) for (const p of parts) rebuilt.push(...p.slice(g * 3, g * 3 + 3));
    assert.equal(rebuilt, padded, `count ${count}`);
  }
});

test('shards: without padding nothing repeats; with dropLast only whole global batches', () => {
  const order = range(23);
  const parts = [0, 1].map((rank) => Array.from(shardOrder(order, 4, { rank, count: 2, pad: false }, false)));
  assert.equal([...parts[0], ...parts[1]].sort(), Array.from(order).sort());
  const dropped = [0, 1].map((rank) => shardOrder(order, 5, { rank, count: 2, pad: true }, true));
  assert.equal(dropped.map((p) => p.length), [10, 10]); // 23 padded to 24: two global batches of 10, the last 4 dropped
});

test('DataLoader shard: each rank gets its slice of every global batch, and the same number of batches', async () => {
  const train = new bot.data.Subset(new bot.data.Mnist(), Int32Array.from({ length: 40 }, (_, i) => i));
  const base = { size: 28, transform: { type: 'eval', resizeRatio: 1 } as const, seed: 1, shuffle: true };
  const whole = new bot.data.DataLoader(train, { ...base, batchSize: 8 });
  const parts = [0, 1].map((rank) => new bot.data.DataLoader(train, { ...base, batchSize: 4, shard: { rank, count: 2 } }));
  assert.is(parts[0].length, whole.length);
  assert.is(parts[1].length, whole.length);
  const all: number[][] = [];
  for await (const b of whole.epoch(2)) all.push(Array.from(b.indices));
  const mine = await Promise.all(parts.map(async (l) => {
    const out: number[][] = [];
    for await (const b of l.epoch(2)) out.push(Array.from(b.indices));
    return out;
  }));
  assert.equal(all.map((_, g) => [...mine[0][g], ...mine[1][g]]), all);
});

test('DataLoader shard: bad shard options are ERR_ARGUMENT', () => {
  const ds = new bot.data.Mnist();
  for (const shard of [{ rank: 2, count: 2 }, { rank: 0, count: 0 }, { rank: 0 }, { rank: 0, count: 2, extra: 1 }]) {
    try {
      new bot.data.DataLoader(ds, { shard: shard as never });
      assert.unreachable(JSON.stringify(shard));
    } catch (e) {
      assert.is((e as { code?: string }).code, 'ERR_ARGUMENT', JSON.stringify(shard));
    }
  }
});

/** Gradients of a Net after forwardBackward on rows [from, to) of fixed batch 0. */
async function gradients(bnGroups: number, from: number, to: number): Promise<Record<string, Float32Array>> {
  const { batch, size, classes } = STEPS;
  const model = bot.createModel('resnet18d', { numClasses: classes, width: 0.125, stem: 'cifar', seed: 3 });
  const n = to - from;
  const net = bot.Net.fromModel(model, { batchSize: n, inputSize: size, bnGroups });
  const b = fixedBatch(0);
  const px = b.images.length / batch;
  await net.forwardBackward({ images: { data: b.images.slice(from * px, to * px), shape: [n, size, size, 3] }, labels: b.labels.slice(from, to), lr: 0.1 });
  const out: Record<string, Float32Array> = {};
  const g = net.getGradients();
  for (const p of net.parameterInfo()) if (p.trainable) out[p.name] = g[p.name].data;
  net.dispose();
  return out;
}

test('bnGroups: the gradient over two BN groups is the mean of the two halves\u2019 gradients', async () => {
  const half = STEPS.batch / 2;
  const [grouped, a, b, plain] = await Promise.all([gradients(2, 0, STEPS.batch), gradients(1, 0, half), gradients(1, half, STEPS.batch), gradients(1, 0, STEPS.batch)]);
  let worst = 0;
  let apart = 0;
  for (const k of Object.keys(grouped)) {
    let d = 0, n = 0, dp = 0;
    for (let i = 0; i < grouped[k].length; i++) {
      const mean = (a[k][i] + b[k][i]) / 2;
      d += (grouped[k][i] - mean) ** 2;
      dp += (plain[k][i] - mean) ** 2;
      n += mean * mean;
    }
    worst = Math.max(worst, Math.sqrt(d / (n || 1)));
    apart = Math.max(apart, Math.sqrt(dp / (n || 1)));
  }
  assert.ok(worst < 1e-5, `grouped vs mean of halves: ${worst}`);
  // BN over the whole batch is a different computation: the check can tell them apart.
  assert.ok(apart > 1e-3, `whole-batch BN vs mean of halves: ${apart}`);
});

test('bnGroups: a batch that does not divide into the groups is ERR_SHAPE; bad values ERR_ARGUMENT', async () => {
  const model = bot.createModel('resnet18d', { numClasses: 10, width: 0.125, stem: 'cifar', seed: 3 });
  const net = bot.Net.fromModel(model, { batchSize: 6, inputSize: 16, bnGroups: 2 });
  const images = { data: new Float32Array(3 * 16 * 16 * 3), shape: [3, 16, 16, 3] };
  await net.trainStep({ images, labels: new Int32Array(3), lr: 0.1 }).then(
    () => assert.unreachable('3 rows in 2 groups'),
    (e) => assert.is(e.code, 'ERR_SHAPE'),
  );
  net.dispose();
  for (const bnGroups of [0, 7, 1.5]) {
    assert.throws(() => bot.Net.fromModel(model, { batchSize: 6, inputSize: 16, bnGroups }), (e: { code?: string }) => e.code === 'ERR_ARGUMENT');
  }
});

test('distributed API: support is reported; wrong arguments are ERR_ARGUMENT', () => {
  const s = bot.distributedSupport();
  assert.type(s.mpi, 'boolean');
  if (process.env.BAGOFTRICKS_EXPECT_MPI === '1') {
    assert.ok(s.mpi, 'this build was expected to have MPI');
    assert.match(s.library, /MPI/);
  }
  assert.is(bot.launchedRank({ OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_RANK: '1' })?.size, 4);
  assert.is(bot.launchedRank({ PMI_RANK: '0', PMI_SIZE: '2' })?.rank, 0);
  assert.is(bot.launchedRank({ OMPI_COMM_WORLD_RANK: '4', OMPI_COMM_WORLD_SIZE: '4' }), null);
  assert.is(bot.launchedRank({}), null);
  const model = bot.createModel('resnet18d', { numClasses: 10, width: 0.125, stem: 'cifar', seed: 3 });
  const net = bot.Net.fromModel(model, { batchSize: 2, inputSize: 16 });
  assert.throws(() => net.distribute({} as never), (e: { code?: string }) => e.code === 'ERR_ARGUMENT');
  assert.throws(() => new bot.Trainer('resnet18d', { inputSize: 16, numClasses: 10, distributed: {} as never }), (e: { code?: string }) => e.code === 'ERR_ARGUMENT');
  // Started alone, 'auto' trains in one process.
  const alone = new bot.Trainer('resnet18d', { inputSize: 16, numClasses: 10, width: 0.125, stem: 'cifar', distributed: 'auto', overrides: { batchSize: 4 } });
  assert.is(alone.distributed, null);
  assert.is(alone.net.batchSize, 4);
  alone.dispose();
  net.dispose();
});

test.run();
