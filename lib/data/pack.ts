/**
 * Packed data sets: one file holding every image of a data set pre-resized (short side at most
 * `maxSide`), upright, 8-bit sRGB, with its label, the class names and a CRC-32 per record,
 * read through a memory mapping. `bagoftricks pack DIR OUT` writes one; `train --data OUT`,
 * `bench data --data OUT` and `new PackedDataset(OUT)` read it, with the same transforms as a
 * folder (the records are images like any other: the loader decodes, crops and augments them).
 *
 * Records are JPEGs (quality `quality`, baseline, 4:2:0), or raw RGB pixels (`format: 'raw'`,
 * for small images: no decoding at all). A source file that already is a plain JPEG (3 or 1
 * components, EXIF orientation 1, no colour profile) with its short side within `maxSide` is
 * stored as it is, so packing loses nothing on such data sets (CIFAR-10 as JPEGs).
 *
 * Layout, little-endian (version 1):
 *
 *   header, 64 bytes:  "BOTPACK1", u32 version, u32 count, u32 classes, u32 0,
 *                      u64 indexOffset, u64 metaOffset, u64 metaBytes,
 *                      u32 indexCrc, u32 metaCrc, u32 0, u32 headerCrc (of bytes 0–59)
 *   records            from byte 64, one after the other
 *   index, 32 bytes per record at indexOffset:
 *                      u64 offset, u32 length, u32 crc, u32 label, u32 width, u32 height,
 *                      u8 format (0 JPEG, 1 raw RGB), 3 bytes 0
 *   metadata           UTF-8 JSON at metaOffset: { classes, names, maxSide, quality, format,
 *                      leftOut }; the file ends with it.
 *
 * Opening checks the header, both CRCs, every offset and size against the file's length and
 * every label against the classes: a truncated or altered file is refused with ERR_PACK_FORMAT
 * before any record is used. Each record's CRC is checked when the record is read (and all of
 * them by `verify()`): a record altered later is ERR_PACK_FORMAT too, and fails the epoch. Writing is atomic: a
 * temporary file in OUT's folder, fsync, rename over OUT, fsync the folder; on any failure the
 * temporary file is removed and OUT is untouched.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BagOfTricksError } from '../errors';
import { ioError } from '../io';
import { native } from '../native';
import { expectInt, expectKeys, expectObject, fail } from '../validate';
import { BaseDataset, Dataset, ImageSource } from './dataset';
import { DECODE_DEFAULTS, Geometry, decodeImage, loadSharp } from './decode';
import { DataError, SkippedImage, datasetError } from './errors';
import { readHeader } from './header';

const MAGIC = 'BOTPACK1';
const VERSION = 1;
const HEADER_BYTES = 64;
const ENTRY_BYTES = 32;
const FORMAT_JPEG = 0;
const FORMAT_RAW = 1;

/** Options of writePack (and `bagoftricks pack`). */
export interface PackOptions {
  /** Largest short side of a stored image, in pixels (default 256); larger images are shrunk. */
  maxSide?: number;
  /** JPEG quality of re-encoded records, 1–100 (default 90). */
  quality?: number;
  /** 'jpeg' (default) or 'raw' (RGB pixels: larger, no decoding when read). */
  format?: 'jpeg' | 'raw';
  /** Images decoded and encoded at once (default 4). */
  workers?: number;
  /** Called after each image with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

/** What writePack did. */
export interface PackReport {
  /** The file written. */
  file: string;
  /** Records written. */
  images: number;
  /** Class names, in label order. */
  classes: string[];
  /** Bytes of the file. */
  bytes: number;
  /** Records copied from their source as they were (plain JPEGs already small enough). */
  verbatim: number;
  /** Images left out, each with its reason (they failed to decode). */
  leftOut: SkippedImage[];
}

interface Entry {
  offset: number;
  length: number;
  crc: number;
  label: number;
  width: number;
  height: number;
  format: number;
}

function crc32(b: Uint8Array): number {
  return native().ops.crc32(b) as number;
}

function packError(file: string, message: string): BagOfTricksError {
  return new BagOfTricksError('ERR_PACK_FORMAT', `${file}: ${message}`);
}

/** Whether `file` starts with the packed format's magic bytes (false for folders and unreadable files). */
export function isPackFile(file: string): boolean {
  let fd: number | undefined;
  try {
    if (!fs.statSync(file).isFile()) return false;
    fd = fs.openSync(file, 'r');
    const b = Buffer.alloc(8);
    return fs.readSync(fd, b, 0, 8, 0) === 8 && b.toString('latin1') === MAGIC;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function resolvePackOptions(o: PackOptions): Required<Omit<PackOptions, 'onProgress'>> & Pick<PackOptions, 'onProgress'> {
  expectKeys('options', expectObject('options', o), ['maxSide', 'quality', 'format', 'workers', 'onProgress']);
  const format = o.format ?? 'jpeg';
  if (format !== 'jpeg' && format !== 'raw') fail('ERR_ARGUMENT', "'jpeg' or 'raw'", 'options.format', format);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') fail('ERR_ARGUMENT', 'a function', 'options.onProgress', o.onProgress);
  return {
    maxSide: expectInt('options.maxSide', o.maxSide ?? 256, 1, 16384),
    quality: expectInt('options.quality', o.quality ?? 90, 1, 100),
    format,
    workers: expectInt('options.workers', o.workers ?? 4, 1, 256),
    onProgress: o.onProgress,
  };
}

/** The short side brought down to maxSide (never enlarged), the aspect ratio kept. */
function shrinkPlan(maxSide: number) {
  return (w: number, h: number): Geometry => {
    const short = Math.min(w, h);
    if (short <= maxSide) return {};
    const s = maxSide / short;
    return { resize: { width: Math.max(1, Math.round(w * s)), height: Math.max(1, Math.round(h * s)) } };
  };
}

/** One image as a record: its bytes, size and format; a DataError when it cannot be decoded. */
async function encodeRecord(ds: Dataset, i: number, o: ReturnType<typeof resolvePackOptions>): Promise<{ bytes: Uint8Array; width: number; height: number; format: number; verbatim: boolean }> {
  const source = ds.source(i);
  // Decoded with the pipeline's own decoder: the same checks, reasons and colour handling.
  const img = await decodeImage(source, shrinkPlan(o.maxSide), { ...DECODE_DEFAULTS, deferIcc: false });
  if (o.format === 'raw') return { bytes: img.data, width: img.width, height: img.height, format: FORMAT_RAW, verbatim: false };
  if (source.kind === 'file' || source.kind === 'bytes') {
    const orig = source.kind === 'file' ? fs.readFileSync(source.path) : source.data;
    const h = readHeader(orig);
    const plain = h && h.format === 'jpeg' && (h.channels === 3 || h.channels === 1) && h.orientation === 1 && !h.icc;
    if (plain && h.width === img.width && h.height === img.height) return { bytes: orig, width: img.width, height: img.height, format: FORMAT_JPEG, verbatim: true };
  }
  const jpeg = await loadSharp()(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality: o.quality, chromaSubsampling: '4:2:0' }).toBuffer();
  return { bytes: jpeg, width: img.width, height: img.height, format: FORMAT_JPEG, verbatim: false };
}

let tmpCounter = 0;

function writeAll(fd: number, b: Uint8Array, position: number): void {
  let done = 0;
  while (done < b.length) done += fs.writeSync(fd, b, done, b.length - done, position + done);
}

/**
 * Writes every image of `dataset` into one packed file at `out`, atomically. Images that fail
 * to decode are left out and reported (PackReport.leftOut); a class left without images is
 * ERR_DATASET and nothing is written. File-system failures are ERR_IO.
 */
export async function writePack(dataset: Dataset, out: string, options: PackOptions = {}): Promise<PackReport> {
  const o = resolvePackOptions(options);
  if (typeof out !== 'string' || out.length === 0) fail('ERR_ARGUMENT', 'file path', 'out', out);
  const target = path.resolve(out);
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${++tmpCounter}-${Math.floor(Math.random() * 1e9).toString(36)}`);
  const n = dataset.length;
  const entries: Entry[] = [];
  const names: string[] = [];
  const leftOut: SkippedImage[] = [];
  const counts = new Array<number>(dataset.classes.length).fill(0);
  let verbatim = 0;
  let fd: number | undefined;
  let renamed = false;
  let op = 'create';
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    op = 'write';
    let at = HEADER_BYTES;
    writeAll(fd, new Uint8Array(HEADER_BYTES), 0);
    const chunk = o.workers * 4;
    for (let start = 0; start < n; start += chunk) {
      const ids = Array.from({ length: Math.min(chunk, n - start) }, (_, k) => start + k);
      // Decoded `workers` at a time, written in data set order.
      const results: (Awaited<ReturnType<typeof encodeRecord>> | DataError)[] = new Array(ids.length);
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(o.workers, ids.length) }, async () => {
          while (next < ids.length) {
            const k = next++;
            try {
              results[k] = await encodeRecord(dataset, ids[k], o);
            } catch (e) {
              if (!(e instanceof DataError) || !e.path) throw e;
              results[k] = e;
            }
          }
        }),
      );
      for (let k = 0; k < ids.length; k++) {
        const r = results[k];
        const i = ids[k];
        if (r instanceof DataError) {
          leftOut.push({ path: r.path!, reason: r.reason ?? 'corrupt', message: r.message });
          continue;
        }
        writeAll(fd, r.bytes, at);
        const label = dataset.label(i);
        entries.push({ offset: at, length: r.bytes.length, crc: crc32(r.bytes), label, width: r.width, height: r.height, format: r.format });
        names.push(dataset.name(i));
        counts[label]++;
        if (r.verbatim) verbatim++;
        at += r.bytes.length;
        o.onProgress?.(start + k + 1, n);
      }
    }
    const empty = counts.findIndex((c) => c === 0);
    if (empty >= 0) throw datasetError(`class "${dataset.classes[empty]}" has no image left to pack${leftOut.length ? ` (${leftOut.length} files failed to decode)` : ''}`);
    const index = Buffer.alloc(entries.length * ENTRY_BYTES);
    entries.forEach((e, k) => {
      const b = k * ENTRY_BYTES;
      index.writeBigUInt64LE(BigInt(e.offset), b);
      index.writeUInt32LE(e.length, b + 8);
      index.writeUInt32LE(e.crc, b + 12);
      index.writeUInt32LE(e.label, b + 16);
      index.writeUInt32LE(e.width, b + 20);
      index.writeUInt32LE(e.height, b + 24);
      index.writeUInt8(e.format, b + 28);
    });
    const meta = Buffer.from(JSON.stringify({ classes: dataset.classes, names, maxSide: o.maxSide, quality: o.quality, format: o.format, leftOut }), 'utf8');
    const indexOffset = at;
    const metaOffset = indexOffset + index.length;
    writeAll(fd, index, indexOffset);
    writeAll(fd, meta, metaOffset);
    const header = Buffer.alloc(HEADER_BYTES);
    header.write(MAGIC, 0, 'latin1');
    header.writeUInt32LE(VERSION, 8);
    header.writeUInt32LE(entries.length, 12);
    header.writeUInt32LE(dataset.classes.length, 16);
    header.writeBigUInt64LE(BigInt(indexOffset), 24);
    header.writeBigUInt64LE(BigInt(metaOffset), 32);
    header.writeBigUInt64LE(BigInt(meta.length), 40);
    header.writeUInt32LE(crc32(index), 48);
    header.writeUInt32LE(crc32(meta), 52);
    header.writeUInt32LE(crc32(header.subarray(0, 60)), 60);
    writeAll(fd, header, 0);
    op = 'fsync';
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    op = 'rename';
    fs.renameSync(tmp, target);
    renamed = true;
    op = 'fsync the folder of';
    if (process.platform !== 'win32') {
      const dfd = fs.openSync(dir, 'r');
      try {
        fs.fsyncSync(dfd);
      } finally {
        fs.closeSync(dfd);
      }
    }
    return { file: target, images: entries.length, classes: dataset.classes.slice(), bytes: metaOffset + meta.length, verbatim, leftOut };
  } catch (e) {
    if (e instanceof BagOfTricksError) throw e;
    throw ioError(op, op === 'create' || op === 'write' || op === 'fsync' ? tmp : target, e);
  } finally {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // already failing: the temporary file is removed below
      }
    }
    if (!renamed) {
      try {
        fs.unlinkSync(tmp);
      } catch {
        // never created
      }
    }
  }
}

/**
 * A packed data set (see the file comment), memory-mapped. Implements Dataset: the DataLoader
 * reads it like any other, with any transform. Throws ERR_PACK_FORMAT when the file is
 * truncated or altered, ERR_ARGUMENT when it cannot be opened.
 */
export class PackedDataset extends BaseDataset {
  /** The packed file. */
  readonly file: string;
  readonly classes: readonly string[];
  /** Largest short side of the stored images. */
  readonly maxSide: number;
  /** Images the packer left out, with their reasons. */
  readonly leftOut: readonly SkippedImage[];
  private readonly bytes: Uint8Array;
  private readonly entries: DataView;
  private readonly count: number;
  private readonly names: readonly string[];

  /** Maps and checks `file` (header, index, metadata); records are checked as they are read. */
  constructor(file: string) {
    super();
    if (typeof file !== 'string' || file.length === 0) fail('ERR_ARGUMENT', 'file path', 'file', file);
    this.file = path.resolve(file);
    let buffer: ArrayBuffer;
    try {
      buffer = native().ops.mapFile(this.file) as ArrayBuffer;
    } catch (e) {
      throw new BagOfTricksError('ERR_ARGUMENT', `cannot read the packed data set ${this.file}: ${(e as Error).message}`);
    }
    const b = new Uint8Array(buffer);
    const bad = (m: string) => packError(this.file, m);
    if (b.length < HEADER_BYTES) throw bad(`${b.length} bytes, shorter than the ${HEADER_BYTES}-byte header (truncated)`);
    const v = new DataView(buffer);
    if (Buffer.from(b.buffer, 0, 8).toString('latin1') !== MAGIC) throw bad('not a packed data set (no BOTPACK1 magic)');
    if (v.getUint32(60, true) !== crc32(b.subarray(0, 60))) throw bad('header checksum mismatch (the header was altered)');
    const version = v.getUint32(8, true);
    if (version !== VERSION) throw bad(`version ${version}, this bagoftricks reads version ${VERSION}`);
    const count = v.getUint32(12, true);
    const nClasses = v.getUint32(16, true);
    const u64 = (at: number) => {
      const x = v.getBigUint64(at, true);
      if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('an offset beyond 2^53');
      return Number(x);
    };
    const indexOffset = u64(24);
    const metaOffset = u64(32);
    const metaBytes = u64(40);
    if (indexOffset < HEADER_BYTES || indexOffset + count * ENTRY_BYTES !== metaOffset) throw bad('inconsistent index offsets');
    if (metaOffset + metaBytes !== b.length) throw bad(`${b.length} bytes where the header announces ${metaOffset + metaBytes} (truncated or extended)`);
    const index = b.subarray(indexOffset, metaOffset);
    const meta = b.subarray(metaOffset, metaOffset + metaBytes);
    if (v.getUint32(48, true) !== crc32(index)) throw bad('index checksum mismatch (the index was altered)');
    if (v.getUint32(52, true) !== crc32(meta)) throw bad('metadata checksum mismatch (the metadata was altered)');
    let m: { classes?: unknown; names?: unknown; maxSide?: unknown; leftOut?: unknown };
    try {
      m = JSON.parse(Buffer.from(meta.buffer, meta.byteOffset, meta.length).toString('utf8'));
    } catch (e) {
      throw bad(`metadata is not JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(m.classes) || m.classes.length !== nClasses || m.classes.some((c) => typeof c !== 'string')) throw bad('metadata: classes do not match the header');
    if (!Array.isArray(m.names) || m.names.length !== count) throw bad('metadata: names do not match the header');
    const entries = new DataView(buffer, indexOffset, count * ENTRY_BYTES);
    for (let i = 0; i < count; i++) {
      const e = i * ENTRY_BYTES;
      const offset = Number(entries.getBigUint64(e, true));
      const length = entries.getUint32(e + 8, true);
      const label = entries.getUint32(e + 16, true);
      const w = entries.getUint32(e + 20, true);
      const h = entries.getUint32(e + 24, true);
      const format = entries.getUint8(e + 28);
      if (offset < HEADER_BYTES || offset + length > indexOffset || length === 0) throw bad(`record ${i} lies outside the records`);
      if (label >= nClasses) throw bad(`record ${i} has label ${label} of ${nClasses} classes`);
      if (w < 1 || h < 1 || w > 65535 || h > 65535) throw bad(`record ${i} has size ${w}×${h}`);
      if (format === FORMAT_RAW ? length !== w * h * 3 : format !== FORMAT_JPEG) throw bad(`record ${i}: format ${format}, ${length} bytes for ${w}×${h}`);
    }
    this.bytes = b;
    this.entries = entries;
    this.count = count;
    this.classes = m.classes as string[];
    this.names = m.names as string[];
    this.maxSide = typeof m.maxSide === 'number' ? m.maxSide : 0;
    this.leftOut = Array.isArray(m.leftOut) ? (m.leftOut as SkippedImage[]) : [];
  }

