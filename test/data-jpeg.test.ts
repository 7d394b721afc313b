/**
 * The JPEG path (native/jpeg/, data/decode.ts): plain JPEGs decoded by libjpeg-turbo straight
 * into the crop, resize and turn give sharp's pixels within a stated tolerance, on every EXIF
 * orientation; CMYK goes to sharp; DCT-scaled decoding stays close to decoding at full size;
 * the resampler matches its reference; bad files give the codes and reasons they gave before.
 *
 * Tolerances (8-bit levels), measured on the shared photos: decoded at full size, against sharp,
 * mean ≤ 0.2 and single pixels ≤ 10 (bilinear weights rounded differently, libvips' 8-bit
 * intermediate after shrinking); where the JPEG path decodes at a reduced DCT scale and sharp
 * cannot (a crop at least twice the output: sharp's shrink-on-load does not apply after an
 * extract), mean 1.0 (median) to 3.9 (worst) at 96², 0.2 to 1.8 at 224²: DCT-domain shrinking
 * is not libvips' triangle filter. The asserts leave a margin over those.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { bot } from './helpers/lib';
import { PHOTOS, meanAbsDiff, rmDir, tmpDir, truncateFile, writeJpeg, writeJpegBomb } from './helpers/data-images';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const decodeModule: typeof import('../lib/data/decode') = require('../../dist/data/decode');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const ops: Record<string, (...args: unknown[]) => { data: Uint8Array; shape: number[] }> = require('../../dist/native').native().ops;
const { data } = bot;
type Geometry = import('../lib/data').Geometry;
type Timings = import('../lib/data/decode').DecodeTimings;

const compiled = decodeModule.jpegPath().compiled;
const OPTS = { ...data.DECODE_DEFAULTS, deferIcc: true };
const whole = (): Geometry => ({});

async function decode(file: string, plan: (w: number, h: number) => Geometry, opts: Partial<typeof OPTS> = {}) {
  const t: Timings = { readMs: 0, headerMs: 0, pixelsMs: 0 };
  const img = await data.decodeImage({ kind: 'file', path: file }, plan, { ...OPTS, ...opts }, t);
  return { ...img, jpegPath: t.jpegPathImages ?? 0, sharp: t.sharpImages ?? 0 };
}

async function failure(file: string, plan: (w: number, h: number) => Geometry, opts: Partial<typeof OPTS> = {}) {
  try {
    await decode(file, plan, opts);
  } catch (e) {
    const err = e as { code: string; reason: string; path: string };
    return [err.code, err.reason, err.path];
  }
  return ['decoded'];
}

function maxAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A train plan drawn from a seeded RandomResizedCrop, fixed on first use. */
function trainPlan(seed: number, size: number) {
  let g: Geometry | undefined;
  return (w: number, h: number): Geometry => {
    if (!g) {
      const rng = new data.Rng(seed);
      const { attempt: _a, ...box } = data.randomResizedCrop(w, h, rng);
      g = { extract: box, resize: { width: size, height: size }, flip: rng.chance(0.5) };
    }
    return g;
  };
}

function evalPlan(size: number) {
  return (w: number, h: number): Geometry => {
    const e = data.evalGeometry(w, h, size);
    return { resize: { width: e.resizeWidth, height: e.resizeHeight }, extractAfter: e.crop };
  };
}

let dir = '';
test.before(() => {
  dir = tmpDir('jpeg');
});
test.after(() => rmDir(dir));

test('the core is built with libjpeg-turbo here (the rest of this file needs it)', () => {
  const info = decodeModule.jpegPath();
  assert.type(info.compiled, 'boolean');
  // CI sets BAGOFTRICKS_EXPECT_JPEG=1 where the library is installed, so that the tests below
  // cannot pass by testing nothing.
  if (process.env.BAGOFTRICKS_EXPECT_JPEG === '1') assert.ok(info.compiled, 'BAGOFTRICKS_EXPECT_JPEG=1 but the addon was built without libjpeg-turbo');
  if (!info.compiled) console.log('  (built without libjpeg-turbo: sharp decodes every image, the JPEG path is not tested)');
  else assert.match(info.version, /^\d+\.\d+/);
});

