/**
 * Our own reader and writer of the safetensors format (huggingface/safetensors), the
 * checkpoint format of timm and PyTorch users:
 *
 *   [8 bytes]  N, the header's length, unsigned 64-bit little-endian
 *   [N bytes]  a UTF-8 JSON object: { "<name>": { "dtype": "F32", "shape": [d0, …],
 *              "data_offsets": [begin, end] }, …, "__metadata__": { "<key>": "<string>" } }
 *              (may end with spaces, which writers use to align the data)
 *   [rest]     the data section: every tensor's elements, row-major, little-endian, at
 *              [begin, end) relative to the start of the section
 *
 * Reading validates everything before touching the data, as the reference implementation
 * does: 8 ≤ file size; 2 ≤ N ≤ 100 MB (the reference's limit) and N ≤ size − 8; the
 * header is valid UTF-8 starting with '{' and parses to a JSON object; `__metadata__`, if
 * present, maps strings to strings; every other entry has a dtype of the spec, a shape of
 * integers ≥ 0, offsets 0 ≤ begin ≤ end, end − begin = numel × dtype size; and the
 * entries, sorted by offset, are contiguous and cover the data section exactly (no gap, no
 * overlap, nothing after). Any violation, and any truncated file, throws a
 * BagOfTricksError with code ERR_CHECKPOINT_FORMAT; nothing is allocated from a size
 * the file claims before it is checked against the file's real size.
 *
 * Data types. Written: F32 (default), F16 (on request: IEEE binary16, round to nearest
 * even) and I64 (BigInt64Array tensors). Read: F32, F16, BF16 and F64 become Float32Array
 * (F64 rounded to F32); I64 (PyTorch's BN `num_batches_tracked` in timm checkpoints) becomes
 * a BigInt64Array in `int64`, or is left out with `{ int64: 'skip' }`. The spec's other
 * dtypes (BOOL, U8, I8, I16, U16, I32, U32, U64, F8_*) pass the layout checks but are
 * rejected as unsupported (ERR_CHECKPOINT_FORMAT naming the tensor).
 *
 * Writing is atomic (writeFileAtomic): a temporary file in the target's folder, write,
 * fsync, rename over the target, fsync the folder. A crash at any moment leaves the old
 * file or the new one, complete, at the target path; it may leave a `.<name>.tmp-<pid>-…`
 * file beside it, which nothing reads (`bagoftricks train` removes those of dead processes
 * when it starts: io.ts removeStaleTemp). A file-system failure is ERR_IO naming the file.
 * Reading refuses anything but a regular file (ERR_ARGUMENT) before reading a byte.
 */
import { constants as bufferConstants } from 'buffer';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BagOfTricksError } from '../errors';
import { ioError } from '../io';
import { Tensor } from '../tensor';
import { expectKeys, expectObject, fail } from '../validate';

/** Bytes per element of every dtype of the spec. */
const DTYPE_SIZE: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

/** The dtypes this reader converts (the others are valid but unsupported). */
export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64';

/** Largest header accepted: the reference implementation's MAX_HEADER_SIZE. */
export const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN = os.endianness() === 'LE';
const BUFFER_MAX = bufferConstants.MAX_LENGTH;

function formatError(message: string): never {
  throw new BagOfTricksError('ERR_CHECKPOINT_FORMAT', `Invalid safetensors file: ${message}`);
}

// --- FP16 / BF16 conversion ----------------------------------------------------------

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** The binary16 bits nearest to x (round to nearest even; overflow to ±Inf; NaN stays NaN). */
export function float32ToFloat16Bits(x: number): number {
  F32[0] = x;
  const b = U32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // Inf, or a quiet NaN
  const e = exp - 127 + 15; // rebias
  if (e >= 0x1f) return sign | 0x7c00; // too large: ±Inf
  if (e <= 0) {
    // Subnormal in FP16 (or zero): value / 2^-24, rounded.
    if (e < -10) return sign; // below half the smallest subnormal: ±0
    const full = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let h = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++; // may carry into the smallest normal: correct
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry into the exponent is correct, up to Inf
  return sign | h;
}

let F16_TABLE: Float32Array | null = null;

/** Every binary16 value as float32, by bit pattern (256 KiB, built on first use). */
function f16Table(): Float32Array {
  if (F16_TABLE) return F16_TABLE;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) t[h] = mant ? NaN : sign * Infinity;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  F16_TABLE = t;
  return t;
}

/** binary16 bits → float32 (exact). */
export function float16BitsToFloat32(h: number): number {
  return f16Table()[h & 0xffff];
}

