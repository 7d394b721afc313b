/**
 * The safetensors reader and writer: round trips (F32, F16, I64, empty and scalar
 * tensors, odd names), a file written byte by byte as a foreign writer would, the FP16
 * conversion against the core's, every validation rule with its own malformed file,
 * truncation at every byte offset, and seeded fuzzing (byte flips and header mutations):
 * each input either loads or throws ERR_CHECKPOINT_FORMAT, nothing else.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expectCode, expectCodeAsync, Rng } from './helpers/compare';
import { bot } from './helpers/lib';

const st = bot.train;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-safetensors-'));

/** A file from a header (object or exact text) and a data section, with an optional length override. */
function build(header: object | string, data: Uint8Array | number[] = [], length?: bigint): Buffer {
  const text = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(length ?? BigInt(text.length));
  return Buffer.concat([prefix, text, Buffer.from(data instanceof Uint8Array ? data : Uint8Array.from(data))]);
}

/** decodeSafetensors must either succeed or throw ERR_CHECKPOINT_FORMAT. */
function decodeOrFormatError(bytes: Uint8Array, what: string): 'ok' | 'format' {
  try {
    const r = st.decodeSafetensors(bytes);
    for (const t of Object.values(r.tensors)) assert.is(t.data.length, t.shape.reduce((a, b) => a * b, 1), `${what}: length matches shape`);
    return 'ok';
  } catch (e) {
    const err = e as { code?: string; message?: string; name?: string };
    assert.is(err.code, 'ERR_CHECKPOINT_FORMAT', `${what}: threw ${err.name} ${err.code}: ${err.message}`);
    return 'format';
  }
}

/** A small file with every dtype we write and some we read. */
function smallFile(): Buffer {
  return st.encodeSafetensors(
    {
      'w.weight': { data: Float32Array.from([1, -2, 3.5, 0, 1e-8, -7]), shape: [2, 3] },
      h: { data: Float32Array.from([0.5, -1, 2]), shape: [3], dtype: 'F16' },
      n: { data: BigInt64Array.from([42n]), shape: [] },
      e: { data: new Float32Array(0), shape: [0, 2] },
    },
    { format: 'pt', k: 'v' },
  );
}

test('round trip: F32 exact, F16 rounded, I64, scalars, empty tensors, odd names and metadata', () => {
  const rng = new Rng(1);
  const big = rng.array(1000, 3);
  const names = ['layer1.0.conv1.weight', 'ünïcødé ✓', '__proto__', 'constructor', 'a"b\\c', ''];
  const tensors: Record<string, { data: Float32Array | BigInt64Array; shape: number[]; dtype?: 'F32' | 'F16' }> = {};
  names.forEach((n, i) => Object.defineProperty(tensors, n, { value: { data: rng.array(6), shape: [3, 2] }, enumerable: true }));
  tensors.big = { data: big, shape: [10, 10, 10] };
  tensors.half = { data: big, shape: [1000], dtype: 'F16' };
  tensors.scalar = { data: Float32Array.from([Math.PI]), shape: [] };
  tensors.empty = { data: new Float32Array(0), shape: [4, 0, 3] };
  tensors.count = { data: BigInt64Array.from([0n, -1n, 2n ** 62n]), shape: [3] };
  const bytes = st.encodeSafetensors(tensors, { format: 'pt', note: 'ü "quoted"' });
  // The data section starts 8-aligned (writers pad the header with spaces).
  assert.is(Number(bytes.readBigUInt64LE(0)) % 8, 0);
  const r = st.decodeSafetensors(bytes);
  assert.equal(Object.keys(r.tensors), [...names, 'big', 'half', 'scalar', 'empty']);
  for (const n of names) assert.equal(r.tensors[n], tensors[n]);
  assert.equal(r.tensors.big, tensors.big);
  assert.equal(r.tensors.scalar.shape, []);
  assert.is(r.tensors.scalar.data[0], Math.fround(Math.PI));
  assert.equal(r.tensors.empty, tensors.empty);
  assert.equal(Array.from(r.tensors.half.data), Array.from(big, (v) => st.float16BitsToFloat32(st.float32ToFloat16Bits(v))));
  assert.equal(r.int64, { count: { data: BigInt64Array.from([0n, -1n, 2n ** 62n]), shape: [3] } });
  assert.is(r.dtypes.half, 'F16');
  assert.is(r.dtypes.big, 'F32');
  assert.is(r.dtypes.count, 'I64');
  assert.equal(r.metadata, { format: 'pt', note: 'ü "quoted"' });
  assert.is(Object.getPrototypeOf(r.tensors), Object.prototype, '"__proto__" is an own key, not the prototype');
  // int64: 'skip'
  const s = st.decodeSafetensors(bytes, { int64: 'skip' });
  assert.equal(s.int64, {});
  assert.not.ok('count' in s.dtypes);
  // The whole-file option writes every float tensor as F16.
  const h = st.decodeSafetensors(st.encodeSafetensors({ a: { data: Float32Array.from([0.1]), shape: [1] } }, {}, { dtype: 'F16' }));
  assert.is(h.dtypes.a, 'F16');
  assert.is(h.tensors.a.data[0], st.float16BitsToFloat32(0x2e66)); // 0.1 → 0.0999755859375
});