test('the photos, every EXIF orientation, train and eval plans: sharp\'s pixels within tolerance', async () => {
  if (!compiled) return;
  const files = fs.readdirSync(PHOTOS).filter((f) => /^(Landscape|Portrait)_\d\.jpg$/.test(f));
  assert.is(files.length, 16);
  for (const f of files) {
    const file = path.join(PHOTOS, f);
    const plans: [string, (w: number, h: number) => Geometry][] = [
      ...[0, 1, 2, 3, 4, 5].map((s) => [`train seed ${s}`, trainPlan(s, 224)] as [string, (w: number, h: number) => Geometry]),
      ['train 96', trainPlan(7, 96)],
      ['eval', evalPlan(224)],
      ['whole', whole],
    ];
    for (const [name, plan] of plans) {
      const fast = await decode(file, plan);
      const slow = await decode(file, plan, { jpegPath: false });
      assert.is(fast.jpegPath, 1, `${f} ${name}: the JPEG path decoded it`);
      assert.is(slow.sharp, 1);
      assert.equal([fast.width, fast.height], [slow.width, slow.height]);
      assert.is(!!fast.profile, !!slow.profile, `${f}: the profile is deferred the same way`);
      const mean = meanAbsDiff(fast.data, slow.data);
      const max = maxAbsDiff(fast.data, slow.data);
      const g = plan(600, 450);
      const box = g.extract ?? { width: 600, height: 450 };
      const scaled = !!g.extract && !!g.resize && box.width / 2 >= g.resize.width && box.height / 2 >= g.resize.height;
      if (scaled) assert.ok(mean < 4.5, `${f} ${name} (DCT-scaled): mean ${mean.toFixed(3)} levels from sharp`);
      else assert.ok(mean < 0.5 && max <= 16, `${f} ${name}: mean ${mean.toFixed(3)}, max ${max} levels from sharp`);
    }
  }
});

test('CMYK goes to sharp, with exactly sharp\'s pixels; so does an ICC profile that libvips must apply', async () => {
  if (!compiled) return;
  const cmyk = path.join(PHOTOS, 'Channel_digital_image_CMYK_color.jpg');
  const a = await decode(cmyk, trainPlan(1, 64));
  const b = await decode(cmyk, trainPlan(1, 64), { jpegPath: false });
  assert.equal([a.jpegPath, a.sharp], [0, 1]);
  assert.equal(a.data, b.data);
  // Without deferIcc the Generic RGB profile of Landscape_2 is applied by libvips: sharp decodes.
  const icc = await decode(path.join(PHOTOS, 'Landscape_2.jpg'), trainPlan(1, 64), { deferIcc: false });
  assert.equal([icc.jpegPath, icc.sharp], [0, 1]);
});

test('grey and progressive JPEGs take the JPEG path and agree with sharp', async () => {
  if (!compiled) return;
  const src = path.join(PHOTOS, 'Landscape_1.jpg');
  const grey = path.join(dir, 'grey.jpg');
  fs.writeFileSync(grey, await sharp(src).greyscale().jpeg({ quality: 90 }).toBuffer());
  const prog = path.join(dir, 'progressive.jpg');
  fs.writeFileSync(prog, await sharp(src).jpeg({ quality: 90, progressive: true }).toBuffer());
  const c444 = path.join(dir, '444.jpg');
  fs.writeFileSync(c444, await sharp(src).jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer());
  for (const file of [grey, prog, c444]) {
    // Plans decoded at full size by both (seed 5: a crop under 256²; 600×450 to a short side of 256).
    for (const plan of [trainPlan(5, 128), evalPlan(224)]) {
      const fast = await decode(file, plan);
      const slow = await decode(file, plan, { jpegPath: false });
      assert.is(fast.jpegPath, 1, path.basename(file));
      const mean = meanAbsDiff(fast.data, slow.data);
      assert.ok(mean < 0.5, `${path.basename(file)}: mean ${mean.toFixed(3)} levels from sharp`);
    }
  }
});