/** Float32Array → binary16 bits. */
export function toFloat16Bits(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = float32ToFloat16Bits(x[i]);
  return out;
}

// --- reading -------------------------------------------------------------------------

/** One tensor of a safetensors header: name, dtype, shape and byte range. */
export interface HeaderEntry {
  /** The tensor's name (a state-dict key). */
  name: string;
  /** Any dtype of the spec (see SafetensorsDType for the ones read). */
  dtype: string;
  /** Its shape, row-major. */
  shape: number[];
  /** Byte range in the data section. */
  begin: number;
  /** End of its byte range in the data section (exclusive). */
  end: number;
}

/** A safetensors file's parsed header: its tensors, metadata and where the data starts. */
export interface SafetensorsHeader {
  /** In the order of the JSON header. */
  entries: HeaderEntry[];
  /** The `__metadata__` strings (empty when absent). */
  metadata: Record<string, string>;
  /** Byte offset of the data section in the file (8 + N). */
  dataStart: number;
}

function defineOwn<T>(o: Record<string, T>, key: string, value: T): void {
  // An own property even for keys such as "__proto__".
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Reads and checks the 8-byte length prefix against the file size; returns N. */
function headerLength(prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || prefix.length < 8) formatError(`${fileSize} bytes, shorter than the 8-byte header length`);
  const n = Buffer.from(prefix.buffer, prefix.byteOffset, 8).readBigUInt64LE(0);
  if (n < 2n) formatError(`header length ${n} < 2`);
  if (n > BigInt(MAX_HEADER_BYTES)) formatError(`header length ${n} > ${MAX_HEADER_BYTES}`);
  if (n > BigInt(fileSize - 8)) formatError(`header length ${n} exceeds the ${fileSize - 8} bytes after the length (truncated file?)`);
  return Number(n);
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses and validates a header (`json`: its N bytes) for a data section of `dataLength`
 * bytes. Throws ERR_CHECKPOINT_FORMAT on any violation.
 */
export function parseSafetensorsHeader(json: Uint8Array, dataLength: number): Omit<SafetensorsHeader, 'dataStart'> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    return formatError('the header is not valid UTF-8');
  }
  if (!text.startsWith('{')) formatError(`the header does not start with '{'`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return formatError(`the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) formatError('the header is not a JSON object');
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, raw] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null) continue;
      if (typeof raw !== 'object' || Array.isArray(raw)) formatError('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') formatError(`__metadata__[${JSON.stringify(k)}] is not a string`);
        defineOwn(metadata, k, v);
      }
      continue;
    }
    const what = `tensor ${JSON.stringify(name.length > 80 ? name.slice(0, 80) + '…' : name)}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) formatError(`${what} is not an object`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(DTYPE_SIZE, dtype)) formatError(`${what} has an unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) formatError(`${what} has a shape that is not an array of integers ≥ 0`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) formatError(`${what} has data_offsets that are not two integers ≥ 0`);
    const [begin, end] = offsets as number[];
    if (begin > end || end > dataLength) formatError(`${what} has data_offsets [${begin}, ${end}] outside the ${dataLength}-byte data section`);
    let numel = 1n;
    for (const d of shape as number[]) numel *= BigInt(d);
    if (numel * BigInt(DTYPE_SIZE[dtype]) !== BigInt(end - begin)) {
      formatError(`${what}: ${end - begin} bytes for shape [${(shape as number[]).join(', ')}] of ${dtype}`);
    }
    entries.push({ name, dtype, shape: (shape as number[]).slice(), begin, end });
  }
  // Contiguous and exact coverage: sorted by offset, each begins where the last ended.
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of sorted) {
    if (e.begin !== cursor) {
      formatError(e.begin > cursor ? `a gap in the data section at bytes [${cursor}, ${e.begin})` : `tensor ${JSON.stringify(e.name)} overlaps another at byte ${e.begin}`);
    }
    cursor = e.end;
  }
  if (cursor !== dataLength) formatError(`the tensors cover ${cursor} of the ${dataLength} bytes of the data section`);
  return { entries, metadata };
}

/** Options of readSafetensors, decodeSafetensors and loadCheckpoint. */
export interface ReadOptions {
  /** I64 tensors: 'keep' (default) returns them in `int64`; 'skip' leaves them out. */
  int64?: 'keep' | 'skip';
}

/** A safetensors file read into memory: float tensors as Float32Array, I64 tensors apart. */
export interface SafetensorsContents {
  /** Floating-point tensors (F32, F16, BF16, F64 on disk) as Float32Array, by name, in header order. */
  tensors: Record<string, Tensor>;
  /** I64 tensors (unless skipped). */
  int64: Record<string, { data: BigInt64Array; shape: number[] }>;
  /** The dtype on disk of every tensor returned. */
  dtypes: Record<string, SafetensorsDType>;
  /** The header's __metadata__ (string to string). */
  metadata: Record<string, string>;
}

function readOptions(options: unknown): Required<ReadOptions> {
  const o = expectObject('options', options);
  expectKeys('options', o, ['int64']);
  const int64 = o.int64 === undefined ? 'keep' : o.int64;
  if (int64 !== 'keep' && int64 !== 'skip') fail('ERR_ARGUMENT', `'keep' or 'skip'`, 'options.int64', int64);
  return { int64 };
}

/** Converts the validated entries' bytes (the data section) to typed arrays. */
function convert(header: Omit<SafetensorsHeader, 'dataStart'>, data: Uint8Array, options: Required<ReadOptions>): SafetensorsContents {
  const out: SafetensorsContents = { tensors: {}, int64: {}, dtypes: {}, metadata: header.metadata };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (const e of header.entries) {
    const bytes = data.subarray(e.begin, e.end);
    const n = (e.end - e.begin) / DTYPE_SIZE[e.dtype];
    const shape = e.shape.slice();
    switch (e.dtype) {
      case 'F32': {
        const f = new Float32Array(n);
        if (LITTLE_ENDIAN) new Uint8Array(f.buffer).set(bytes);
        else for (let i = 0; i < n; i++) f[i] = view.getFloat32(e.begin + 4 * i, true);
        defineOwn(out.tensors, e.name, { data: f, shape });
        break;
      }
      case 'F16': {
        const t = f16Table();
        const f = new Float32Array(n);
        for (let i = 0; i < n; i++) f[i] = t[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
        defineOwn(out.tensors, e.name, { data: f, shape });
        break;
      }
      case 'BF16': {
        const f = new Float32Array(n);
        const u = new Uint32Array(f.buffer);
        for (let i = 0; i < n; i++) u[i] = ((bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16) >>> 0; // bf16 is the top half of an f32
        defineOwn(out.tensors, e.name, { data: f, shape });
        break;
      }
      case 'F64': {
        const f = new Float32Array(n);
        for (let i = 0; i < n; i++) f[i] = view.getFloat64(e.begin + 8 * i, true);
        defineOwn(out.tensors, e.name, { data: f, shape });
        break;
      }
      case 'I64': {
        if (options.int64 === 'skip') continue;
        const b = new BigInt64Array(n);
        if (LITTLE_ENDIAN) new Uint8Array(b.buffer).set(bytes);
        else for (let i = 0; i < n; i++) b[i] = view.getBigInt64(e.begin + 8 * i, true);
        defineOwn(out.int64, e.name, { data: b, shape });
        break;
      }
      default:
        formatError(`tensor ${JSON.stringify(e.name)} has dtype ${e.dtype}, which bagoftricks does not read (F32, F16, BF16, F64, I64)`);
    }
    defineOwn(out.dtypes, e.name, e.dtype as SafetensorsDType);
  }
  return out;
}

/** Decodes a whole safetensors file held in memory (validated first; see the file comment). */
export function decodeSafetensors(bytes: Uint8Array, options: ReadOptions = {}): SafetensorsContents {
  if (!(bytes instanceof Uint8Array)) fail('ERR_ARGUMENT', 'Uint8Array or Buffer', 'bytes', bytes);
  const opts = readOptions(options);
  const n = headerLength(bytes, bytes.length);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n);
  return convert(header, bytes.subarray(8 + n), opts);
}

/** Reads exactly `length` bytes at `position`, or fails as a truncated file. */
async function readExactly(fh: fs.promises.FileHandle, length: number, position: number): Promise<Buffer> {
  if (length > BUFFER_MAX) throw new BagOfTricksError('ERR_OUT_OF_MEMORY', `a ${length}-byte data section is larger than Node's largest Buffer (${BUFFER_MAX} bytes)`);
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) formatError(`the file ended at byte ${position + done}, ${length - done} bytes early (truncated or changed while reading)`);
    done += bytesRead;
  }
  return buf;
}

