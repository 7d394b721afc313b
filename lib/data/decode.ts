/**
 * Decoding with sharp: one image in, upright 8-bit sRGB RGB pixels out, with the crop, the
 * resize and the flip done inside the same libvips pipeline (so only the pixels that are
 * needed are resampled, and nothing is copied between steps).
 *
 * Every pipeline: `limitInputPixels` (the header's width × height is checked before any pixel
 * buffer exists, so a decompression bomb costs a header read), EXIF orientation applied
 * before the geometry (crop boxes are in upright coordinates), conversion to sRGB (CMYK and
 * embedded ICC profiles through their profile, grey expanded to three channels), alpha
 * dropped (not composited: PIL's convert('RGB'), which torchvision uses), 8 bits per channel
 * (16-bit PNGs are scaled down).
 *
 * A file that cannot be used throws a DataError with its path and a reason: unreadable (the
 * file system refused), empty, too-large (pixels or bytes), not-image, truncated, corrupt.
 *
 * The JPEG path (option `jpegPath`, on by default where the core was built with
 * libjpeg-turbo): a baseline or progressive JPEG with 1 or 3 components and no colour profile
 * to apply (none, sRGB, or one deferred to the core with deferIcc) is decoded by the core
 * instead (native/jpeg/): at the smallest DCT scale (1/8, 1/4, 1/2, 1) that keeps the output's
 * detail, only the crop's rows and iMCU columns, resampled bilinearly with antialiasing
 * straight into the output and turned by the EXIF orientation in the same pass. Everything
 * else goes to sharp: other formats, CMYK/YCCK, profiles libvips must apply, and every file
 * on which libjpeg reports an error or a warning in the rows the crop needs: sharp then
 * decodes it and gives the error it always gave (failOn, reasons). The rows below the crop
 * are not decoded (libvips does not decode them either), but the stream must end with its EOI
 * marker: a cut file is 'truncated' whatever the crop (unless failOn is 'none').
 * The pixels differ from sharp's by its resampling details (see README, "Data pipeline").
 */
import * as fs from 'fs';
import type sharp from 'sharp';
import { BagOfTricksError } from '../errors';
import { DataError, ImageFailure, imageError } from './errors';
import { readHeader } from './header';
import { RgbProfile, rgbProfile } from './icc';
import { native } from '../native';
import { ImageSource } from './dataset';
import { CropBox, ResizeKernel } from './transforms';

type SharpModule = typeof import('sharp');
let sharpModule: SharpModule | undefined;

/** sharp, loaded on first use (so that `require('bagoftricks')` does not load libvips). */
export function loadSharp(): SharpModule {
  if (!sharpModule) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      sharpModule = require('sharp') as SharpModule;
    } catch (e) {
      throw new BagOfTricksError('ERR_NATIVE_LOAD', `the data pipeline needs sharp, which could not be loaded (${(e as Error).message}); reinstall it with \`npm rebuild sharp\``);
    }
  }
  return sharpModule;
}

/** When libvips gives up on damaged pixel data (sharp's failOn; least to most strict). */
export type FailOn = 'none' | 'truncated' | 'error' | 'warning';

/**
 * How decodeImage reads images: size limits, damage tolerance, resampling, colour handling.
 * The DataLoader's `decode` option overrides these defaults (DECODE_DEFAULTS) key by key.
 */
export interface DecodeOptions {
  /** Largest width × height accepted, checked on the header before decoding (default 100 MP). */
  limitInputPixels: number;
  /** Largest file accepted, in bytes (default 256 MiB). */
  maxFileBytes: number;
  /** Damage that rejects an image (default 'warning': any libjpeg/libpng complaint). */
  failOn: FailOn;
  /** Resampling kernel of the resize (default 'linear', bilinear). */
  kernel: ResizeKernel;
  /**
   * Leave an embedded RGB matrix/TRC profile unapplied and return it with the pixels, for the
   * core to convert after the resize (see icc.ts; default false: libvips converts).
   */
  deferIcc: boolean;
  /**
   * For a crop resized to a square (the train transform) of an image with an EXIF rotation:
   * crop and resize in the stored orientation and turn only the small result (default true).
   * libvips would otherwise turn the whole decoded image first, in memory (~2–3 ms for a
   * 600×450 photo here). Only the resampling phase differs (libvips shrinks by whole blocks
   * from the stored image's left/top edge): about one level on average.
   */
  orientAfterResize: boolean;
  /**
   * Decode plain JPEGs with the core's libjpeg-turbo path where it was built (default true;
   * see the file comment). false: sharp decodes every image.
   */
  jpegPath: boolean;
  /**
   * On the JPEG path, decode at a reduced DCT scale when the output is small enough (default
   * true). false: always at full size (for comparisons).
   */
  dctScaling: boolean;
}