test('the writer lays out exactly what the spec says', () => {
  const bytes = st.encodeSafetensors({ a: { data: Float32Array.from([1, 2]), shape: [2] } });
  const json = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const padded = json + ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
  assert.is(bytes.readBigUInt64LE(0), BigInt(padded.length));
  assert.is(bytes.subarray(8, 8 + padded.length).toString('utf8'), padded);
  assert.equal(Array.from(bytes.subarray(8 + padded.length)), [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
  // No tensors, no metadata: "{}" padded.
  const empty = st.encodeSafetensors({});
  assert.is(empty.length, 16);
  assert.equal(st.decodeSafetensors(empty), { tensors: {}, int64: {}, dtypes: {}, metadata: {} });
});

test('a file written byte by byte by a foreign writer loads: any entry order, unaligned offsets, BF16/F16/F64/I64', async () => {
  const header = `{
  "z.bf16": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]},
  "__metadata__": {"format": "pt", "note": "hand-written"},
  "a.f16": {"shape": [2, 3], "dtype": "F16", "data_offsets": [6, 18]},
  "m.f32": {"dtype": "F32", "shape": [], "data_offsets": [18, 22]},
  "c.i64": {"dtype": "I64", "shape": [2], "data_offsets": [22, 38]},
  "d.f64": {"dtype": "F64", "shape": [1, 1], "data_offsets": [38, 46]},
  "empty": {"dtype": "F32", "shape": [0, 4], "data_offsets": [46, 46]}
}   `;
  const data = [
    0x80, 0x3f, 0x40, 0xc0, 0x20, 0x3e, // BF16 1, −3, 0.15625
    0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b, 0x01, 0x00, 0x00, 0x7c, // F16 1, −2, 0.5, 65504, 2^-24, +Inf
    0x00, 0x00, 0xc0, 0x3f, // F32 1.5
    42, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // I64 42, −1
    0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f, // F64 0.1
  ];
  const bytes = build(header, data);
  const file = path.join(dir, 'foreign.safetensors');
  fs.writeFileSync(file, bytes);
  for (const r of [st.decodeSafetensors(bytes), await st.readSafetensors(file)]) {
    assert.equal(r.tensors['z.bf16'], { data: Float32Array.from([1, -3, 0.15625]), shape: [3] });
    assert.equal(r.tensors['a.f16'], { data: Float32Array.from([1, -2, 0.5, 65504, 2 ** -24, Infinity]), shape: [2, 3] });
    assert.equal(r.tensors['m.f32'], { data: Float32Array.from([1.5]), shape: [] });
    assert.equal(r.tensors['d.f64'], { data: Float32Array.from([0.1]), shape: [1, 1] });
    assert.equal(r.tensors.empty, { data: new Float32Array(0), shape: [0, 4] });
    assert.equal(r.int64['c.i64'], { data: BigInt64Array.from([42n, -1n]), shape: [2] });
    assert.equal(r.metadata, { format: 'pt', note: 'hand-written' });
    assert.equal(r.dtypes, { 'z.bf16': 'BF16', 'a.f16': 'F16', 'm.f32': 'F32', 'c.i64': 'I64', 'd.f64': 'F64', empty: 'F32' });
  }
  const h = await st.readSafetensorsHeader(file);
  assert.is(h.dataStart, 8 + Buffer.byteLength(header));
  assert.equal(h.entries.map((e) => e.name), ['z.bf16', 'a.f16', 'm.f32', 'c.i64', 'd.f64', 'empty']);
});

test('FP16 conversion matches the core (every half value, ties, random floats)', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const native = bot.ops.fromFloat16(all);
  for (let h = 0; h < 65536; h++) {
    const f = st.float16BitsToFloat32(h);
    if (Number.isNaN(native[h])) {
      assert.ok(Number.isNaN(f), `half ${h} is NaN`);
      continue;
    }
    assert.is(f, native[h], `half 0x${h.toString(16)}`);
    assert.is(st.float32ToFloat16Bits(f), h, `half 0x${h.toString(16)} round trip`);
  }
  // Midpoints between neighbouring halves (exact in f32) round to the even one; random bit patterns agree with the core.
  const rng = new Rng(2);
  const xs = new Float32Array(40000);
  const bits = new Uint32Array(xs.buffer);
  for (let i = 0; i < 20000; i++) bits[i] = Math.floor(rng.uniform() * 2 ** 32);
  for (let i = 20000; i < 40000; i++) {
    const h = rng.int(0, 0x7bfe) | (rng.uniform() < 0.5 ? 0x8000 : 0);
    xs[i] = (st.float16BitsToFloat32(h) + st.float16BitsToFloat32(h + 1)) / 2;
  }
  const ref = bot.ops.toFloat16(xs);
  const ours = st.toFloat16Bits(xs);
  for (let i = 0; i < xs.length; i++) {
    if (Number.isNaN(xs[i])) assert.ok((ours[i] & 0x7c00) === 0x7c00 && (ours[i] & 0x3ff) !== 0, 'NaN stays NaN');
    else assert.is(ours[i], ref[i], `f32 ${xs[i]} (bits 0x${bits[i].toString(16)})`);
  }
});

test('each validation rule rejects its malformed file with ERR_CHECKPOINT_FORMAT', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const d8 = new Uint8Array(8);
  const cases: [string, Buffer, RegExp][] = [
    ['empty file', Buffer.alloc(0), /shorter than the 8-byte/],
    ['7 bytes', Buffer.alloc(7), /shorter than the 8-byte/],
    ['header length 0', build('', [], 0n), /header length 0 < 2/],
    ['header length 1', build('{', [], 1n), /header length 1 < 2/],
    ['header length 2^64 − 1', build(ok, d8, 2n ** 64n - 1n), /> 100000000/],
    ['header length 2^63', build(ok, d8, 2n ** 63n), /> 100000000/],
    ['header length over 100 MB', build(ok, d8, 100_000_001n), /> 100000000/],
    ['header length past the end', build(ok, d8, 200n), /exceeds the/],
    ['bytes that are not JSON', build(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1'), []), /not valid JSON/],
    ['invalid UTF-8 bytes', Buffer.concat([build('', [], 4n), Buffer.from([0x7b, 0xc3, 0x28, 0x7d])]), /not valid UTF-8/],
    ['leading space', build(' {}', []), /does not start with '\{'/],
    ['a JSON array', build('[1, 2]', []), /does not start with/],
    ['invalid JSON', build('{"a": ', []), /not valid JSON/],
    ['JSON null', build('null', []), /does not start with/],
    ['an entry that is a number', build({ a: 3 }, []), /is not an object/],
    ['unknown dtype', build({ a: { dtype: 'F33', shape: [2], data_offsets: [0, 8] } }, d8), /unknown dtype/],
    ['no dtype', build({ a: { shape: [2], data_offsets: [0, 8] } }, d8), /unknown dtype/],
    ['lowercase dtype', build({ a: { dtype: 'f32', shape: [2], data_offsets: [0, 8] } }, d8), /unknown dtype/],
    ['negative dimension', build({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, d8), /shape that is not/],
    ['fractional dimension', build({ a: { dtype: 'F32', shape: [2.5], data_offsets: [0, 8] } }, d8), /shape that is not/],
    ['string dimension', build({ a: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }, d8), /shape that is not/],
    ['shape not an array', build({ a: { dtype: 'F32', shape: 2, data_offsets: [0, 8] } }, d8), /shape that is not/],
    ['no shape', build({ a: { dtype: 'F32', data_offsets: [0, 8] } }, d8), /shape that is not/],
    ['three offsets', build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8, 8] } }, d8), /data_offsets that are not two/],
    ['negative offset', build({ a: { dtype: 'F32', shape: [2], data_offsets: [-8, 0] } }, d8), /data_offsets that are not two/],
    ['end before begin', build({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, d8), /outside the/],
    ['end past the data', build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 16] } }, d8), /outside the/],
    ['offsets past 2^53', build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 2 ** 60] } }, d8), /data_offsets that are not two/],
    ['size not numel × dtype size', build({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, d8), /8 bytes for shape \[3\]/],
    ['huge shape (no allocation)', build({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, d8), /8 bytes for shape/],
    ['F16 bytes counted as F32', build({ a: { dtype: 'F16', shape: [2], data_offsets: [0, 8] } }, d8), /8 bytes for shape \[2\] of F16/],
    ['overlap', build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, d8), /overlaps/],
    ['same range twice', build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(16)), /overlaps/],
    ['gap at the start', build({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, d8), /gap in the data section at bytes \[0, 4\)/],
    ['gap in the middle', build({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, new Uint8Array(12)), /gap in the data section at bytes \[4, 8\)/],
    ['trailing bytes after the data', build(ok, new Uint8Array(9)), /cover 8 of the 9 bytes/],
    ['data without tensors', build({}, new Uint8Array(4)), /cover 0 of the 4 bytes/],
    ['metadata value not a string', build({ __metadata__: { a: 1 } }, []), /is not a string/],
    ['metadata an array', build({ __metadata__: ['a'] }, []), /__metadata__ is not an object/],
    ['metadata a string', build({ __metadata__: 'a' }, []), /__metadata__ is not an object/],
  ];
  for (const [what, bytes, message] of cases) {
    expectCode(() => st.decodeSafetensors(bytes), 'ERR_CHECKPOINT_FORMAT', what);
    try {
      st.decodeSafetensors(bytes);
    } catch (e) {
      assert.match((e as Error).message, message, `${what}: the rule that fired`);
    }
  }
  // Valid but unsupported dtypes are named.
  expectCode(() => st.decodeSafetensors(build({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }, [1, 2])), 'ERR_CHECKPOINT_FORMAT', 'U8');
  try {
    st.decodeSafetensors(build({ mask: { dtype: 'BOOL', shape: [1], data_offsets: [0, 1] } }, [1]));
  } catch (e) {
    assert.match((e as Error).message, /mask.*BOOL/);
  }
  // Accepted edge cases: metadata null, zero-sized tensors at one offset, extra entry keys.
  assert.equal(st.decodeSafetensors(build({ __metadata__: null }, [])).metadata, {});
  const z = st.decodeSafetensors(build({ a: { dtype: 'F32', shape: [0], data_offsets: [0, 0] }, b: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, c: { dtype: 'F16', shape: [0, 5], data_offsets: [4, 4] } }, [0, 0, 0x80, 0x3f]));
  assert.equal(Object.keys(z.tensors), ['a', 'b', 'c']);
  assert.is(z.tensors.b.data[0], 1);
  assert.is(st.decodeSafetensors(build({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4], extra: true } }, [0, 0, 0, 0])).tensors.a.data[0], 0);
});