/** What a stat says a path is, for messages. */
function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Opens a file for reading, refusing anything that is not a regular file before reading a
 * byte (a FIFO is opened without blocking, so it cannot hang the reader). System errors are
 * ERR_IO naming the file.
 */
async function openRegular(file: string): Promise<{ fh: fs.promises.FileHandle; size: number }> {
  if (typeof file !== 'string' || file.length === 0) fail('ERR_ARGUMENT', 'file path', 'file', file);
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw ioError('read', file, e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) fail('ERR_ARGUMENT', 'a regular file (a safetensors file)', 'path', `${kindOf(st)} at ${file}`);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw ioError('read', file, e);
  }
}

/** Runs a read of `file`, naming the file in format errors and turning system errors into ERR_IO. */
async function reading<T>(file: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof BagOfTricksError && e.code === 'ERR_CHECKPOINT_FORMAT' && !e.message.startsWith(`${file}: `)) {
      throw new BagOfTricksError('ERR_CHECKPOINT_FORMAT', `${file}: ${e.message}`);
    }
    throw ioError('read', file, e);
  }
}

/** Reads and validates only the header of a file (no tensor data is read). */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  const { fh, size } = await openRegular(file);
  try {
    return await reading(file, async () => {
      const n = headerLength(size >= 8 ? await readExactly(fh, 8, 0) : new Uint8Array(0), size);
      const header = parseSafetensorsHeader(await readExactly(fh, n, 8), size - 8 - n);
      return { ...header, dataStart: 8 + n };
    });
  } finally {
    await fh.close();
  }
}