/**
 * The decoder's defaults: 100 megapixels, 256 MiB per file, failOn 'warning', bilinear
 * resize, ICC profiles applied by sharp, orientation applied after the resize.
 */
export const DECODE_DEFAULTS: DecodeOptions = Object.freeze({
  limitInputPixels: 100_000_000,
  maxFileBytes: 256 * 2 ** 20,
  failOn: 'warning',
  kernel: 'linear',
  deferIcc: false,
  orientAfterResize: true,
  jpegPath: true,
  dctScaling: true,
});

/**
 * What to do with an image of the given upright size: an optional crop, an optional resize
 * (to exactly width × height, aspect not kept), an optional crop of the resized image, and a
 * horizontal flip at the end.
 */
export interface Geometry {
  /** Crop of the upright image, before the resize. */
  extract?: CropBox;
  /** Resize to exactly this size in pixels (aspect ratio not kept). */
  resize?: { width: number; height: number };
  /** Crop of the resized image. */
  extractAfter?: CropBox;
  /** Mirror horizontally, last. */
  flip?: boolean;
}
/**
 * The geometry to apply to an image, decided from its upright width and height (read from
 * the header before any pixel is decoded).
 */
export type Plan = (width: number, height: number) => Geometry;

/** Upright RGB pixels, (height, width, 3). */
export interface Decoded {
  /** The pixels, (height, width, 3) row-major RGB, 8 bits, sRGB (unless `profile` is set). */
  data: Uint8Array;
  /** Width in pixels, after the plan. */
  width: number;
  /** Height in pixels, after the plan. */
  height: number;
  /** With deferIcc: the image's profile, not yet applied (convert with ops.srgbFromProfile). */
  profile?: RgbProfile;
}

/** Time spent per stage, accumulated across images (wall time of each stage's async call). */
export interface DecodeTimings {
  /** Milliseconds reading files (or wrapping in-memory bytes). */
  readMs: number;
  /** Milliseconds reading headers (size, orientation, profile) before decoding. */
  headerMs: number;
  /** Milliseconds decoding, cropping and resizing pixels. */
  pixelsMs: number;
  /** Images decoded by the core's JPEG path. */
  jpegPathImages?: number;
  /** Images decoded by sharp (every other image, and JPEGs the JPEG path handed on). */
  sharpImages?: number;
}

function failure(path: string, reason: ImageFailure, message: string): DataError {
  return imageError({ path, reason, message });
}

/**
 * A JPEG cut short: its marker segments run past the end of the bytes, or its scan has no
 * EOI marker (FF D9) after it. In entropy-coded data an FF byte is always followed by 00 or
 * a restart marker, so an FF D9 there can only be the end of the image.
 */
export function jpegIsTruncated(buf: Uint8Array): boolean {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return false;
  let i = 2;
  while (i + 4 <= buf.length) {
    if (buf[i] !== 0xff) return false; // not a marker where one must be: corrupt, not cut
    const marker = buf[i + 1];
    if (marker === 0xff) {
      i += 1; // fill byte
      continue;
    }
    if (marker === 0xd9) return false; // EOI before any scan
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2; // markers without a length
      continue;
    }
    const length = (buf[i + 2] << 8) | buf[i + 3];
    if (i + 2 + length > buf.length) return true; // the segment runs past the end
    if (marker === 0xda) {
      for (let k = i + 2 + length; k + 1 < buf.length; k++) if (buf[k] === 0xff && buf[k + 1] === 0xd9) return false;
      return true; // the scan never ends
    }
    i += 2 + length;
  }
  return true; // the bytes end inside a marker
}

/**
 * Maps a sharp/libvips message to a reason. libvips' message can lose its detail when
 * several images fail at once ("Input buffer has corrupt header:" and nothing more), so a
 * JPEG's own structure decides between truncated and corrupt when the bytes are given.
 */