  get length(): number {
    return this.count;
  }

  label(i: number): number {
    return this.entries.getUint32(i * ENTRY_BYTES + 16, true);
  }

  /** Record i as an image source, its CRC checked (ERR_PACK_FORMAT when it does not match). */
  source(i: number): ImageSource {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) fail('ERR_ARGUMENT', `an index in [0, ${this.count})`, 'i', i);
    const e = i * ENTRY_BYTES;
    const offset = Number(this.entries.getBigUint64(e, true));
    const length = this.entries.getUint32(e + 8, true);
    const data = this.bytes.subarray(offset, offset + length);
    // Every read (~10 µs for a 30 KB record): the file under the mapping could change.
    if (crc32(data) !== this.entries.getUint32(e + 12, true)) throw packError(this.file, `record ${i} (${this.names[i]}): checksum mismatch (the record was altered)`);
    if (this.entries.getUint8(e + 28) === FORMAT_RAW) {
      return { kind: 'pixels', data, width: this.entries.getUint32(e + 20, true), height: this.entries.getUint32(e + 24, true), channels: 3 };
    }
    return { kind: 'bytes', data, name: this.name(i) };
  }

  /** `FILE:NAME`: the packed file and the name the image had when packed. */
  name(i: number): string {
    return `${this.file}:${this.names[i]}`;
  }

  /** Checks every record's CRC now (ERR_PACK_FORMAT at the first mismatch). */
  verify(): void {
    for (let i = 0; i < this.count; i++) this.source(i);
  }
}