/** Reads a safetensors file: the header is read and validated before the data is. */
export async function readSafetensors(file: string, options: ReadOptions = {}): Promise<SafetensorsContents> {
  const opts = readOptions(options);
  const { fh, size } = await openRegular(file);
  try {
    return await reading(file, async () => {
      const n = headerLength(size >= 8 ? await readExactly(fh, 8, 0) : new Uint8Array(0), size);
      const header = parseSafetensorsHeader(await readExactly(fh, n, 8), size - 8 - n);
      const data = await readExactly(fh, size - 8 - n, 8 + n);
      return convert(header, data, opts);
    });
  } finally {
    await fh.close();
  }
}

// --- writing -------------------------------------------------------------------------

/** A tensor to write: float data as F32 (default) or F16, BigInt64Array as I64. */
export interface WriteTensor {
  /** The values, row-major: Float32Array for a float tensor, BigInt64Array for I64. */
  data: Float32Array | BigInt64Array;
  /** The shape; its product must equal data.length (else ERR_SHAPE). */
  shape: number[];
  /** For Float32Array data: 'F32' (default unless options.dtype says otherwise) or 'F16'. */
  dtype?: 'F32' | 'F16';
}

/** Options of writeSafetensors and encodeSafetensors. */
export interface WriteOptions {
  /** dtype of float tensors that do not name one. Default 'F32'. */
  dtype?: 'F32' | 'F16';
}

interface Planned {
  header: Buffer;
  /** The data section, tensor by tensor, as little-endian bytes. */
  chunks: () => Iterable<Uint8Array>;
  size: number;
}

function leBytes(a: Float32Array | BigInt64Array | Uint16Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.byteLength);
  const v = new DataView(out.buffer);
  if (a instanceof Float32Array) a.forEach((x, i) => v.setFloat32(4 * i, x, true));
  else if (a instanceof BigInt64Array) a.forEach((x, i) => v.setBigInt64(8 * i, x, true));
  else a.forEach((x, i) => v.setUint16(2 * i, x, true));
  return out;
}

