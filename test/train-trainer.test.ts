/**
 * The Trainer: composition of the tricks around the Net, learning, evaluation, the loss
 * scaler in FP16, non-finite FP32 steps, abort, and resume equality through a checkpoint.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Rng, expectCodeAsync } from './helpers/compare';
import { bot } from './helpers/lib';

const { Trainer } = bot;

/** A fixed in-memory data set: class c has a bright blob in quadrant c. */
function source(n: number, size: number, batchSize: number, seed: number) {
  const rng = new Rng(seed);
  const images = new Float32Array(n * size * size * 3);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    labels[i] = c;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const q = (y < size / 2 ? 0 : 2) + (x < size / 2 ? 0 : 1);
        for (let ch = 0; ch < 3; ch++) images[((i * size + y) * size + x) * 3 + ch] = (q === c ? 1.5 : -0.5) + 0.5 * rng.normal();
      }
    }
  }
  const sample = size * size * 3;
  const batches = Math.floor(n / batchSize);
  return {
    length: batches,
    epochs: [] as number[],
    async *epoch(e: number) {
      this.epochs.push(e);
      const order = Array.from({ length: n }, (_, i) => i);
      const r = new Rng(1000 + e);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(r.uniform() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (let b = 0; b < batches; b++) {
        const data = new Float32Array(batchSize * sample);
        const lab = new Int32Array(batchSize);
        for (let k = 0; k < batchSize; k++) {
          const idx = order[b * batchSize + k];
          data.set(images.subarray(idx * sample, (idx + 1) * sample), k * sample);
          lab[k] = labels[idx];
        }
        yield { images: { data, shape: [batchSize, size, size, 3] }, labels: lab };
      }
    },
  };
}

const small = { inputSize: 16, numClasses: 4, width: 0.25, stem: 'cifar' as const, seed: 3 };

test('fit learns a separable task with the tricks recipe, and evaluate reports it', async () => {
  const trainer = new Trainer('resnet18d', {
    ...small,
    recipe: 'tricks',
    overrides: { batchSize: 16, lr: 0.1, epochs: 6, warmupEpochs: 1, precision: 'fp32', mixupAlpha: 0.2, mixupOffEpochs: 2 },
    classes: ['tl', 'tr', 'bl', 'br'],
  });
  const train = source(128, 16, 16, 1);
  const val = source(64, 16, 16, 2);
  const seen: number[] = [];
  const lrs: number[] = [];
  const result = await trainer.fit(train, {
    validation: val,
    callbacks: { onEpochEnd: (e) => void seen.push(e), onBatchEnd: (_s, l) => void lrs.push(l.lr) },
  });
  assert.equal(seen, [1, 2, 3, 4, 5, 6]);
  assert.is(result.epoch, 6);
  assert.is(result.step, 6 * 8);
  // Warmup from 0 over the first epoch, then cosine down.
  assert.ok(lrs[0] === 0 && lrs[7] < 0.1 && Math.abs(lrs[8] - 0.1) < 1e-12, `lr ${lrs.slice(0, 10)}`);
  assert.ok(lrs[lrs.length - 1] < 0.01);
  const v = await trainer.evaluate(val);
  assert.is(v.n, 64);
  assert.ok(v.top1 >= 0.9, `validation top-1 ${v.top1}`);
  assert.ok(v.top5 === 1, 'four classes: top-5 is always right');
  const last = result.history[result.history.length - 1];
  assert.ok(last.valTop1 === v.top1 && last.loss < result.history[0].loss);
  // A source whose batches are larger than the Net's (16) is evaluated in chunks: the same
  // 48 images in one batch of 48 or in three of 16 give the same result.
  const whole = await trainer.evaluate(source(48, 16, 48, 2));
  const chunked = await trainer.evaluate(source(48, 16, 16, 2));
  assert.is(whole.n, 48);
  assert.equal([whole.n, whole.top1, whole.top5], [chunked.n, chunked.top1, chunked.top5]);
  assert.ok(Math.abs(whole.loss - chunked.loss) <= 1e-6 * chunked.loss, `loss ${whole.loss} vs ${chunked.loss}`);
  const pred = await trainer.predict((await val.epoch(0).next()).value!.images, 2);
  assert.is(pred.length, 16);
  assert.ok(pred.every((p) => p.length === 2 && p[0].score >= p[1].score && ['tl', 'tr', 'bl', 'br'].includes(p[0].label)));
  trainer.dispose();
});