export function classifyDecodeError(message: string, bytes?: Uint8Array): ImageFailure {
  if (/pixel limit/i.test(message)) return 'too-large';
  if (/unsupported image format/i.test(message)) return 'not-image';
  if (/buffer is empty/i.test(message)) return 'empty';
  if (/premature end|truncated|unexpected end|end of (file|stream|data)|not enough data/i.test(message)) return 'truncated';
  if (bytes && jpegIsTruncated(bytes)) return 'truncated';
  return 'corrupt';
}

/**
 * Reads a whole file on the calling thread: open, fstat, read, close. For a photo in the page
 * cache that is ~0.1 ms of CPU, against ~0.6 ms for the same four steps through fs.promises
 * (each a round trip through libuv's pool, which the decoders share); the event loop waits
 * that long, once per image. The bytes are a view of a pooled buffer, added to `held`: the
 * caller hands it back (giveBytes) once nothing reads the bytes.
 */
async function readFile(path: string, maxBytes: number, held: Buffer[]): Promise<Buffer> {
  let fd: number | undefined;
  try {
    fd = fs.openSync(path, 'r');
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw failure(path, 'unreadable', 'not a regular file');
    if (st.size === 0) throw failure(path, 'empty', 'zero bytes');
    if (st.size > maxBytes) throw failure(path, 'too-large', `${st.size} bytes, more than maxFileBytes ${maxBytes}`);
    const buf = takeBytes(st.size);
    held.push(buf);
    let got = 0;
    while (got < st.size) {
      const n = fs.readSync(fd, buf, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got === 0) throw failure(path, 'empty', 'zero bytes');
    return buf.subarray(0, got);
  } catch (e) {
    if (e instanceof DataError) throw e;
    const err = e as NodeJS.ErrnoException;
    // Node's fs messages already start with the code ("ENOENT: no such file or directory, …").
    throw failure(path, 'unreadable', String(err.message ?? e));
  } finally {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // closing a descriptor that was read cannot lose data
      }
    }
  }
}

/** Upright width and height from a header (orientations 5–8 swap them). */
function uprightSize(meta: sharp.Metadata): { width: number; height: number } {
  const auto = (meta as { autoOrient?: { width: number; height: number } }).autoOrient;
  if (auto && auto.width > 0 && auto.height > 0) return auto;
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  return (meta.orientation ?? 1) >= 5 ? { width: h, height: w } : { width: w, height: h };
}

/** Expands (h, w, 1) grey to RGB, or copies RGB. */
function toRgb(data: Uint8Array, pixels: number, channels: 1 | 3): Uint8Array {
  if (channels === 3) return data.slice(0, pixels * 3);
  const out = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = data[i];
  return out;
}

/** EXIF orientation o as a matrix on centred (x right, y down) coordinates: stored → upright. */
const ORIENT: Record<number, number[]> = {
  1: [1, 0, 0, 1], 2: [-1, 0, 0, 1], 3: [-1, 0, 0, -1], 4: [1, 0, 0, -1],
  5: [0, 1, 1, 0], 6: [0, -1, 1, 0], 7: [0, -1, -1, 0], 8: [0, 1, -1, 0],
};
const ROTATIONS: [number, number[]][] = [[0, [1, 0, 0, 1]], [90, [0, -1, 1, 0]], [180, [-1, 0, 0, -1]], [270, [0, 1, -1, 0]]];
const mul2 = (a: number[], b: number[]) => [a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3]];

/**
 * The orientation followed by an optional horizontal flip, as sharp performs it: a mirror
 * (flop) first, then a clockwise turn.
 */
export function dihedral(orientation: number, flip: boolean): { rotate: number; flop: boolean } {
  const F = [-1, 0, 0, 1];
  const d = flip ? mul2(F, ORIENT[orientation]) : ORIENT[orientation];
  const det = d[0] * d[3] - d[1] * d[2];
  const r = det < 0 ? mul2(d, F) : d; // d = R·F  ⇒  R = d·F
  const rotate = ROTATIONS.find(([, m]) => m.every((v, i) => v === r[i]))![0];
  return { rotate, flop: det < 0 };
}