test('truncated at every byte offset: ERR_CHECKPOINT_FORMAT, in memory and from a file', async () => {
  const bytes = smallFile();
  assert.ok(bytes.length > 200 && bytes.length < 400);
  assert.is(decodeOrFormatError(bytes, 'whole file'), 'ok');
  const file = path.join(dir, 'truncated.safetensors');
  for (let len = 0; len < bytes.length; len++) {
    expectCode(() => st.decodeSafetensors(bytes.subarray(0, len)), 'ERR_CHECKPOINT_FORMAT', `truncated to ${len} bytes`);
    fs.writeFileSync(file, bytes.subarray(0, len));
    await expectCodeAsync(() => st.readSafetensors(file), 'ERR_CHECKPOINT_FORMAT', `file truncated to ${len} bytes`);
  }
  await expectCodeAsync(() => st.readSafetensorsHeader(file), 'ERR_CHECKPOINT_FORMAT', 'header of a truncated file');
});

test('fuzz: 600 seeded byte flips either load or throw ERR_CHECKPOINT_FORMAT', async () => {
  const bytes = smallFile();
  const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
  const rng = new Rng(1234);
  const outcome = { ok: 0, format: 0 };
  const file = path.join(dir, 'flipped.safetensors');
  for (let trial = 0; trial < 600; trial++) {
    const b = Buffer.from(bytes);
    const flips = rng.int(1, 4);
    for (let f = 0; f < flips; f++) {
      // Mostly in the length and header, where a flip changes the structure.
      const at = rng.uniform() < 0.8 ? rng.int(0, headerEnd - 1) : rng.int(0, b.length - 1);
      b[at] ^= rng.int(1, 255);
    }
    outcome[decodeOrFormatError(b, `trial ${trial}`)]++;
    if (trial % 10 === 0) {
      fs.writeFileSync(file, b);
      try {
        await st.readSafetensors(file);
      } catch (e) {
        assert.is((e as { code?: string }).code, 'ERR_CHECKPOINT_FORMAT', `file trial ${trial}: ${(e as Error).message}`);
      }
    }
  }
  assert.ok(outcome.ok > 0 && outcome.format > 300, JSON.stringify(outcome));
});

