/**
 * Packed data sets (data/pack.ts, `bagoftricks pack`): a round trip keeps labels, class names
 * and pixels; plain small JPEGs are stored as they are; a truncated or altered file is refused
 * with ERR_PACK_FORMAT; writing is atomic (nothing at OUT, no temporary file, after a failure);
 * files that fail to decode are left out and reported.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import sharp from 'sharp';
import { bot } from './helpers/lib';
import { PHOTOS, crc32, meanAbsDiff, rmDir, tmpDir, truncateFile, writeJpeg } from './helpers/data-images';

const { data } = bot;
// eslint-disable-next-line @typescript-eslint/no-var-requires
const ops: Record<string, (...args: unknown[]) => unknown> = require('../../dist/native').native().ops;
const CLI = path.join(__dirname, '..', '..', 'dist', 'cli.js');
type Geometry = import('../lib/data').Geometry;

let dir = '';
let folder = '';
test.before(async () => {
  dir = tmpDir('pack');
  folder = path.join(dir, 'folder');
  fs.mkdirSync(path.join(folder, 'landscape'), { recursive: true });
  fs.mkdirSync(path.join(folder, 'portrait'), { recursive: true });
  for (const k of [1, 3, 6]) fs.copyFileSync(path.join(PHOTOS, `Landscape_${k}.jpg`), path.join(folder, 'landscape', `l${k}.jpg`));
  for (const k of [2, 8]) fs.copyFileSync(path.join(PHOTOS, `Portrait_${k}.jpg`), path.join(folder, 'portrait', `p${k}.jpg`));
  fs.copyFileSync(path.join(PHOTOS, 'Channel_digital_image_CMYK_color.jpg'), path.join(folder, 'portrait', 'cmyk.jpg'));
  await writeJpeg(path.join(folder, 'landscape', 'small.jpg'), 48, 40, 3); // plain and small: stored as it is
  fs.writeFileSync(path.join(folder, 'portrait', 'png.png'), await sharp(path.join(PHOTOS, 'Portrait_1.jpg')).resize(90, 120).png().toBuffer());
});
test.after(() => rmDir(dir));

const whole = (): Geometry => ({});
async function pixels(source: import('../lib/data').ImageSource, plan: (w: number, h: number) => Geometry = whole) {
  return data.decodeImage(source, plan, { ...data.DECODE_DEFAULTS });
}
function shrink(maxSide: number) {
  return (w: number, h: number): Geometry => {
    const short = Math.min(w, h);
    if (short <= maxSide) return {};
    const s = maxSide / short;
    return { resize: { width: Math.max(1, Math.round(w * s)), height: Math.max(1, Math.round(h * s)) } };
  };
}
function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code: string }).code;
  }
  return 'no error';
}

test('crc32: the core, its reference and zlib\'s value agree', () => {
  const b = new Uint8Array(1000).map((_, i) => (i * 7 + 3) % 256);
  assert.is(ops.crc32(Buffer.from('123456789')), 0xcbf43926); // the check value of CRC-32/ISO-HDLC
  for (const n of [0, 1, 7, 8, 9, 63, 1000]) {
    const x = b.subarray(0, n);
    assert.is(ops.crc32(x), crc32(x), `${n} bytes`);
    assert.is(ops.crc32Reference(x), crc32(x), `${n} bytes, reference`);
  }
});

test('round trip: labels, class names and pixels; small plain JPEGs kept as they are', async () => {
  const src = new data.ImageFolder(folder);
  const out = path.join(dir, 'a.pack');
  const report = await data.writePack(src, out, { maxSide: 128, quality: 92 });
  assert.equal([report.images, report.classes, report.verbatim, report.leftOut], [src.length, ['landscape', 'portrait'], 1, []]);
  assert.ok(data.isPackFile(out) && !data.isPackFile(folder) && !data.isPackFile(path.join(PHOTOS, 'Landscape_1.jpg')));
  const pack = new data.PackedDataset(out);
  assert.equal([pack.length, pack.classes, pack.counts, pack.maxSide], [src.length, src.classes, src.counts, 128]);
  for (let i = 0; i < src.length; i++) {
    assert.is(pack.label(i), src.label(i));
    assert.is(pack.name(i), `${out}:${src.name(i)}`);
    const want = await pixels(src.source(i), shrink(128));
    const got = await pixels(pack.source(i));
    assert.equal([got.width, got.height], [want.width, want.height], src.name(i));
    assert.ok(Math.min(got.width, got.height) <= 128);
    const d = meanAbsDiff(got.data, want.data);
    if (src.name(i).endsWith('small.jpg')) assert.is(d, 0, 'a stored original decodes to the same pixels');
    else assert.ok(d < 5, `${src.name(i)}: ${d.toFixed(3)} levels after JPEG quality 92, 4:2:0`); // measured 3.5 on l1.jpg at 171×128
  }
  // Raw records are the decoded pixels themselves.
  const raw = path.join(dir, 'raw.pack');
  await data.writePack(src, raw, { maxSide: 64, format: 'raw' });
  const rp = new data.PackedDataset(raw);
  for (let i = 0; i < src.length; i++) {
    const s = rp.source(i);
    assert.is(s.kind, 'pixels');
    const want = await pixels(src.source(i), shrink(64));
    assert.equal((await pixels(s)).data, want.data, src.name(i));
  }
  // The loader reads a pack like a folder: the same labels, batch by batch.
  const a = new data.DataLoader(pack, { batchSize: 4, size: 32, seed: 3, output: 'uint8' });
  const b = new data.DataLoader(src, { batchSize: 4, size: 32, seed: 3, output: 'uint8' });
  const la: number[] = [];
  const lb: number[] = [];
  for await (const x of a) la.push(...x.labels);
  for await (const x of b) lb.push(...x.labels);
  assert.equal(la, lb);
});

test('a truncated or altered file is refused with ERR_PACK_FORMAT', async () => {
  const good = path.join(dir, 'good.pack');
  await data.writePack(new data.ImageFolder(folder), good, { maxSide: 64 });
  const bytes = fs.readFileSync(good);
  const pack = new data.PackedDataset(good);
  const indexOffset = Number(bytes.readBigUInt64LE(24));
  const metaOffset = Number(bytes.readBigUInt64LE(32));
  const copy = (name: string, edit: (b: Buffer) => Buffer) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, edit(Buffer.from(bytes)));
    return f;
  };
  for (const cut of [0, 10, 63, 64, 1000, indexOffset + 5, metaOffset + 3, bytes.length - 1]) {
    const f = copy(`cut-${cut}.pack`, (b) => b.subarray(0, cut));
    assert.is(code(() => new data.PackedDataset(f)), 'ERR_PACK_FORMAT', `cut at ${cut} of ${bytes.length}`);
  }
  assert.is(code(() => new data.PackedDataset(copy('longer.pack', (b) => Buffer.concat([b, Buffer.from([0])])))), 'ERR_PACK_FORMAT', 'a byte appended');
  const flip = (at: number) => (b: Buffer) => {
    b[at] ^= 0x10;
    return b;
  };
  for (const [what, at] of [['magic', 2], ['header', 20], ['index', indexOffset + 17], ['metadata', metaOffset + 5]] as const) {
    assert.is(code(() => new data.PackedDataset(copy(`flip-${what}.pack`, flip(at)))), 'ERR_PACK_FORMAT', `${what} altered`);
  }
  // A record altered: the file opens (its index is intact), the record is refused when read.
  const rec = Number(bytes.readBigUInt64LE(indexOffset)); // record 0's offset
  const f = copy('flip-record.pack', flip(rec + 200));
  const altered = new data.PackedDataset(f);
  assert.is(code(() => altered.verify()), 'ERR_PACK_FORMAT');
  assert.is(code(() => altered.source(0)), 'ERR_PACK_FORMAT');
  const loader = new data.DataLoader(altered, { batchSize: 2, size: 16, shuffle: false, output: 'uint8' });
  let failed = '';
  try {
    for await (const _ of loader) {
      // the first record fails the epoch
    }
  } catch (e) {
    failed = (e as { code: string }).code;
  }
  assert.is(failed, 'ERR_PACK_FORMAT', 'an altered record fails the epoch, it is not skipped');
  // Not a pack at all, and a missing file.
  assert.is(code(() => new data.PackedDataset(path.join(PHOTOS, 'Landscape_1.jpg'))), 'ERR_PACK_FORMAT');
  assert.is(code(() => new data.PackedDataset(path.join(dir, 'missing.pack'))), 'ERR_ARGUMENT');
  assert.is(pack.length, new data.ImageFolder(folder).length);
});

test('writing is atomic: a failed pack leaves nothing at OUT (an older file stays whole), and no temporary file', async () => {
  const out = path.join(dir, 'atomic.pack');
  await data.writePack(new data.ImageFolder(folder), out, { maxSide: 32 });
  const before = fs.readFileSync(out);
  // A class whose every file fails to decode: ERR_DATASET, after records were written.
  const bad = path.join(dir, 'bad');
  fs.mkdirSync(path.join(bad, 'ok'), { recursive: true });
  fs.mkdirSync(path.join(bad, 'broken'), { recursive: true });
  fs.copyFileSync(path.join(PHOTOS, 'Landscape_1.jpg'), path.join(bad, 'ok', 'a.jpg'));
  const cut = await writeJpeg(path.join(bad, 'broken', 'cut.jpg'), 64, 48);
  truncateFile(cut, 0.5);
  let err = '';
  try {
    await data.writePack(new data.ImageFolder(bad), out, { maxSide: 32 });
  } catch (e) {
    err = (e as { code: string }).code;
  }
  assert.is(err, 'ERR_DATASET');
  assert.equal(fs.readFileSync(out), before, 'the older file is untouched');
  const fresh = path.join(dir, 'fresh.pack');
  try {
    await data.writePack(new data.ImageFolder(bad), fresh, { maxSide: 32 });
  } catch {
    // as above
  }
  assert.not.ok(fs.existsSync(fresh), 'nothing written at OUT');
  assert.equal(fs.readdirSync(dir).filter((n) => n.includes('.tmp-')), [], 'no temporary file left');
  // A folder that does not exist: ERR_IO naming the file.
  try {
    await data.writePack(new data.ImageFolder(folder), path.join(dir, 'nowhere', 'x.pack'));
    assert.unreachable('no folder to write into');
  } catch (e) {
    assert.is((e as { code: string }).code, 'ERR_IO');
  }
});

test('bagoftricks pack: files that fail are left out with their reason; --json; usage errors exit 2', async () => {
  const src = path.join(dir, 'cli');
  fs.mkdirSync(path.join(src, 'a'), { recursive: true });
  fs.mkdirSync(path.join(src, 'b'), { recursive: true });
  fs.copyFileSync(path.join(PHOTOS, 'Landscape_2.jpg'), path.join(src, 'a', 'x.jpg'));
  fs.copyFileSync(path.join(PHOTOS, 'Portrait_5.jpg'), path.join(src, 'b', 'y.jpg'));
  const cut = await writeJpeg(path.join(src, 'b', 'cut.jpg'), 64, 48);
  truncateFile(cut, 0.5);
  fs.writeFileSync(path.join(src, 'a', 'notes.txt'), 'not an image');
  const out = path.join(dir, 'cli.pack');
  const r = JSON.parse(execFileSync(process.execPath, [CLI, 'pack', src, out, '--max-side', '96', '--json'], { encoding: 'utf8' }).trim());
  assert.equal([r.images, r.classes], [2, ['a', 'b']]);
  const reasons = r.leftOut.map((f: { path: string; reason: string }) => `${path.basename(f.path)}:${f.reason}`).sort();
  assert.equal(reasons, ['cut.jpg:truncated', 'notes.txt:not-image']);
  assert.equal(new data.PackedDataset(out).leftOut.map((f) => f.reason), ['truncated'], 'decoding failures are kept in the file');
  let status = 0;
  try {
    execFileSync(process.execPath, [CLI, 'pack', src], { stdio: 'pipe' });
  } catch (e) {
    status = (e as { status: number }).status;
  }
  assert.is(status, 2, 'OUT missing');
});

test.run();