/** The stored-image box of an upright box, for an image stored as storedW × storedH. */
export function storedBox(b: CropBox, orientation: number, storedW: number, storedH: number): CropBox {
  const at = (x: number, y: number): [number, number] => {
    switch (orientation) {
      case 2: return [storedW - 1 - x, y];
      case 3: return [storedW - 1 - x, storedH - 1 - y];
      case 4: return [x, storedH - 1 - y];
      case 5: return [y, x];
      case 6: return [y, storedH - 1 - x];
      case 7: return [storedW - 1 - y, storedH - 1 - x];
      case 8: return [storedW - 1 - y, x];
      default: return [x, y];
    }
  };
  const [x0, y0] = at(b.left, b.top);
  const [x1, y1] = at(b.left + b.width - 1, b.top + b.height - 1);
  return { left: Math.min(x0, x1), top: Math.min(y0, y1), width: Math.abs(x1 - x0) + 1, height: Math.abs(y1 - y0) + 1 };
}

function isIdentity(g: Geometry, width: number, height: number): boolean {
  const full = (b?: CropBox) => !b || (b.left === 0 && b.top === 0 && b.width === width && b.height === height);
  return !g.flip && full(g.extract) && full(g.extractAfter) && (!g.resize || (g.resize.width === width && g.resize.height === height));
}

function outputSize(g: Geometry, width: number, height: number): { width: number; height: number } {
  if (g.extractAfter) return { width: g.extractAfter.width, height: g.extractAfter.height };
  if (g.resize) return g.resize;
  if (g.extract) return { width: g.extract.width, height: g.extract.height };
  return { width, height };
}

/**
 * Decodes one image and applies plan(uprightWidth, uprightHeight). Throws a DataError
 * (ERR_IMAGE_DECODE / ERR_IMAGE_TOO_LARGE) for a file that cannot be used.
 */
export async function decodeImage(source: ImageSource, plan: Plan, options: DecodeOptions, timings?: DecodeTimings, parseHeader = true): Promise<Decoded> {
  const held: Buffer[] = [];
  try {
    return await decodeOnce(source, plan, options, timings, parseHeader, held);
  } finally {
    for (const b of held) giveBytes(b);
  }
}