test('fuzz: 600 seeded header mutations (dtypes, shapes, offsets, types) either load or throw ERR_CHECKPOINT_FORMAT', () => {
  const rng = new Rng(99);
  const pick = <T>(xs: T[]) => rng.pick(xs);
  const values = (): unknown => pick<unknown>([
    0, 1, -1, 2, 4, 8, 12, 1.5, 2 ** 31, 2 ** 53, 2 ** 64, -0, 'F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F64', 'X', '', null, true,
    [], [0], [1], [2], [3, 1], [0, 4], [4, 8], [0, 12], [-1, 4], [1e300], ['1'], {}, { a: 1 },
  ]);
  const outcome = { ok: 0, format: 0 };
  for (let trial = 0; trial < 600; trial++) {
    const header: Record<string, Record<string, unknown>> = {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F16', shape: [2], data_offsets: [8, 12] },
      c: { dtype: 'I64', shape: [], data_offsets: [12, 20] },
    };
    const mutations = rng.int(1, 3);
    for (let m = 0; m < mutations; m++) {
      const name = pick(['a', 'b', 'c', 'd', '__metadata__']);
      const key = pick(['dtype', 'shape', 'data_offsets', 'x']);
      if (rng.uniform() < 0.1) header[name] = values() as never;
      else header[name] = { ...(typeof header[name] === 'object' && header[name] !== null ? header[name] : {}), [key]: values() };
    }
    const dataLen = pick([0, 8, 12, 20, 24]);
    outcome[decodeOrFormatError(build(header, new Uint8Array(dataLen).map(() => rng.int(0, 255))), `mutation ${trial}: ${JSON.stringify(header)}`)]++;
  }
  assert.ok(outcome.ok > 0 && outcome.format > 300, JSON.stringify(outcome));
});

