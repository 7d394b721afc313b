/**
 * K training steps of a small ResNet on fixed batches, for the data-parallel equivalence
 * test. `node dist-steps.js ranks OUT` under mpirun: each rank trains on its half of every
 * batch and gradients are averaged (rank 1 starts from perturbed weights, which the
 * broadcast from rank 0 must overwrite); `node dist-steps.js single OUT`: one process on
 * the whole batch with BN over two groups; `node dist-steps.js nan OUT` under mpirun: like
 * `ranks`, but rank 1's images of step 2 hold a NaN. Rank 0 (or the single process) writes
 * the losses, finiteness, trained parameters and momentum as JSON to OUT.
 */
import * as fs from 'fs';
import { bot } from './lib';

export const STEPS = { batch: 8, steps: 4, size: 16, classes: 10 };

/** Deterministic batch k: images in [-1, 1), labels in [0, classes). */
export function fixedBatch(k: number): { images: Float32Array; labels: Int32Array } {
  const { batch, size, classes } = STEPS;
  let s = (k + 1) * 2654435761;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const images = new Float32Array(batch * size * size * 3);
  for (let i = 0; i < images.length; i++) images[i] = 2 * next() - 1;
  const labels = new Int32Array(batch);
  for (let i = 0; i < batch; i++) labels[i] = Math.floor(next() * classes);
  return { images, labels };
}

async function main(): Promise<void> {
  const [mode, out] = process.argv.slice(2);
  const { batch, steps, size, classes } = STEPS;
  const group = mode === 'ranks' || mode === 'nan' ? await bot.initDistributed({ timeoutSeconds: 60 }) : null;
  const ranks = group?.size ?? 1;
  const rank = group?.rank ?? 0;
  const model = bot.createModel('resnet18d', { numClasses: classes, width: 0.125, stem: 'cifar', seed: 3 });
  const local = batch / ranks;
  const net = bot.Net.fromModel(model, { batchSize: local, inputSize: size, bnGroups: group ? 1 : 2 });
  if (group) {
    // Small buckets: the averaging runs in several, overlapped with the backward pass.
    net.distribute(group, { bucketBytes: 16 * 1024 });
    if (rank === 1) {
      const w = net.getParameters()['conv1.0.weight'];
      net.setParameters({ 'conv1.0.weight': w.data.map((v) => v + 0.5) }, { strict: false });
    }
    await net.broadcastState(0);
  }
  const losses: number[] = [];
  const images: number[] = [];
  const finite: boolean[] = [];
  for (let k = 0; k < steps; k++) {
    const b = fixedBatch(k);
    const pixels = (b.images.length / batch) | 0;
    const mine = b.images.slice(rank * local * pixels, (rank + 1) * local * pixels);
    if (mode === 'nan' && rank === 1 && k === 2) mine[5] = NaN;
    const r = await net.trainStep({
      images: { data: mine, shape: [local, size, size, 3] },
      labels: b.labels.slice(rank * local, (rank + 1) * local),
      lr: 0.2, momentum: 0.9, weightDecay: 5e-4, smoothing: 0.1,
    });
    losses.push(r.loss);
    images.push(r.images);
    finite.push(r.finite);
  }
  if (rank === 0) {
    const params: Record<string, number[]> = {};
    const momentum: Record<string, number[]> = {};
    const m = net.getMomentum();
    const p = net.getParameters();
    for (const info of net.parameterInfo()) {
      if (!info.trainable) continue;
      params[info.name] = Array.from(p[info.name].data);
      momentum[info.name] = Array.from(m[info.name].data);
    }
    fs.writeFileSync(out, JSON.stringify({ losses, images, finite, params, momentum, stats: net.distStats() }));
  }
  net.dispose();
  group?.finalize();
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
