/**
 * Image fixtures for the data-pipeline tests: every kind of file is generated into a fresh
 * folder under os.tmpdir() (sharp writes JPEG and PNG; broken files are made by cutting or
 * patching bytes). The real photos come from ../shared/data/photos beside the repository.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';

/** The repository root (tests run from .test-dist/test/). */
export const ROOT = path.join(__dirname, '..', '..', '..');
/** Real photos (EXIF orientations 1–8, a CMYK JPEG): ../shared/data/photos beside the repo. */
export const PHOTOS = path.join(ROOT, '..', 'shared', 'data', 'photos');

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `bot-${prefix}-`));
}

export function rmDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** RGB pixels that encode their coordinates: R = x mod 256, G = y mod 256, B = (7x + 13y) mod 256. */
export function coordPixels(w: number, h: number): Uint8Array {
  const px = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      px[i] = x % 256;
      px[i + 1] = y % 256;
      px[i + 2] = (7 * x + 13 * y) % 256;
    }
  }
  return px;
}

/** Pixels of a smooth, asymmetric picture (so flips and rotations are visible). */
export function gradientPixels(w: number, h: number, seed = 0): Uint8Array {
  const px = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      px[i] = Math.round((255 * x) / Math.max(1, w - 1));
      px[i + 1] = Math.round((255 * y) / Math.max(1, h - 1));
      px[i + 2] = (seed * 37 + Math.round((128 * (x + y)) / Math.max(1, w + h - 2))) % 256;
    }
  }
  return px;
}

export async function writeRaw(file: string, px: Uint8Array, w: number, h: number, channels: 1 | 2 | 3 | 4, format: 'png' | 'jpeg', extra: { quality?: number; palette?: boolean; sixteen?: boolean } = {}): Promise<string> {
  let img = sharp(px, { raw: { width: w, height: h, channels } });
  if (extra.sixteen) img = img.toColourspace('rgb16');
  const buf = format === 'png' ? await img.png({ palette: extra.palette ?? false }).toBuffer() : await img.jpeg({ quality: extra.quality ?? 95 }).toBuffer();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, buf);
  return file;
}

/** A small JPEG of a gradient. */
export function writeJpeg(file: string, w = 40, h = 30, seed = 0): Promise<string> {
  return writeRaw(file, gradientPixels(w, h, seed), w, h, 3, 'jpeg');
}

/** Keeps the first `fraction` of a file's bytes. */
export function truncateFile(file: string, fraction: number): void {
  const b = fs.readFileSync(file);
  fs.writeFileSync(file, b.subarray(0, Math.max(1, Math.floor(b.length * fraction))));
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const v of b) c = CRC_TABLE[(c ^ v) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A valid tiny PNG whose header (IHDR, CRC fixed) declares width × height: a decompression bomb. */
export async function writePngBomb(file: string, width: number, height: number): Promise<string> {
  const png = Buffer.from(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer());
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  fs.writeFileSync(file, png);
  return file;
}

/** A JPEG whose SOF0 header declares width × height (the scan data is the original small one). */
export async function writeJpegBomb(file: string, width: number, height: number): Promise<string> {
  const jpg = Buffer.from(await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } }).jpeg({ mozjpeg: false }).toBuffer());
  for (let i = 2; i < jpg.length - 9; ) {
    if (jpg[i] !== 0xff) break;
    const marker = jpg[i + 1];
    const len = jpg.readUInt16BE(i + 2);
    if (marker === 0xc0 || marker === 0xc2) {
      jpg.writeUInt16BE(height, i + 5);
      jpg.writeUInt16BE(width, i + 7);
      break;
    }
    i += 2 + len;
  }
  fs.writeFileSync(file, jpg);
  return file;
}

/** Mean absolute difference of two byte arrays. */
export function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

/** Kolmogorov–Smirnov statistic of samples against a CDF on their range. */
export function ksStatistic(samples: number[], cdf: (x: number) => number): number {
  const s = samples.slice().sort((a, b) => a - b);
  const n = s.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(s[i]);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  return d;
}

/**
 * The KS critical value at significance alpha for n samples (asymptotic:
 * P(D > c) ≤ 2·exp(−2 n c²)), so a fixed-seed test with alpha = 1e-9 cannot flake.
 */
export function ksBound(n: number, alpha = 1e-9): number {
  return Math.sqrt(-Math.log(alpha / 2) / (2 * n));
}