/** Validates the tensors and metadata and lays out the file. */
function plan(tensors: Record<string, WriteTensor>, metadata: Record<string, string>, options: WriteOptions): Planned {
  const t = expectObject('tensors', tensors);
  const m = expectObject('metadata', metadata);
  const o = expectObject('options', options);
  expectKeys('options', o, ['dtype']);
  const defaultDtype = o.dtype === undefined ? 'F32' : o.dtype;
  if (defaultDtype !== 'F32' && defaultDtype !== 'F16') fail('ERR_ARGUMENT', `'F32' or 'F16'`, 'options.dtype', defaultDtype);
  const json: Record<string, unknown> = {};
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') fail('ERR_ARGUMENT', 'string', `metadata[${JSON.stringify(k)}]`, v);
    defineOwn(meta, k, v);
  }
  if (Object.keys(meta).length > 0) json.__metadata__ = meta;
  const items: { data: Float32Array | BigInt64Array; f16: boolean }[] = [];
  let offset = 0;
  for (const [name, raw] of Object.entries(t)) {
    const label = `tensors[${JSON.stringify(name)}]`;
    if (name === '__metadata__') fail('ERR_ARGUMENT', 'a tensor name other than __metadata__', 'a key of tensors', name);
    const e = expectObject(label, raw);
    expectKeys(label, e, ['data', 'shape', 'dtype']);
    const data = e.data;
    if (!(data instanceof Float32Array) && !(data instanceof BigInt64Array)) fail('ERR_DTYPE', 'Float32Array or BigInt64Array', `${label}.data`, data);
    if (!Array.isArray(e.shape) || !e.shape.every(isNonNegInt)) fail('ERR_SHAPE', 'shape array of integers ≥ 0', `${label}.shape`, e.shape);
    const numel = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (numel !== data.length) fail('ERR_SHAPE', `data of length ${numel} for shape [${(e.shape as number[]).join(', ')}]`, `${label}.data`, data);
    let dtype: string;
    if (data instanceof BigInt64Array) {
      if (e.dtype !== undefined) fail('ERR_ARGUMENT', 'no dtype for BigInt64Array data (written as I64)', `${label}.dtype`, e.dtype);
      dtype = 'I64';
    } else {
      dtype = e.dtype === undefined ? defaultDtype : (e.dtype as string);
      if (dtype !== 'F32' && dtype !== 'F16') fail('ERR_ARGUMENT', `'F32' or 'F16'`, `${label}.dtype`, e.dtype);
    }
    const bytes = numel * DTYPE_SIZE[dtype];
    defineOwn(json, name, { dtype, shape: (e.shape as number[]).slice(), data_offsets: [offset, offset + bytes] });
    items.push({ data, f16: dtype === 'F16' });
    offset += bytes;
  }
  let text = JSON.stringify(json);
  text += ' '.repeat((8 - ((Buffer.byteLength(text) + 8) % 8)) % 8); // align the data section to 8 bytes
  const body = Buffer.from(text, 'utf8');
  if (body.length > MAX_HEADER_BYTES) fail('ERR_ARGUMENT', `a header of at most ${MAX_HEADER_BYTES} bytes`, 'tensors and metadata', `${body.length} bytes`);
  const header = Buffer.allocUnsafe(8 + body.length);
  header.writeBigUInt64LE(BigInt(body.length), 0);
  body.copy(header, 8);
  return {
    header,
    size: header.length + offset,
    *chunks() {
      for (const it of items) yield leBytes(it.f16 ? toFloat16Bits(it.data as Float32Array) : it.data);
    },
  };
}

/** The bytes of a safetensors file (tensors in the given order, metadata first in the header). */
export function encodeSafetensors(tensors: Record<string, WriteTensor>, metadata: Record<string, string> = {}, options: WriteOptions = {}): Buffer {
  const p = plan(tensors, metadata, options);
  const out = Buffer.allocUnsafe(p.size);
  p.header.copy(out, 0);
  let at = p.header.length;
  for (const c of p.chunks()) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

let tmpCounter = 0;

/**
 * Writes a file atomically: `chunks` go to a new temporary file in the same folder, which
 * is fsynced, renamed over `file` and the folder fsynced, so `file` is at every moment
 * either its old content or the complete new one. The temporary file is removed on error.
 */
export async function writeFileAtomic(file: string, chunks: Iterable<Uint8Array>): Promise<void> {
  if (typeof file !== 'string' || file.length === 0) fail('ERR_ARGUMENT', 'file path', 'file', file);
  const target = path.resolve(file);
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${++tmpCounter}-${Math.floor(Math.random() * 1e9).toString(36)}`);
  let renamed = false;
  try {
    const fh = await fs.promises.open(tmp, 'wx', 0o644);
    try {
      for (const c of chunks) {
        let done = 0;
        while (done < c.length) done += (await fh.write(c, done, c.length - done)).bytesWritten;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, target);
    renamed = true;
    await syncDirectory(dir);
  } catch (e) {
    // One coded line naming the file (ERR_IO); the file at `target` is untouched.
    throw ioError('write', target, e);
  } finally {
    if (!renamed) await fs.promises.unlink(tmp).catch(() => undefined);
  }
}

/** fsync a folder so a rename in it is durable (Linux, macOS). Windows cannot open a folder to fsync it: skipped there. */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const dh = await fs.promises.open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Writes tensors and metadata as a safetensors file, atomically (see writeFileAtomic). */
export async function writeSafetensors(file: string, tensors: Record<string, WriteTensor>, metadata: Record<string, string> = {}, options: WriteOptions = {}): Promise<void> {
  const p = plan(tensors, metadata, options);
  await writeFileAtomic(file, (function* () {
    yield p.header;
    yield* p.chunks();
  })());
}
