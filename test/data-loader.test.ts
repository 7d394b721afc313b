/** DataLoader: seeded, scheduling-independent batches, prefetch with backpressure, bad files, caching. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { expectClose, expectCode } from './helpers/compare';
import { bot } from './helpers/lib';
import { rmDir, tmpDir, truncateFile, writeJpeg, writeRaw, gradientPixels } from './helpers/data-images';

const { data, ops } = bot;
type Batch = import('../lib/data').Batch;
type DataLoaderOptions = import('../lib/data').DataLoaderOptions;
type Dataset = import('../lib/data').Dataset;

let dir = '';
let folder = '';
test.before(async () => {
  dir = tmpDir('loader');
  folder = path.join(dir, 'set');
  // 3 classes, 26 images of very different sizes, so that decodes finish out of order.
  const sizes = [[400, 300], [40, 30], [260, 200], [64, 64], [33, 47], [300, 420], [90, 60], [120, 160], [500, 80]];
  let k = 0;
  for (const cls of ['ant', 'bee', 'cow']) {
    const n = cls === 'cow' ? 8 : 9;
    for (let i = 0; i < n; i++, k++) {
      const [w, h] = sizes[(k * 5) % sizes.length];
      await writeJpeg(path.join(folder, cls, `${cls}${i}.jpg`), w, h, k);
    }
  }
});
test.after(() => rmDir(dir));

async function collect(loader: import('../lib/data').DataLoader, epoch = 0): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.epoch(epoch)) out.push(b);
  return out;
}

const flat = (bs: Batch[], f: (b: Batch) => ArrayLike<number>) => bs.flatMap((b) => Array.from(f(b)));

test('an epoch visits every image once, in a seeded order that changes per epoch; shapes and labels', async () => {
  const ds = new data.ImageFolder(folder);
  const loader = new data.DataLoader(ds, { batchSize: 8, size: 32, seed: 1, output: 'uint8' });
  assert.is(loader.length, 4);
  const e0 = await collect(loader, 0);
  assert.equal(e0.map((b) => b.labels.length), [8, 8, 8, 2]);
  assert.equal(e0[0].images.shape, [8, 32, 32, 3]);
  assert.is(e0[0].images.data.length, 8 * 32 * 32 * 3);
  const order0 = flat(e0, (b) => b.indices);
  assert.equal(order0.slice().sort((a, b) => a - b), Array.from({ length: 26 }, (_, i) => i), 'a permutation');
  assert.equal(flat(e0, (b) => b.labels), order0.map((i) => ds.label(i)));
  assert.equal(e0.flatMap((b) => b.paths!), order0.map((i) => ds.name(i)));
  const e1 = await collect(loader, 1);
  assert.not.equal(flat(e1, (b) => b.indices), order0, 'another epoch, another order');
  const again = await collect(new data.DataLoader(ds, { batchSize: 8, size: 32, seed: 1, output: 'uint8' }), 0);
  assert.equal(flat(again, (b) => b.indices), order0, 'same seed and epoch, same order');
  // for await over the loader itself runs epochs 0, 1, …
  const seen: number[] = [];
  for await (const b of loader) seen.push(b.epoch);
  for await (const b of loader) seen.push(b.epoch);
  assert.equal([...new Set(seen)], [0, 1]);
  const plain = await collect(new data.DataLoader(ds, { batchSize: 10, size: 16, shuffle: false, dropLast: true, output: 'uint8' }));
  assert.equal(plain.map((b) => b.labels.length), [10, 10]);
  assert.equal(flat(plain, (b) => b.indices), Array.from({ length: 20 }, (_, i) => i), 'no shuffle: data set order');
  assert.is(new data.DataLoader(ds, { batchSize: 10, dropLast: true }).length, 2);
  const ev = new data.DataLoader(ds, { transform: 'eval' });
  assert.is(ev.options.shuffle, false, "'eval' does not shuffle by default");
});

test('batches are identical whatever the workers, prefetch depth and decode order', async () => {
  const ds = new data.ImageFolder(folder);
  const run = (o: DataLoaderOptions) => collect(new data.DataLoader(ds, { batchSize: 5, size: 24, seed: 7, output: 'uint8', ...o }), 2);
  const a = await run({ workers: 1, prefetch: 1 });
  const b = await run({ workers: 4, prefetch: 4 });
  const c = await run({ workers: 3, prefetch: 2 });
  for (const other of [b, c]) {
    assert.equal(other.length, a.length);
    a.forEach((x, i) => {
      const y = other[i];
      assert.equal(Array.from(y.indices), Array.from(x.indices), `batch ${i} images`);
      assert.ok(Buffer.compare(Buffer.from(y.images.data.buffer, y.images.data.byteOffset, y.images.data.byteLength), Buffer.from(x.images.data.buffer, x.images.data.byteOffset, x.images.data.byteLength)) === 0, `batch ${i} pixels`);
      assert.equal(Array.from(y.colour!.hue), Array.from(x.colour!.hue), `batch ${i} colour draws`);
      assert.equal(Array.from(y.colour!.alpha), Array.from(x.colour!.alpha));
    });
  }
});

test("'uint8' batches carry the colour draws: ops.augment on them gives the 'f32' batches; 'f16' rounds them", async () => {
  const ds = new data.ImageFolder(folder);
  const opts: DataLoaderOptions = { batchSize: 9, size: 20, seed: 3 };
  const u8 = await collect(new data.DataLoader(ds, { ...opts, output: 'uint8' }));
  const f32 = await collect(new data.DataLoader(ds, { ...opts, output: 'f32' }));
  const f16 = await collect(new data.DataLoader(ds, { ...opts, output: 'f16' }));
  const loader = new data.DataLoader(ds, { ...opts, output: 'uint8' });
  u8.forEach((b, i) => {
    assert.ok(b.colour && b.colour.brightness.length === b.labels.length && b.colour.alpha.length === 3 * b.labels.length);
    assert.is(f32[i].images.dtype, 'f32');
    assert.instance(f16[i].images.data, Uint16Array);
    const y = ops.augment({ data: b.images.data as Uint8Array, shape: b.images.shape }, b.colour, { ...loader.augmentOptions, dtype: 'f32' });
    expectClose(f32[i].images.data as Float32Array, y.data, { op: 'loader f32 vs uint8 + augment', batch: i }, { atol: 1e-6, rtol: 1e-6 });
    expectClose(ops.fromFloat16(f16[i].images.data as Uint16Array), y.data, { op: 'loader f16', dtype: 'f16', batch: i }, { atol: 1e-6, rtol: 2 ** -11 });
  });
  const ev = await collect(new data.DataLoader(ds, { batchSize: 26, size: 16, transform: 'eval', output: 'uint8' }));
  assert.is(ev[0].colour, undefined, 'eval draws nothing');
});

test('decoding runs at most `prefetch` batches ahead of the consumer', async () => {
  const ds = new data.ImageFolder(folder);
  let started = 0;
  const counting: Dataset = {
    length: ds.length, classes: ds.classes, counts: ds.counts,
    label: (i) => ds.label(i), name: (i) => ds.name(i),
    source: (i) => {
      started++;
      return ds.source(i);
    },
  };
  const B = 4;
  const prefetch = 2;
  const it = new data.DataLoader(counting, { batchSize: B, size: 16, prefetch, workers: 4, output: 'uint8' }).epoch(0);
  const base = 1; // the epoch reads source(0) once to know whether images are files
  const pause = () => new Promise((r) => setTimeout(r, 150));
  await pause();
  assert.ok(started - base <= prefetch * B, `before the first batch: ${started - base} started`);
  assert.ok(started - base >= 4, 'and it started ahead, workers at a time');
  for (let taken = 1; taken <= 3; taken++) {
    await it.next();
    await pause();
    assert.ok(started - base <= (taken + prefetch) * B, `after ${taken} batches: ${started - base} images started`);
  }
  await it.return!();
});

test('bad files are skipped and reported, batches stay full; onError throw fails the epoch', async () => {
  const root = path.join(dir, 'bad');
  for (let i = 0; i < 6; i++) await writeJpeg(path.join(root, 'a', `a${i}.jpg`), 48, 40, i);
  for (let i = 0; i < 5; i++) await writeJpeg(path.join(root, 'b', `b${i}.jpg`), 48, 40, 10 + i);
  const trunc = path.join(root, 'a', 'a2.jpg');
  truncateFile(trunc, 0.4);
  const zero = path.join(root, 'b', 'zero.jpg');
  fs.writeFileSync(zero, '');
  const text = path.join(root, 'b', 'text.jpg');
  fs.writeFileSync(text, 'hello');
  const ds = new data.ImageFolder(root, { detect: 'extension' });
  const gone = path.join(root, 'a', 'a4.jpg');
  fs.unlinkSync(gone); // removed after the scan: unreadable at decode time
  assert.is(ds.length, 13);
  const loader = new data.DataLoader(ds, { batchSize: 4, size: 16, seed: 2, output: 'uint8' });
  const batches = await collect(loader);
  assert.equal(batches.map((b) => b.labels.length), [4, 4, 1], '9 good images: full batches, the bad ones replaced');
  assert.is(flat(batches, (b) => b.indices).length, 9);
  const reported = Object.fromEntries(loader.skipped.map((s) => [s.path, s.reason]));
  assert.equal(reported, { [trunc]: 'truncated', [zero]: 'empty', [text]: 'not-image', [gone]: 'unreadable' });
  assert.equal(batches.flatMap((b) => b.skipped.map((s) => s.path)).sort(), Object.keys(reported).sort(), 'each batch lists what it skipped');
  assert.is(loader.stats.skipped, 4);
  await collect(loader, 1);
  assert.is(loader.skipped.length, 4, 'each path reported once');

  const strict = new data.DataLoader(ds, { batchSize: 4, size: 16, onError: 'throw', shuffle: false });
  try {
    await collect(strict);
    assert.unreachable('onError throw must fail');
  } catch (e) {
    const err = e as { code: string; path: string };
    assert.ok(['ERR_IMAGE_DECODE'].includes(err.code), `code ${err.code}`);
    assert.is(err.path, trunc, 'the first bad file in epoch order');
  }
});

test('a class whose every image fails is an error, not a silent loss', async () => {
  const root = path.join(dir, 'lost');
  for (let i = 0; i < 3; i++) await writeJpeg(path.join(root, 'ok', `${i}.jpg`), 32, 32, i);
  for (let i = 0; i < 2; i++) {
    const f = await writeJpeg(path.join(root, 'broken', `${i}.jpg`), 32, 32, i);
    truncateFile(f, 0.3);
  }
  const loader = new data.DataLoader(new data.ImageFolder(root), { batchSize: 2, size: 16, output: 'uint8' });
  try {
    await collect(loader);
    assert.unreachable('a lost class must fail the epoch');
  } catch (e) {
    const err = e as { code: string; message: string };
    assert.is(err.code, 'ERR_DATASET');
    assert.match(err.message, '"broken"');
  }
  assert.is(loader.skipped.length, 2);
});

test('cache: decoded once, the same batches; padcrop on CIFAR-style pixels; MNIST expanded to RGB', async () => {
  const root = path.join(dir, 'pngs');
  for (let i = 0; i < 10; i++) await writeRaw(path.join(root, i % 2 ? 'odd' : 'even', `${i}.png`), gradientPixels(40 + i, 30, i), 40 + i, 30, 3, 'png');
  const ds = new data.ImageFolder(root);
  const opts: DataLoaderOptions = { batchSize: 4, size: 24, seed: 5, output: 'uint8' };
  const plain = await collect(new data.DataLoader(ds, opts), 1);
  const cached = new data.DataLoader(ds, { ...opts, cache: true });
  await collect(cached, 0);
  assert.ok(cached.stats.cacheBytes >= 10 * 40 * 30 * 3, 'full images kept');
  const bytes = cached.stats.cacheBytes;
  const fromCache = await collect(cached, 1);
  assert.is(cached.stats.cacheBytes, bytes, 'nothing decoded again');
  plain.forEach((b, i) => assert.equal(Array.from(fromCache[i].images.data), Array.from(b.images.data), `batch ${i}`));

  // CIFAR-style: 32×32 pixels in memory, padded by 4, random 32×32 crop, flip.
  const S = 32;
  const images = Array.from({ length: 12 }, (_, k) => gradientPixels(S, S, k));
  const cifar: Dataset = {
    length: 12, classes: ['x', 'y'], counts: [6, 6],
    label: (i) => i % 2, name: (i) => `img${i}`,
    source: (i) => ({ kind: 'pixels', data: images[i], width: S, height: S, channels: 3 }),
  };
  const pc = new data.DataLoader(cifar, { batchSize: 6, size: S, transform: 'padcrop', output: 'uint8', seed: 8 });
  assert.is(pc.options.cache, true, 'padcrop keeps its base images');
  for (const b of await collect(pc)) {
    for (let k = 0; k < b.labels.length; k++) {
      const got = b.images.data.subarray(k * S * S * 3, (k + 1) * S * S * 3);
      const src = images[b.indices[k]];
      let match = false;
      const out = new Uint8Array(S * S * 3);
      for (let dx = 0; dx <= 8 && !match; dx++) {
        for (let dy = 0; dy <= 8 && !match; dy++) {
          for (const flip of [false, true]) {
            data.padCrop(src, S, 4, dx, dy, flip, 0, out);
            if (out.every((v, i) => v === got[i])) match = true;
          }
        }
      }
      assert.ok(match, `image ${b.indices[k]} is a padded crop of its source`);
    }
  }

  const digits = data.mnist().subset(Array.from({ length: 40 }, (_, i) => i * 250));
  const m = await collect(new data.DataLoader(digits, { batchSize: 20, size: 28, transform: 'padcrop', output: 'uint8' }));
  assert.equal(m[0].images.shape, [20, 28, 28, 3]);
  const px = m[0].images.data;
  for (let i = 0; i < px.length; i += 3) assert.ok(px[i] === px[i + 1] && px[i] === px[i + 2], 'grey digits in three equal channels');
  const m32 = await collect(new data.DataLoader(digits, { batchSize: 40, size: 32, transform: 'eval' }));
  assert.equal(m32[0].images.shape, [40, 32, 32, 3]);
});

test('release() hands arrays back for reuse without changing any batch', async () => {
  const ds = new data.ImageFolder(folder);
  const opts: DataLoaderOptions = { batchSize: 3, size: 16, seed: 11, prefetch: 1 };
  const ref = (await collect(new data.DataLoader(ds, opts))).map((b) => Array.from(b.images.data));
  const loader = new data.DataLoader(ds, opts);
  const arrays = new Set<unknown>();
  let i = 0;
  for await (const b of loader.epoch(0)) {
    assert.equal(Array.from(b.images.data), ref[i++], `batch ${b.index}`);
    arrays.add(b.images.data);
    b.release();
    b.release(); // twice is harmless
  }
  assert.ok(arrays.size < ref.length, `arrays were reused (${arrays.size} for ${ref.length} batches)`);
});

test('leaving an epoch early stops it cleanly; options are validated', async () => {
  const ds = new data.ImageFolder(folder);
  const loader = new data.DataLoader(ds, { batchSize: 2, size: 16 });
  for await (const b of loader.epoch(0)) {
    assert.is(b.labels.length, 2);
    break;
  }
  const next = await collect(loader, 1);
  assert.is(next.length, 13);
  expectCode(() => new data.DataLoader(ds, { batchSize: 0 }), 'ERR_ARGUMENT', 'batchSize 0');
  expectCode(() => new data.DataLoader(ds, { batch: 4 } as never), 'ERR_ARGUMENT', 'unknown option');
  expectCode(() => new data.DataLoader(ds, { output: 'f64' as 'f32' }), 'ERR_ARGUMENT', 'output');
  expectCode(() => new data.DataLoader(ds, { onError: 'ignore' as 'skip' }), 'ERR_ARGUMENT', 'onError');
  expectCode(() => new data.DataLoader(ds, { transform: 'random' as 'train' }), 'ERR_ARGUMENT', 'transform');
  expectCode(() => new data.DataLoader({} as Dataset), 'ERR_ARGUMENT', 'not a data set');
  expectCode(() => loader.epoch(-1), 'ERR_ARGUMENT', 'epoch');
});

test.run();