async function decodeOnce(source: ImageSource, plan: Plan, options: DecodeOptions, timings: DecodeTimings | undefined, parseHeader: boolean, held: Buffer[]): Promise<Decoded> {
  const sharp = loadSharp();
  const name = source.kind === 'file' ? source.path : source.kind === 'bytes' ? source.name : 'pixels';
  let img: sharp.Sharp;
  let g: Geometry;
  let profile: RgbProfile | undefined;
  let width: number;
  let height: number;
  let parsed = false;
  let orientation = 1;
  let late: { rotate: number; flop: boolean } | null = null;
  let bytes: Uint8Array | undefined; // the encoded image, for classifying a decode failure
  if (source.kind === 'file' || source.kind === 'bytes') {
    const t0 = performance.now();
    const buf = source.kind === 'file' ? await readFile(source.path, options.maxFileBytes, held) : bytesOf(source.data, name, options.maxFileBytes);
    bytes = buf;
    // A file's bytes are in a pooled buffer: sharp gets a copy of its own (see bytePool).
    const own = (b: Buffer) => (source.kind === 'file' ? Buffer.from(b) : b);
    const t1 = performance.now();
    const base: sharp.SharpOptions = { limitInputPixels: options.limitInputPixels, failOn: options.failOn, sequentialRead: true };
    // The header from the bytes when they are plain JPEG/PNG, else from sharp.
    const header = parseHeader ? readHeader(buf) : null;
    parsed = header !== null;
    let icc: Uint8Array | undefined;
    let rgb: boolean;
    if (header) {
      ({ width, height } = header.orientation >= 5 ? { width: header.height, height: header.width } : header);
      orientation = header.orientation;
      icc = header.icc;
      rgb = header.channels === 3;
    } else {
      let meta: sharp.Metadata;
      try {
        meta = await sharp(own(buf), base).metadata();
      } catch (e) {
        const msg = (e as Error).message;
        throw failure(name, classifyDecodeError(msg, buf), msg);
      }
      ({ width, height } = uprightSize(meta));
      orientation = meta.orientation && meta.orientation >= 1 && meta.orientation <= 8 ? meta.orientation : 1;
      icc = meta.icc;
      rgb = meta.space === 'srgb';
    }
    if (!(width > 0 && height > 0)) throw failure(name, 'corrupt', 'the header has no image size');
    if (width * height > options.limitInputPixels) {
      throw failure(name, 'too-large', `${width}×${height} pixels, more than limitInputPixels ${options.limitInputPixels}`);
    }
    if (timings) {
      timings.readMs += t1 - t0;
      timings.headerMs += performance.now() - t1;
    }
    g = plan(width, height);
    let ignoreIcc = false;
    if (options.deferIcc && icc && rgb) {
      const p = rgbProfile(icc);
      if (p) {
        ignoreIcc = true;
        if (!p.srgb) profile = p;
      }
    }
    if (options.jpegPath && header && header.format === 'jpeg' && (header.channels === 3 || header.channels === 1) && (!icc || ignoreIcc) && jpegPath().compiled) {
      const t2 = performance.now();
      const fast = await decodeJpeg(name, buf, source.kind === 'file', g, orientation, width, height, options);
      if (fast) {
        if (timings) {
          timings.pixelsMs += performance.now() - t2;
          timings.jpegPathImages = (timings.jpegPathImages ?? 0) + 1;
        }
        return { ...fast, ...(profile ? { profile } : {}) };
      }
    }
    if (timings) timings.sharpImages = (timings.sharpImages ?? 0) + 1;
    img = sharp(own(buf), { ...base, ignoreIcc });
    const square = g.extract && g.resize && g.resize.width === g.resize.height && !g.extractAfter;
    if (orientation !== 1 && options.orientAfterResize && square) {
      // Crop in stored coordinates; the turn (and the flip) then apply to the small result.
      const storedW = orientation >= 5 ? height : width;
      const storedH = orientation >= 5 ? width : height;
      late = dihedral(orientation, g.flip ?? false);
      g = { ...g, extract: storedBox(g.extract!, orientation, storedW, storedH), flip: false };
    } else {
      img = img.autoOrient();
    }
  } else {
    ({ width, height } = source);
    g = plan(width, height);
    if (isIdentity(g, width, height)) return { data: toRgb(source.data, width * height, source.channels), width, height };
    img = sharp(source.data, { raw: { width, height, channels: source.channels } });
  }

  const want = outputSize(g, width, height);
  const t2 = performance.now();
  if (g.extract) img = img.extract(g.extract);
  if (g.resize) img = img.resize(g.resize.width, g.resize.height, { fit: 'fill', kernel: options.kernel });
  if (g.extractAfter) img = img.extract(g.extractAfter);
  if (g.flip) img = img.flop();
  if (late) {
    // sharp mirrors before it turns, whatever the call order: the decomposition assumes it.
    if (late.flop) img = img.flop();
    if (late.rotate) img = img.rotate(late.rotate);
  }
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await img.toColourspace('srgb').removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    const msg = (e as Error).message;
    // A box outside the image means libvips saw another size or orientation than the
    // header parser: ask libvips for the header and try once more.
    if (parsed && /extract/i.test(msg)) return decodeImage(source, plan, options, timings, false);
    throw failure(name, classifyDecodeError(msg, bytes), msg);
  }
  if (timings) timings.pixelsMs += performance.now() - t2;
  const { info, data } = out;
  if (info.channels !== 3 || info.width !== want.width || info.height !== want.height) {
    if (parsed) return decodeImage(source, plan, options, timings, false);
    throw failure(name, 'corrupt', `decoded to ${info.width}×${info.height}×${info.channels}, expected ${want.width}×${want.height}×3`);
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, ...(profile ? { profile } : {}) };
}

/**
 * Arrays for decoded images, by byte length, handed back by their consumer (recycleImage) and
 * reused by the JPEG path: an image of 224² is 147 KiB, above malloc's threshold for mapping
 * fresh pages, so each new one costs a mapping and its page faults.
 */
const imagePool = new Map<number, Uint8Array[]>();
const IMAGE_POOL_MAX = 64; // per size: more than the images a loader holds in flight

/**
 * Hands a decoded image's array back for reuse by a later decode. Call it only when nothing
 * reads the array any more (the DataLoader does, once an image is copied into its batch).
 * Arrays that do not own their whole buffer are ignored.
 */
export function recycleImage(data: Uint8Array): void {
  if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || data.length === 0) return;
  let list = imagePool.get(data.length);
  if (!list) imagePool.set(data.length, (list = []));
  if (list.length < IMAGE_POOL_MAX) list.push(data);
}

/**
 * File buffers for reuse (see readFile): every one is lent to one decode at a time, and only to
 * the JPEG path, which copies or finishes with it before the buffer is reused. sharp gets its
 * own copy: libvips may keep an input's memory in its operation cache, and a pooled
 * buffer holds another image at the same address a moment later.
 */