test('writer argument errors', () => {
  const f = Float32Array.from([1, 2]);
  expectCode(() => st.encodeSafetensors({ a: { data: f, shape: [3] } }), 'ERR_SHAPE', 'length ≠ numel');
  expectCode(() => st.encodeSafetensors({ a: { data: f, shape: [-2] } }), 'ERR_SHAPE', 'negative dim');
  expectCode(() => st.encodeSafetensors({ a: { data: Int32Array.from([1]) as never, shape: [1] } }), 'ERR_DTYPE', 'Int32Array');
  expectCode(() => st.encodeSafetensors({ a: { data: f, shape: [2], dtype: 'BF16' as never } }), 'ERR_ARGUMENT', 'BF16 writing');
  expectCode(() => st.encodeSafetensors({ __metadata__: { data: f, shape: [2] } }), 'ERR_ARGUMENT', '__metadata__ as a name');
  expectCode(() => st.encodeSafetensors({ a: { data: f, shape: [2] } }, { n: 1 as never }), 'ERR_ARGUMENT', 'non-string metadata');
  expectCode(() => st.encodeSafetensors({}, {}, { dtype: 'F64' as never }), 'ERR_ARGUMENT', 'F64 writing');
  expectCode(() => st.decodeSafetensors([1, 2] as never), 'ERR_ARGUMENT', 'not bytes');
  expectCode(() => st.decodeSafetensors(smallFile(), { int64: 'drop' as never }), 'ERR_ARGUMENT', 'bad int64 option');
});

test('cleanup', () => {
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
