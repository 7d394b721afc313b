/**
 * Signals: SIGTERM saves like SIGINT (exit 143); a signal stops the run after the step in
 * progress, with no validation and no further step; a second signal exits at once and the
 * checkpoint of before stays intact.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { bot } from './helpers/lib';

import { cli, cliLive, events, folder, TINY, tempDirs } from './helpers/faults';

const tmp = tempDirs(test, 'faults-sig');

let data = '';
test.before(async () => {
  data = await folder(path.join(tmp('data'), 'data'));
});

const header = async (file: string) => (await bot.train.readSafetensorsHeader(file)).metadata;

test('SIGTERM saves last.safetensors and exits 143; the run resumes from there', async () => {
  const out = path.join(tmp('term'), 'run');
  let sent = false;
  const r = await cliLive(['train', '--data', data, ...TINY, '--epochs', '20', '--out', out, '--log-every', '1', '--json'], (line, child) => {
    if (!sent && JSON.parse(line).event === 'step') {
      sent = true;
      child.kill('SIGTERM');
    }
  });
  assert.is(r.code, 143, r.stderr);
  const ev = events(r.stdout);
  const stop = ev[ev.length - 1];
  assert.is(stop.event, 'interrupted');
  assert.is(stop.signal, 'SIGTERM');
  const meta = await header(path.join(out, 'last.safetensors'));
  assert.is(Number(meta.step), stop.step);
  assert.ok((stop.step as number) >= 1 && (stop.step as number) < 20 * 7);
  const resumed = cli(['train', '--resume', path.join(out, 'last.safetensors'), '--json']);
  assert.is(resumed.status, 0, resumed.stderr);
  assert.is(events(resumed.stdout)[0].step, stop.step);
});

function trainer(epochs: number) {
  return new bot.Trainer('resnet18d', {
    recipe: 'tricks', inputSize: 8, stem: 'cifar', width: 0.125, classes: ['a', 'b'],
    overrides: { epochs, warmupEpochs: 0, batchSize: 2, precision: 'fp32', mixupAlpha: 0 },
  });
}
const batch = () => ({ images: { data: new Float32Array(2 * 8 * 8 * 3).map((_, i) => Math.cos(i)), shape: [2, 8, 8, 3] }, labels: new Int32Array([0, 1]) });
const source = (n: number) => ({ length: n, epoch: async function* () { for (let i = 0; i < n; i++) yield batch(); } });

test('a signal during the last step of an epoch: no validation, no epoch end, and a resume validates it', async () => {
  const t = trainer(3);
  let validated = 0;
  const validation = { length: 1, epoch: async function* () { validated++; yield batch(); } };
  const ac = new AbortController();
  const ends: number[] = [];
  try {
    const r = await t.fit(source(3), {
      validation, signal: ac.signal,
      callbacks: { onBatchEnd: (step) => { if (step === 3) ac.abort(); }, onEpochEnd: (e) => { ends.push(e); } },
    });
    assert.equal([r.aborted, r.step, r.epoch], [true, 3, 0]);
    assert.is(validated, 0, 'no validation after the signal');
    assert.equal(ends, []);
    // Saved and resumed here: the epoch's batches are all consumed; only its validation is left.
    const file = path.join(tmp('ckpt'), 'mid.safetensors');
    await t.save(file);
    const u = await bot.Trainer.load(file);
    try {
      const r2 = await u.fit(source(3), { validation, epochs: 1, callbacks: { onEpochEnd: (e) => { ends.push(e); } } });
      assert.equal([r2.step, r2.epoch], [3, 1], 'no step retrained');
      assert.is(validated, 1);
      assert.equal(ends, [1]);
    } finally {
      u.dispose();
    }
  } finally {
    t.dispose();
  }
});

test('a signal during validation or an epoch-end callback: not one more step', async () => {
  const t = trainer(3);
  const ac = new AbortController();
  try {
    const r = await t.fit(source(3), { validation: source(1), signal: ac.signal, callbacks: { onEpochEnd: () => ac.abort() } });
    assert.equal([r.aborted, r.step, r.epoch], [true, 3, 1]);
    const ac2 = new AbortController();
    let validations = 0;
    const slowVal = { length: 2, epoch: async function* () { validations++; yield batch(); ac2.abort(); yield batch(); } };
    const r2 = await t.fit(source(3), { validation: slowVal, signal: ac2.signal });
    assert.equal([r2.aborted, r2.step, r2.epoch], [true, 6, 1], 'validation stopped; the epoch is left for a resume to validate');
    assert.is(validations, 1);
  } finally {
    t.dispose();
  }
});

test('a second SIGINT at once exits 130 and leaves the previous checkpoint intact', async () => {
  const out = path.join(tmp('twice'), 'run');
  const first = cli(['train', '--data', data, ...TINY, '--epochs', '1', '--out', out]);
  assert.is(first.status, 0, first.stderr);
  const lastFile = path.join(out, 'last.safetensors');
  const before = fs.readFileSync(lastFile);
  let sent = false;
  const r = await cliLive(['train', '--resume', lastFile, '--epochs', '40', '--json', '--log-every', '1'], (line, child) => {
    if (!sent && JSON.parse(line).event === 'step') {
      sent = true;
      child.kill('SIGINT');
      child.kill('SIGINT');
    }
  });
  assert.is(r.code, 130, r.stderr);
  const meta = await header(lastFile);
  const after = fs.readFileSync(lastFile);
  assert.ok(after.equals(before) || Number(meta.step) > 7, 'the old checkpoint, or a complete newer one');
  const ck = await bot.train.loadCheckpoint(lastFile);
  assert.ok(Object.keys(ck.tensors).length > 0);
  // During start-up (before training), SIGINT leaves the checkpoint as it was.
  const r2 = await cliLive(['train', '--resume', lastFile, '--epochs', '40', '--json'], (line, child) => {
    if (JSON.parse(line).event === 'start') {
      child.kill('SIGINT');
      child.kill('SIGINT');
    }
  });
  assert.ok(r2.code === 130 || r2.signal === 'SIGINT', `${r2.code} ${r2.signal}`);
  assert.ok((await bot.train.loadCheckpoint(lastFile)).metadata.step !== undefined, 'still a complete checkpoint');
});

test.run();
