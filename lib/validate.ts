/**
 * Validation of user input, done once at the door with one message format:
 * "Expected <what> for <name> but received <value>". Every failure is a
 * BagOfTricksError with a stable code.
 */
import { BagOfTricksError, ErrorCode } from './errors';

/** Largest element count of one array accepted by the core (2^31 - 1). */
export const MAX_ELEMENTS = 2 ** 31 - 1;

export function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'function') return 'a function';
  if (ArrayBuffer.isView(v)) {
    const len = (v as unknown as { length?: number }).length;
    return `${v.constructor.name}(${len ?? (v as DataView).byteLength})`;
  }
  if (Array.isArray(v)) return v.length <= 8 ? `[${v.map(describe).join(', ')}]` : `an array of length ${v.length}`;
  return 'an object';
}

export function fail(code: ErrorCode, expected: string, name: string, received: unknown): never {
  throw new BagOfTricksError(code, `Expected ${expected} for ${name} but received ${describe(received)}`);
}

export function expectInt(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`;
    fail('ERR_ARGUMENT', `integer ${range}`, name, v);
  }
  return v;
}

export function expectNumber(name: string, v: unknown, min = -Infinity, max = Infinity, what?: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    let range = '';
    if (min > -Infinity && max < Infinity) range = ` in [${min}, ${max}]`;
    else if (min > -Infinity) range = ` ≥ ${min}`;
    else if (max < Infinity) range = ` ≤ ${max}`;
    fail('ERR_ARGUMENT', what ?? `finite number${range}`, name, v);
  }
  return v;
}

export function expectBool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail('ERR_ARGUMENT', 'boolean', name, v);
  return v;
}

export function expectObject(name: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) fail('ERR_ARGUMENT', 'options object', name, v);
  return v as Record<string, unknown>;
}

/** A shape: an array of `rank` integers ≥ 1 whose product is at most MAX_ELEMENTS. */
export function expectShape(name: string, v: unknown, rank?: number): number[] {
  const what = rank === undefined ? 'shape array of integers ≥ 1' : `shape array of ${rank} integers ≥ 1`;
  if (!Array.isArray(v) || (rank !== undefined && v.length !== rank) || v.length === 0) fail('ERR_SHAPE', what, name, v);
  let n = 1;
  for (const d of v) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1) fail('ERR_SHAPE', what, name, v);
    n *= d;
  }
  if (n > MAX_ELEMENTS) fail('ERR_SHAPE', `shape with at most 2^31-1 elements`, name, v);
  return v.slice();
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

type ArrayKind = 'Float32Array' | 'Int32Array' | 'Uint16Array' | 'Uint8Array';
const CTORS: Record<ArrayKind, Function> = {
  Float32Array, Int32Array, Uint16Array, Uint8Array,
};

/** A typed array of the given kind with exactly `length` elements (when given). */
export function expectArray<T>(name: string, v: unknown, kind: ArrayKind, length?: number): T {
  if (!ArrayBuffer.isView(v)) fail('ERR_ARGUMENT', kind, name, v);
  if (!(v instanceof CTORS[kind])) fail('ERR_DTYPE', kind, name, v);
  const len = (v as unknown as { length: number }).length;
  if (length !== undefined && len !== length) fail('ERR_SHAPE', `${kind} of length ${length}`, name, v);
  return v as T;
}

/** A tensor-like { data: Float32Array, shape } whose length matches its shape. */
export function expectTensor(name: string, v: unknown, rank?: number): { data: Float32Array; shape: number[] } {
  if (typeof v !== 'object' || v === null || !('data' in v) || !('shape' in v)) {
    fail('ERR_ARGUMENT', `tensor { data: Float32Array, shape${rank ? ` (rank ${rank})` : ''} }`, name, v);
  }
  const t = v as { data: unknown; shape: unknown };
  const shape = expectShape(`${name}.shape`, t.shape, rank);
  const data = expectArray<Float32Array>(`${name}.data`, t.data, 'Float32Array', numel(shape));
  return { data, shape };
}

/** An integer or a pair [h, w] of integers (kernel sizes, strides, paddings). */
export function expectPair(name: string, v: unknown, min: number): [number, number] {
  if (typeof v === 'number') {
    expectInt(name, v, min);
    return [v, v];
  }
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= min)) {
    fail('ERR_ARGUMENT', `integer ≥ ${min} or a pair of them`, name, v);
  }
  return [v[0], v[1]];
}

/** Rejects option keys that are not known, catching typos like `strides`. */
export function expectKeys(name: string, opts: Record<string, unknown>, known: readonly string[]): void {
  for (const k of Object.keys(opts)) {
    if (!known.includes(k)) fail('ERR_ARGUMENT', `one of ${known.join(', ')}`, `a key of ${name}`, k);
  }
}