test('DCT-scaled decoding of a large photo stays close to decoding at full size, and is used', async () => {
  if (!compiled) return;
  const big = path.join(dir, 'big.jpg');
  fs.writeFileSync(big, await sharp(path.join(PHOTOS, 'Landscape_1.jpg')).resize(2400, 1800, { kernel: 'lanczos3' }).jpeg({ quality: 90 }).toBuffer());
  const scales = new Set<number>();
  const crops: [string, (w: number, h: number) => Geometry][] = [
    ['whole to 224', () => ({ resize: { width: 224, height: 224 } })], // 1/8
    ['half to 224', () => ({ extract: { left: 300, top: 200, width: 1200, height: 1000 }, resize: { width: 224, height: 224 }, flip: true })], // 1/4
    ['small to 224', () => ({ extract: { left: 1000, top: 900, width: 500, height: 460 }, resize: { width: 224, height: 224 } })], // 1/2
    ['eval', evalPlan(224)],
    ...[10, 11, 12, 13].map((s) => [`train seed ${s}`, trainPlan(s, 224)] as [string, (w: number, h: number) => Geometry]),
  ];
  for (const [name, plan] of crops) {
    const g = plan(2400, 1800);
    const box = g.extract ?? { width: 2400, height: 1800 };
    const grid = g.resize!;
    const m = [1, 2, 4].find((k) => (box.width * k) / 8 >= grid.width && (box.height * k) / 8 >= grid.height) ?? 8;
    scales.add(m);
    const scaled = await decode(big, plan);
    const full = await decode(big, plan, { dctScaling: false });
    const slow = await decode(big, plan, { jpegPath: false });
    const d = meanAbsDiff(scaled.data, full.data);
    assert.ok(d < 4.5, `${name} (scale ${m}/8): mean ${d.toFixed(3)} levels from the full-size decode`);
    // sharp shrinks on load (DCT-scaled too, by its own choice of scale) only without an
    // extract: with one, it decodes at full size.
    if (g.extract) {
      // Shrinking 5× and more, libvips box-filters by an integer factor before its triangle.
      const s = meanAbsDiff(full.data, slow.data);
      assert.ok(s < 1, `${name}: full-size decode ${s.toFixed(3)} levels from sharp`);
    } else {
      const s = meanAbsDiff(scaled.data, slow.data);
      assert.ok(s < 4.5, `${name}: ${s.toFixed(3)} levels from sharp`);
    }
  }
  assert.ok(scales.has(1) && scales.has(2) && scales.has(4), `scales used: ${[...scales].join(', ')} eighths`);
});

test('the resampler matches its reference: boxes, grids, windows, mirror and every turn', () => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  for (let t = 0; t < 60; t++) {
    const w = int(1, 70);
    const h = int(1, 70);
    const src = new Uint8Array(w * h * 3).map(() => int(0, 255));
    const bw = w * (0.2 + 0.8 * rand());
    const bh = h * (0.2 + 0.8 * rand());
    const bx = (w - bw) * rand();
    const by = (h - bh) * rand();
    const gw = int(1, 90);
    const gh = int(1, 90);
    const ww = int(1, gw);
    const wh = int(1, gh);
    const wx = int(0, gw - ww);
    const wy = int(0, gh - wh);
    const flop = rand() < 0.5;
    const rotate = [0, 90, 180, 270][int(0, 3)];
    const args = [src, [h, w, 3], bx, by, bw, bh, gw, gh, wx, wy, ww, wh, flop, rotate];
    const fast = ops.cropResize(...args, false);
    const ref = ops.cropResize(...args, true);
    const shape = rotate % 180 === 0 ? [wh, ww, 3] : [ww, wh, 3];
    const what = `case ${t}: ${w}x${h} box ${bx.toFixed(2)},${by.toFixed(2)} ${bw.toFixed(2)}x${bh.toFixed(2)} grid ${gw}x${gh} window ${wx},${wy} ${ww}x${wh} flop ${flop} rotate ${rotate}`;
    assert.equal(fast.shape, shape, what);
    assert.ok(maxAbsDiff(fast.data, ref.data) <= 1, `${what}: max ${maxAbsDiff(fast.data, ref.data)}`);
  }
  // A box outside the source is refused with a code, not read.
  try {
    ops.cropResize(new Uint8Array(12), [2, 2, 3], 1, 1, 2, 2, 4, 4, 0, 0, 4, 4, false, 0, false);
    assert.unreachable('a box outside the source');
  } catch (e) {
    assert.is((e as { code: string }).code, 'ERR_ARGUMENT');
  }
});

