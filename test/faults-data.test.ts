/**
 * Faults in the data: files that fail to decode never end a run early, and every file left
 * out (at listing or at decoding) is reported once with its path and reason, in the text
 * output, the --json events, config.json and the report; undecodable files are found before
 * the split, so the split and the class errors are true.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { bot } from './helpers/lib';
import { truncateFile, writePngBomb } from './helpers/data-images';
import { cli, events, folder, jpeg, TINY, tempDirs } from './helpers/faults';

const tmp = tempDirs(test, 'faults-data');

test('a truncated JPEG: every epoch asked for runs, the epoch follows the files that decode, the file is reported everywhere', async () => {
  const root = await folder(path.join(tmp('trunc'), 'data'));
  const bad = path.join(root, 'a', '3.jpg');
  truncateFile(bad, 0.8);
  const out = path.join(tmp('trunc-run'), 'run');
  const r = cli(['train', '--data', root, ...TINY, '--epochs', '3', '--out', out, '--json', '--log-every', '1']);
  assert.is(r.status, 0, r.stderr);
  const ev = events(r.stdout);
  const start = ev[0];
  assert.is(start.event, 'start');
  assert.equal(start.skipped, [{ path: bad, reason: 'truncated' }]);
  assert.is((start.train as number) + (start.val as number), 15, '16 files, 1 left out before the split');
  assert.is(start.stepsPerEpoch, Math.floor((start.train as number) / 2));
  const epochs = ev.filter((e) => e.event === 'epoch');
  assert.equal(epochs.map((e) => e.epoch), [1, 2, 3], 'three epochs, as asked');
  assert.ok(epochs.every((e) => typeof e.valTop1 === 'number'));
  assert.equal(epochs.map((e) => e.step), [1, 2, 3].map((k) => k * (start.stepsPerEpoch as number)));
  const done = ev[ev.length - 1];
  assert.is(done.event, 'done');
  assert.is(done.epoch, 3);
  assert.is(done.skipped, 1);
  assert.ok((done.bestTop1 as number) >= 0, 'a best top-1 was recorded');
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.is(config.data.skipped.length, 1);
  assert.equal([config.data.skipped[0].path, config.data.skipped[0].reason], [bad, 'truncated']);
  assert.match(fs.readFileSync(path.join(out, 'report.html'), 'utf8'), bad);

  // Batch size 1 (no drop-last question) in text mode: an epoch line per epoch and the count.
  const out1 = path.join(tmp('trunc-text'), 'run');
  const t = cli(['train', '--data', root, ...TINY, '--batch-size', '3', '--epochs', '2', '--out', out1]);
  assert.is(t.status, 0, t.stderr);
  assert.is(t.stdout.split('\n').filter((l) => /^epoch \d\/2 /.test(l)).length, 2, t.stdout);
  assert.match(t.stdout, `skipped: 1 file left out (1 truncated): ${bad}`);
  assert.not.match(t.stdout, '-100.00%');
});

test('fit completes every epoch when a source delivers fewer batches than its length', async () => {
  const { Trainer } = bot;
  const classes = ['a', 'b'];
  const trainer = new Trainer('resnet18d', { recipe: 'tricks', inputSize: 8, stem: 'cifar', width: 0.125, classes, overrides: { epochs: 3, warmupEpochs: 0, batchSize: 2, precision: 'fp32', mixupAlpha: 0 } });
  const batch = () => ({ images: { data: new Float32Array(2 * 8 * 8 * 3).map((_, i) => Math.sin(i)), shape: [2, 8, 8, 3] }, labels: new Int32Array([0, 1]) });
  // Claims 4 batches per epoch; delivers 3 (a file failed to decode while the epoch ran).
  const source = {
    length: 4,
    epoch: async function* () {
      for (let i = 0; i < 3; i++) yield batch();
    },
  };
  const validation = { length: 1, epoch: async function* () { yield batch(); } };
  try {
    const r = await trainer.fit(source, { validation });
    assert.is(r.aborted, false);
    assert.is(r.epoch, 3, 'every epoch asked for');
    assert.is(r.step, 9);
    assert.is(r.history.length, 3);
    assert.ok(r.history.every((h) => typeof h.valTop1 === 'number'), 'each epoch validated');
  } finally {
    trainer.dispose();
  }
});

test('listing: empty files, text named .jpg, dangling links, link loops and non-UTF-8 names are reported with their reason', async () => {
  const root = path.join(tmp('list'), 'data');
  await folder(root, 3);
  fs.writeFileSync(path.join(root, 'a', 'zero.jpg'), '');
  fs.writeFileSync(path.join(root, 'a', 'notes.jpg'), 'not a picture\n');
  fs.symlinkSync(path.join(root, 'a', 'gone.jpg'), path.join(root, 'a', 'dangling.jpg'));
  fs.symlinkSync(path.join(root, 'b', 'self.jpg'), path.join(root, 'b', 'self.jpg')); // ELOOP
  fs.symlinkSync(path.join(root, 'b'), path.join(root, 'b', 'up')); // a folder inside itself
  const badName = Buffer.concat([Buffer.from(path.join(root, 'b') + '/x'), Buffer.from([0xff, 0xfe]), Buffer.from('.jpg')]);
  fs.writeFileSync(badName, fs.readFileSync(path.join(root, 'b', '0.jpg')));
  const ds = new bot.data.ImageFolder(root);
  const reasons = Object.fromEntries(ds.ignored.map((f) => [path.relative(root, f.path), f.reason]));
  assert.equal(reasons, {
    'a/dangling.jpg': 'dangling-link',
    'a/notes.jpg': 'not-image',
    'a/zero.jpg': 'empty',
    'b/self.jpg': 'link-loop',
    'b/up': 'link-loop',
    'b/x\ufffd\ufffd.jpg': 'bad-name',
  });
  assert.is(ds.length, 6, 'the good images');

  const out = path.join(tmp('list-run'), 'run');
  const r = cli(['train', '--data', root, ...TINY, '--epochs', '1', '--out', out, '--json']);
  assert.is(r.status, 0, r.stderr);
  const start = events(r.stdout)[0];
  assert.equal((start.skipped as { reason: string }[]).map((s) => s.reason).sort(), ['bad-name', 'dangling-link', 'empty', 'link-loop', 'link-loop', 'not-image']);
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.is(config.data.skipped.length, 6);

  const bench = cli(['bench', 'data', '--data', root, '--size', '8', '--batch-size', '2', '--json']);
  assert.is(bench.status, 0, bench.stderr);
  const rep = JSON.parse(bench.stdout);
  assert.is(rep.leftOutCount, 6);
  assert.equal(rep.leftOut.map((f: { reason: string }) => f.reason).sort(), ['bad-name', 'dangling-link', 'empty', 'link-loop', 'link-loop', 'not-image']);
});

test('a decompression bomb drawn into the validation split: found before the split, no false class error', async () => {
  const root = path.join(tmp('bomb'), 'data');
  for (let i = 0; i < 8; i++) await jpeg(path.join(root, 'a', `${i}.jpg`), 'a', i);
  for (let i = 0; i < 2; i++) await jpeg(path.join(root, 'b', `${i}.jpg`), 'b', i);
  const bomb = await writePngBomb(path.join(root, 'b', 'bomb.png'), 100_000, 100_000);
  // A seed whose split of all three files of "b" puts the bomb alone in validation.
  const listed = new bot.data.ImageFolder(root);
  let seed = -1;
  for (let k = 0; k < 64 && seed < 0; k++) {
    const { val } = listed.split({ val: 0.1, seed: k });
    const vb = Array.from({ length: val.length }, (_, i) => i).filter((i) => val.label(i) === 1).map((i) => val.name(i));
    if (vb.length === 1 && vb[0] === bomb) seed = k;
  }
  assert.ok(seed >= 0, 'such a seed exists');
  const out = path.join(tmp('bomb-run'), 'run');
  const r = cli(['train', '--data', root, ...TINY, '--epochs', '1', '--seed', String(seed), '--out', out, '--json']);
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stderr, 'ERR_DATASET');
  const ev = events(r.stdout);
  assert.equal(ev[0].skipped, [{ path: bomb, reason: 'too-large' }]);
  assert.is(ev[ev.length - 1].event, 'done');

  // A class whose every image fails is a true error, naming the class.
  const dead = path.join(tmp('dead'), 'data');
  await folder(dead, 3);
  for (let i = 0; i < 3; i++) truncateFile(path.join(dead, 'b', `${i}.jpg`), 0.5);
  const d = cli(['train', '--data', dead, ...TINY, '--epochs', '1', '--out', path.join(tmp('dead-run'), 'run')]);
  assert.is(d.status, 1);
  assert.match(d.stderr, /bagoftricks: ERR_DATASET: .*class "b" has no images/);
});

test('eval reports the files left out, with the run split', async () => {
  const root = await folder(path.join(tmp('eval'), 'data'));
  fs.writeFileSync(path.join(root, 'a', 'empty.jpg'), '');
  const out = path.join(tmp('eval-run'), 'run');
  const r = cli(['train', '--data', root, ...TINY, '--epochs', '1', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  const e = cli(['eval', '--checkpoint', path.join(out, 'last.safetensors'), '--json']);
  assert.is(e.status, 0, e.stderr);
  const j = JSON.parse(e.stdout);
  assert.equal(j.skipped, [{ path: path.join(root, 'a', 'empty.jpg'), reason: 'empty' }]);
  const t = cli(['eval', '--checkpoint', path.join(out, 'last.safetensors')]);
  assert.match(t.stdout, 'skipped: 1 file left out (1 empty)');
});

test.run();
