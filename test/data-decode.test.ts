/**
 * Decoding: every kind of file comes out upright 8-bit sRGB RGB, and every kind of bad file
 * is rejected with its path, a reason and a stable code, without allocating for bombs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { bot } from './helpers/lib';
import { PHOTOS, gradientPixels, meanAbsDiff, rmDir, tmpDir, truncateFile, writeJpeg, writeJpegBomb, writePngBomb, writeRaw } from './helpers/data-images';

const { data } = bot;
type Geometry = import('../lib/data').Geometry;

const OPTS = { ...data.DECODE_DEFAULTS };
const whole = (): Geometry => ({});
const decode = (file: string, plan: (w: number, h: number) => Geometry = whole, opts: Partial<typeof OPTS> = {}) =>
  data.decodeImage({ kind: 'file', path: file }, plan, { ...OPTS, ...opts });

/** The failure of a decode: its code, reason and path. */
async function failure(file: string, opts: Partial<typeof OPTS> = {}) {
  try {
    await decode(file, whole, opts);
  } catch (e) {
    const err = e as { code: string; reason: string; path: string; message: string };
    return { code: err.code, reason: err.reason, path: err.path, message: err.message };
  }
  throw new Error(`${file} decoded, expected a failure`);
}

let dir = '';
test.before(() => {
  dir = tmpDir('decode');
});
test.after(() => rmDir(dir));

test('the EXIF photos come out upright: orientations 1–8 give the same picture', async () => {
  for (const kind of ['Landscape', 'Portrait']) {
    const want = kind === 'Landscape' ? [600, 450] : [450, 600];
    const crops: Uint8Array[] = [];
    for (let k = 1; k <= 8; k++) {
      const file = path.join(PHOTOS, `${kind}_${k}.jpg`);
      const full = await decode(file);
      assert.equal([full.width, full.height], want, `${kind}_${k} upright size`);
      assert.is(full.data.length, want[0] * want[1] * 3);
      // A crop in upright coordinates, resized to 48×48: the same region whatever the orientation.
      const c = await decode(file, () => ({ extract: { left: 40, top: 30, width: 300, height: 300 }, resize: { width: 48, height: 48 } }));
      crops.push(c.data);
    }
    // Each crop is closest to orientation 1's crop itself, not to any turned or mirrored copy.
    const variants = dihedral(crops[0], 48);
    for (let k = 1; k < 8; k++) {
      const d = variants.map((v) => meanAbsDiff(crops[k], v));
      assert.ok(d[0] < 6, `${kind}_${k + 1} differs from ${kind}_1 by ${d[0].toFixed(2)} levels`);
      assert.ok(d.slice(1).every((x) => x > 3 * d[0]), `${kind}_${k + 1}: upright copy is the best match (${d.map((x) => x.toFixed(1)).join(', ')})`);
    }
  }
});

test('a train crop of a rotated photo is cut and resized before the turn: the same pixels as turning first', async () => {
  for (const kind of ['Landscape', 'Portrait']) {
    for (let o = 1; o <= 8; o++) {
      for (const flip of [false, true]) {
        const file = path.join(PHOTOS, `${kind}_${o}.jpg`);
        const plan = () => ({ extract: { left: 37, top: 21, width: 301, height: 257 }, resize: { width: 64, height: 64 }, flip });
        const late = await decode(file, plan, { orientAfterResize: true });
        const early = await decode(file, plan, { orientAfterResize: false });
        let max = 0;
        for (let i = 0; i < late.data.length; i++) max = Math.max(max, Math.abs(late.data[i] - early.data[i]));
        // The resampling phase differs (libvips shrinks by whole blocks from the stored left/top
        // edge, and resizes rows before columns): about a level on average, against 40+ for a wrong turn.
        const mean = meanAbsDiff(late.data, early.data);
        assert.ok(mean < 2, `${kind}_${o} flip ${flip}: mean ${mean.toFixed(3)}, max ${max}`);
      }
    }
  }
});

/** The 8 rotations/reflections of a square RGB image, identity first. */
function dihedral(img: Uint8Array, s: number): Uint8Array[] {
  const maps: ((x: number, y: number) => [number, number])[] = [
    (x, y) => [x, y], (x, y) => [s - 1 - x, y], (x, y) => [x, s - 1 - y], (x, y) => [s - 1 - x, s - 1 - y],
    (x, y) => [y, x], (x, y) => [s - 1 - y, x], (x, y) => [y, s - 1 - x], (x, y) => [s - 1 - y, s - 1 - x],
  ];
  return maps.map((f) => {
    const out = new Uint8Array(img.length);
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const [sx, sy] = f(x, y);
        for (let c = 0; c < 3; c++) out[(y * s + x) * 3 + c] = img[(sy * s + sx) * 3 + c];
      }
    }
    return out;
  });
}