test('FP16: the loss scaler starts at 65536, backs off on overflow, and training proceeds', async () => {
  const trainer = new Trainer('resnet18d', { ...small, recipe: 'tricks', overrides: { batchSize: 16, lr: 0.05, epochs: 2, warmupEpochs: 0, mixupAlpha: 0 } });
  assert.is(trainer.recipe.precision, 'fp16');
  assert.is(trainer.lossScale, 65536);
  const skipped: boolean[] = [];
  const r = await trainer.fit(source(64, 16, 16, 4), { callbacks: { onBatchEnd: (_s, l) => void skipped.push(l.skipped) } });
  assert.ok(trainer.lossScale <= 65536);
  assert.is(r.step + skipped.filter(Boolean).length, skipped.length, 'every batch either stepped or was skipped');
  assert.ok(r.step >= 4, `${r.step} steps taken`);
  trainer.dispose();
});

test('FP32: a non-finite loss stops the run with ERR_NON_FINITE', async () => {
  const trainer = new Trainer('resnet18d', { ...small, recipe: 'baseline', overrides: { batchSize: 8, lr: 0.1, epochs: 1 } });
  const bad = {
    length: 1,
    async *epoch() {
      yield { images: { data: new Float32Array(8 * 16 * 16 * 3).fill(NaN), shape: [8, 16, 16, 3] }, labels: new Int32Array(8) };
    },
  };
  const before = trainer.net.getParameters()['fc.weight'].data.slice();
  await expectCodeAsync(() => trainer.fit(bad), 'ERR_NON_FINITE', 'NaN input');
  assert.equal(Array.from(trainer.net.getParameters()['fc.weight'].data), Array.from(before), 'no update applied');
  assert.is(trainer.step, 0);
  trainer.dispose();
});

test('abort stops after the current step', async () => {
  const trainer = new Trainer('resnet18d', { ...small, recipe: 'baseline', overrides: { batchSize: 16, epochs: 3 } });
  const ac = new AbortController();
  const r = await trainer.fit(source(64, 16, 16, 5), { signal: ac.signal, callbacks: { onBatchEnd: (s) => void (s === 2 && ac.abort()) } });
  assert.is(r.aborted, true);
  assert.is(r.step, 2);
  trainer.dispose();
});

test('resume: N + M steps equal N steps, save, load, M steps — bit-identical', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-resume-'));
  const ckpt = path.join(dir, 'mid.safetensors');
  const opts = { ...small, recipe: 'tricks' as const, overrides: { batchSize: 16, lr: 0.05, epochs: 3, warmupEpochs: 1, precision: 'fp16' as const, mixupAlpha: 0.2 } };
  const data = () => source(64, 16, 16, 6);
  const straight = new Trainer('resnet18d', opts);
  await straight.fit(data(), { maxSteps: 9 });
  const first = new Trainer('resnet18d', opts);
  await first.fit(data(), { maxSteps: 5 });
  assert.is(first.step, 5);
  await first.save(ckpt);
  first.dispose();
  const resumed = await Trainer.load(ckpt);
  assert.is(resumed.step, 5);
  assert.is(resumed.epoch, 1);
  await resumed.fit(data(), { maxSteps: 9 });
  assert.is(resumed.step, 9);
  const a = straight.net.getParameters();
  const b = resumed.net.getParameters();
  for (const k of Object.keys(a)) assert.ok(a[k].data.every((v, i) => Object.is(v, b[k].data[i])), `${k} bit-identical`);
  const ma = straight.net.getMomentum();
  const mb = resumed.net.getMomentum();
  for (const k of Object.keys(ma)) assert.ok(ma[k].data.every((v, i) => Object.is(v, mb[k].data[i])), `momentum ${k} bit-identical`);
  assert.is(resumed.lossScale, straight.lossScale);
  straight.dispose();
  resumed.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