test('bad files: the same codes and reasons as sharp gave, and a cut file is truncated whatever the crop', async () => {
  if (!compiled) return;
  const good = await writeJpeg(path.join(dir, 'good.jpg'), 320, 240);
  const cut = await writeJpeg(path.join(dir, 'cut.jpg'), 320, 240);
  truncateFile(cut, 0.6);
  const headerOnly = await writeJpeg(path.join(dir, 'header-only.jpg'), 320, 240);
  truncateFile(headerOnly, 0.1);
  const garbage = path.join(dir, 'garbage.jpg');
  const g = fs.readFileSync(good);
  const bytes = Buffer.from(g);
  for (let i = Math.floor(g.length / 3); i < g.length - 2; i++) bytes[i] = (i * 131) % 256;
  fs.writeFileSync(garbage, bytes);
  const empty = path.join(dir, 'empty.jpg');
  fs.writeFileSync(empty, '');
  const text = path.join(dir, 'text.jpg');
  fs.writeFileSync(text, 'not a JPEG\n');
  const bomb = await writeJpegBomb(path.join(dir, 'bomb.jpg'), 60_000, 60_000);
  for (const file of [cut, headerOnly, garbage, empty, text, bomb]) {
    for (const plan of [whole, evalPlan(64)]) {
      const before = await failure(file, plan, { jpegPath: false });
      const now = await failure(file, plan);
      assert.equal(now, before, `${path.basename(file)}: ${now.join(' ')} vs sharp's ${before.join(' ')}`);
      assert.is.not(now[0], 'decoded', path.basename(file));
    }
  }
  // A crop above the cut: libvips never reached the damage and decoded it; the JPEG path
  // finds the missing end of the file first.
  const top = () => ({ extract: { left: 0, top: 0, width: 100, height: 40 }, resize: { width: 32, height: 32 } });
  assert.equal(await failure(cut, top, { jpegPath: false }), ['decoded']);
  assert.equal(await failure(cut, top), ['ERR_IMAGE_DECODE', 'truncated', cut]);
  // failOn 'none' keeps sharp's tolerance of cut files.
  assert.equal(await failure(cut, top, { failOn: 'none' }), ['decoded']);
});

test('readToEnd: damage below the box is noticed; without it the box alone is decoded', async () => {
  const side = 256;
  const noise = Buffer.alloc(side * side * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  const good = new Uint8Array(await sharp(noise, { raw: { width: side, height: side, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
  // Garble entropy-coded bytes near the end (the image's last rows); the EOI marker stays.
  const bad = good.slice();
  for (let i = bad.length - 400; i < bad.length - 100; i++) bad[i] = bad[i] === 0xff ? 0x12 : bad[i] ^ 0x5a;
  const decode = (bytes: Uint8Array, readToEnd: boolean) =>
    (ops.jpegDecodeAsync as unknown as (...a: unknown[]) => Promise<{ ok: boolean; outcome?: string }>)(
      bytes, 0, 0, 64, 64, 64, 64, 0, 0, 64, 64, false, 0, false, 1e8, readToEnd, null, false,
    );
  assert.ok((await decode(good, true)).ok, 'an intact file reads to its end');
  assert.ok((await decode(bad, false)).ok, 'the top box of the damaged file decodes without its last rows');
  const r = await decode(bad, true);
  assert.not.ok(r.ok, 'read to its end, the damage is seen');
  assert.is(r.outcome, 'failed');
});

test('in-memory bytes: decoded through the JPEG path from a copy, the caller\'s array untouched', async () => {
  if (!compiled) return;
  const buf = fs.readFileSync(path.join(PHOTOS, 'Portrait_6.jpg'));
  const copy = Buffer.from(buf);
  const t: Timings = { readMs: 0, headerMs: 0, pixelsMs: 0 };
  const img = await data.decodeImage({ kind: 'bytes', data: buf, name: 'p6' }, trainPlan(2, 64), OPTS, t);
  assert.is(t.jpegPathImages, 1);
  assert.equal([img.width, img.height], [64, 64]);
  assert.ok(buf.equals(copy));
  const fromFile = await decode(path.join(PHOTOS, 'Portrait_6.jpg'), trainPlan(2, 64));
  assert.equal(img.data, fromFile.data);
});

test.run();