test('the CMYK JPEG comes out as 3-channel sRGB', async () => {
  const img = await decode(path.join(PHOTOS, 'Channel_digital_image_CMYK_color.jpg'));
  assert.equal([img.width, img.height, img.data.length], [500, 333, 500 * 333 * 3]);
  let sum = 0;
  let sq = 0;
  for (const v of img.data) {
    sum += v;
    sq += v * v;
  }
  const mean = sum / img.data.length;
  const std = Math.sqrt(sq / img.data.length - mean * mean);
  assert.ok(mean > 40 && mean < 215 && std > 20, `a real picture, not black, white or inverted noise (mean ${mean.toFixed(1)}, std ${std.toFixed(1)})`);
  const ref = await sharp(path.join(PHOTOS, 'Channel_digital_image_CMYK_color.jpg')).toColourspace('srgb').raw().toBuffer();
  assert.ok(meanAbsDiff(img.data, ref) < 0.5, 'the same as libvips\' own CMYK → sRGB conversion');
});

test('grey, grey+alpha, palette, RGBA and 16-bit PNGs and grey JPEGs give 8-bit RGB', async () => {
  const w = 6;
  const h = 4;
  const grey = Uint8Array.from({ length: w * h }, (_, i) => i * 10);
  const cases: [string, Promise<string>, (i: number) => number[]][] = [
    ['grey png', writeRaw(path.join(dir, 'grey.png'), grey, w, h, 1, 'png'), (i) => [grey[i], grey[i], grey[i]]],
    ['grey+alpha png', writeRaw(path.join(dir, 'ga.png'), Uint8Array.from({ length: 2 * w * h }, (_, i) => (i % 2 ? 128 : grey[i >> 1])), w, h, 2, 'png'), (i) => [grey[i], grey[i], grey[i]]],
    ['rgba png', writeRaw(path.join(dir, 'rgba.png'), Uint8Array.from({ length: 4 * w * h }, (_, i) => (i % 4 === 3 ? 0 : (i * 7) % 256)), w, h, 4, 'png'), (i) => [0, 1, 2].map((c) => ((4 * i + c) * 7) % 256)],
    ['palette png', writeRaw(path.join(dir, 'pal.png'), Uint8Array.from({ length: 3 * w * h }, (_, i) => [200, 30, 90][i % 3] * (Math.floor(i / 3) % 2)), w, h, 3, 'png', { palette: true }), (i) => (i % 2 ? [200, 30, 90] : [0, 0, 0])],
  ];
  for (const [name, made, want] of cases) {
    const img = await decode(await made);
    assert.equal([img.width, img.height, img.data.length], [w, h, w * h * 3], name);
    for (let i = 0; i < w * h; i++) assert.equal(Array.from(img.data.subarray(3 * i, 3 * i + 3)), want(i), `${name} pixel ${i}`);
  }
  // 16-bit: v·257 in 16 bits is v in 8 bits.
  const v16 = Uint8Array.from({ length: 3 * w * h }, (_, i) => (i * 11) % 256);
  const f16 = path.join(dir, 'sixteen.png');
  fs.writeFileSync(f16, await sharp(v16, { raw: { width: w, height: h, channels: 3 } }).toColourspace('rgb16').png().toBuffer());
  assert.is((await sharp(f16).metadata()).depth, 'ushort', 'the fixture is 16-bit');
  const img16 = await decode(f16);
  assert.equal(Array.from(img16.data), Array.from(v16), '16-bit PNG scaled to 8 bits');
  // A grey JPEG: three equal channels.
  const gj = await writeRaw(path.join(dir, 'grey.jpg'), gradientPixels(16, 16).filter((_, i) => i % 3 === 0), 16, 16, 1, 'jpeg');
  const imgG = await decode(gj);
  assert.is(imgG.data.length, 16 * 16 * 3);
  for (let i = 0; i < 256; i++) assert.ok(imgG.data[3 * i] === imgG.data[3 * i + 1] && imgG.data[3 * i] === imgG.data[3 * i + 2], 'grey JPEG expanded');
});

test('bad files are rejected with their path, a reason and ERR_IMAGE_DECODE', async () => {
  const good = await writeJpeg(path.join(dir, 'good.jpg'), 64, 48);
  const truncated = await writeJpeg(path.join(dir, 'truncated.jpg'), 64, 48);
  truncateFile(truncated, 0.5);
  const header = await writeJpeg(path.join(dir, 'header-only.jpg'), 64, 48);
  truncateFile(header, 0.1);
  const corrupt = path.join(dir, 'corrupt.jpg');
  const g = fs.readFileSync(good);
  const bytes = Buffer.from(g);
  for (let i = Math.floor(g.length / 3); i < g.length - 2; i++) bytes[i] = (i * 131) % 256; // garbage scan data
  fs.writeFileSync(corrupt, bytes);
  const empty = path.join(dir, 'empty.jpg');
  fs.writeFileSync(empty, '');
  const text = path.join(dir, 'text.jpg');
  fs.writeFileSync(text, 'this is not an image, whatever its name says\n');
  const missing = path.join(dir, 'missing.jpg');
  const folder = path.join(dir, 'folder.jpg');
  fs.mkdirSync(folder);

  assert.is((await decode(good)).width, 64);
  const want: [string, string][] = [
    [truncated, 'truncated'], [header, 'truncated'], [empty, 'empty'], [text, 'not-image'], [missing, 'unreadable'], [folder, 'unreadable'],
  ];
  for (const [file, reason] of want) {
    const f = await failure(file);
    assert.equal([f.code, f.reason, f.path], ['ERR_IMAGE_DECODE', reason, file], `${path.basename(file)}: ${f.message}`);
    assert.ok(f.message.includes(file), 'the message names the file');
  }
  const c = await failure(corrupt);
  assert.is(c.code, 'ERR_IMAGE_DECODE');
  assert.ok(['corrupt', 'truncated'].includes(c.reason), `corrupt scan data: ${c.reason} (${c.message})`);
});