const bytePool: Buffer[] = [];
const BYTE_POOL_MAX = 32;

function takeBytes(size: number): Buffer {
  const b = bytePool.pop();
  if (b && b.length >= size) return b;
  return Buffer.allocUnsafeSlow(Math.max(size, 1 << 16)); // its own memory, never Node's shared slab
}

function giveBytes(b: Buffer): void {
  if (bytePool.length < BYTE_POOL_MAX && b.length <= 64 * 2 ** 20) bytePool.push(b);
}

let jpegInfo: { compiled: boolean; version: string } | undefined;

/**
 * Whether the core has the libjpeg-turbo path, and its version ("" without it). An addon
 * that cannot be loaded counts as without: sharp then decodes every image.
 */
export function jpegPath(): { compiled: boolean; version: string } {
  if (!jpegInfo) {
    try {
      jpegInfo = native().ops.jpegInfo() as { compiled: boolean; version: string };
    } catch {
      jpegInfo = { compiled: false, version: '' };
    }
  }
  return jpegInfo;
}

/**
 * The geometry of a plan in the stored image's coordinates, as the core's crop/resize/turn
 * takes it: the source box, the grid it is resized to and the window of that grid (all in
 * the stored orientation), then the mirror and clockwise turn that make the window upright
 * (and flipped, when the plan asks for it). width × height is the upright size.
 */
export function storedGeometry(g: Geometry, orientation: number, width: number, height: number) {
  const swap = orientation >= 5;
  const storedW = swap ? height : width;
  const storedH = swap ? width : height;
  const source = g.extract ?? { left: 0, top: 0, width, height };
  const box = storedBox(source, orientation, storedW, storedH);
  const grid = g.resize ?? { width: source.width, height: source.height };
  const gridW = swap ? grid.height : grid.width;
  const gridH = swap ? grid.width : grid.height;
  const win = storedBox(g.extractAfter ?? { left: 0, top: 0, width: grid.width, height: grid.height }, orientation, gridW, gridH);
  const { rotate, flop } = dihedral(orientation, g.flip ?? false);
  return { box, gridW, gridH, win, rotate, flop };
}

/**
 * The JPEG path: the plan's pixels, or null when sharp must decode the file instead. A file
 * without its EOI marker is 'truncated' here whatever the crop (unless failOn is 'none'):
 * libvips notices a cut only when the crop reaches it.
 */
async function decodeJpeg(name: string, buf: Uint8Array, lend: boolean, g: Geometry, orientation: number, width: number, height: number, options: DecodeOptions): Promise<Decoded | null> {
  const want = outputSize(g, width, height);
  const s = storedGeometry(g, orientation, width, height);
  const out = lend ? imagePool.get(want.width * want.height * 3)?.pop() ?? null : null;
  let r: { ok: boolean; data?: Uint8Array; width?: number; height?: number; outcome?: string; message?: string };
  try {
    r = await native().ops.jpegDecodeAsync(
      buf, s.box.left, s.box.top, s.box.width, s.box.height, s.gridW, s.gridH, s.win.left, s.win.top, s.win.width, s.win.height,
      s.flop, s.rotate, options.dctScaling, options.limitInputPixels, false, out, lend,
    );
  } catch {
    if (out) recycleImage(out);
    return null; // a geometry the core refuses: sharp decides (and reports) as it always has
  }
  if (!r.ok && out) recycleImage(out);
  if (!r.ok && r.outcome === 'truncated' && options.failOn !== 'none') throw failure(name, 'truncated', r.message!);
  if (!r.ok || r.width !== want.width || r.height !== want.height) return null;
  return { data: r.data!, width: r.width, height: r.height };
}

/** An in-memory encoded image as a Buffer (no copy), held to the same size limit as files. */
function bytesOf(data: Uint8Array, name: string, maxBytes: number): Buffer {
  if (data.length > maxBytes) throw failure(name, 'too-large', `${data.length} bytes, more than maxFileBytes ${maxBytes}`);
  if (data.length === 0) throw failure(name, 'empty', 'no bytes');
  return Buffer.from(data.buffer, data.byteOffset, data.length);
}

/** sharp's own settings that matter for throughput, for reports. */
export function sharpSettings(): { concurrency: number; simd: boolean; vips: string } {
  const sharp = loadSharp();
  return { concurrency: sharp.concurrency(), simd: sharp.simd(), vips: sharp.versions.vips };
}