test('decompression bombs are rejected from the header, without allocating their pixels', async () => {
  const png = await writePngBomb(path.join(dir, 'bomb.png'), 100_000, 100_000); // 10 gigapixels
  const jpg = await writeJpegBomb(path.join(dir, 'bomb.jpg'), 60_000, 60_000);
  assert.equal([(await sharp(png, { limitInputPixels: false }).metadata()).width, (await sharp(jpg, { limitInputPixels: false }).metadata()).width], [100_000, 60_000], 'the fixtures declare huge sizes');
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  for (const file of [png, jpg]) {
    const f = await failure(file);
    assert.equal([f.code, f.reason, f.path], ['ERR_IMAGE_TOO_LARGE', 'too-large', file], f.message);
  }
  assert.ok(performance.now() - t0 < 2000, 'rejected quickly');
  assert.ok(process.memoryUsage().rss - rss0 < 200 * 2 ** 20, 'no pixel buffer was allocated (10 GP would need 30 GB)');
  // The limits are options: a real image above them is rejected the same way.
  const good = await writeJpeg(path.join(dir, 'limit.jpg'), 64, 48);
  assert.is((await failure(good, { limitInputPixels: 1000 })).reason, 'too-large');
  assert.is((await failure(good, { maxFileBytes: 100 })).reason, 'too-large');
});

test('embedded RGB profiles: the core-side conversion matches libvips (and sRGB profiles cost nothing)', async () => {
  const plan = () => ({ extract: { left: 100, top: 50, width: 400, height: 300 }, resize: { width: 96, height: 72 } });
  // Apple's Generic RGB (gamma 1.8) on a real photo, and Display P3 on a synthetic one.
  const p3 = path.join(dir, 'p3.jpg');
  fs.writeFileSync(p3, await sharp(gradientPixels(600, 450, 5), { raw: { width: 600, height: 450, channels: 3 } }).withIccProfile('p3').jpeg({ quality: 95 }).toBuffer());
  const srgb = path.join(dir, 'srgb.jpg');
  fs.writeFileSync(srgb, await sharp(gradientPixels(600, 450, 6), { raw: { width: 600, height: 450, channels: 3 } }).withIccProfile('srgb').jpeg({ quality: 95 }).toBuffer());
  for (const [file, converts] of [[path.join(PHOTOS, 'Landscape_2.jpg'), true], [p3, true], [srgb, false]] as const) {
    // At full size: DCT scaling would add its own resampling difference (data-jpeg.test).
    const fast = await decode(file, plan, { deferIcc: true, dctScaling: false });
    const slow = await decode(file, plan, { deferIcc: false });
    assert.is(!!fast.profile, converts, `${path.basename(file)}: conversion deferred to the core`);
    let img = fast.data;
    if (fast.profile) {
      const p = fast.profile;
      img = bot.ops.srgbFromProfile({ data: fast.data, shape: [1, 72, 96, 3] }, { convert: Uint8Array.of(1), lut: p.lut, matrix: p.matrix }).data;
    }
    const d = meanAbsDiff(img, slow.data);
    assert.ok(d < 1.5, `${path.basename(file)}: mean difference ${d.toFixed(2)} levels from libvips`);
  }
  assert.is(data.parseRgbProfile(Buffer.from('not a profile')), null);
});

test('a cut JPEG is truncated by its own structure even when libvips says only "corrupt header:"', async () => {
  const jpeg = await sharp({ create: { width: 48, height: 40, channels: 3, background: '#a52' } }).jpeg().toBuffer();
  const { classifyDecodeError } = bot.data;
  // The message libvips gives when several images fail at once and its detail is lost.
  const bare = 'Input buffer has corrupt header:';
  for (const f of [0.9, 0.4, 0.05]) {
    assert.is(classifyDecodeError(bare, jpeg.subarray(0, Math.floor(jpeg.length * f))), 'truncated', `cut at ${f}`);
  }
  assert.is(classifyDecodeError(bare, jpeg), 'corrupt', 'a whole JPEG that failed is corrupt');
  const badMarker = Buffer.from(jpeg);
  badMarker[2] = 0x12;
  assert.is(classifyDecodeError(bare, badMarker), 'corrupt', 'no marker where one must be');
  assert.is(classifyDecodeError(bare), 'corrupt', 'without the bytes');
  assert.is(classifyDecodeError('VipsJpeg: premature end of JPEG image'), 'truncated', 'the full message');
});

test.run();
