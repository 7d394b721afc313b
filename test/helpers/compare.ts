/**
 * The one comparison helper behind every op test: a seeded RNG, random tensors, a
 * tolerance per dtype (|actual - expected| ≤ atol + rtol·|expected|), and central finite
 * differences of a float64 reference. Every failure message names the op, shape, dtype
 * and seed so it can be replayed.
 */
import * as assert from 'uvu/assert';

export type DType = 'f32' | 'f16';

/** Tolerances per dtype of the operands. f32 ops accumulate in float32 (GEMM blocking). */
export const TOLERANCE: Record<DType, { atol: number; rtol: number }> = {
  f32: { atol: 1e-4, rtol: 1e-4 },
  f16: { atol: 1e-2, rtol: 1e-2 },
};

/** mulberry32: a small, fast, seeded generator with uniform() and normal(). */
export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.uniform() * xs.length)];
  }
  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** A Float32Array of n values, normal with the given scale. */
  array(n: number, scale = 1): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.normal() * scale;
    return a;
  }
  tensor(shape: number[], scale = 1): { data: Float32Array; shape: number[] } {
    return { data: this.array(shape.reduce((a, b) => a * b, 1), scale), shape };
  }
}

export interface Context {
  op: string;
  shape?: unknown;
  dtype?: DType;
  seed?: number;
  [extra: string]: unknown;
}

function contextStr(ctx: Context): string {
  return Object.entries(ctx)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ');
}

/**
 * Asserts |actual[i] - expected[i]| ≤ atol + rtol·|expected[i]| for every i, and that
 * the lengths agree. `scale` multiplies atol (for sums of many terms).
 */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  ctx: Context,
  tol: { atol: number; rtol: number } = TOLERANCE[ctx.dtype ?? 'f32'],
): void {
  assert.is(actual.length, expected.length, `length mismatch: ${contextStr(ctx)}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const bound = tol.atol + tol.rtol * Math.abs(e);
    const err = Math.abs(a - e);
    if (!(err <= bound) && (worst < 0 || err - bound > worstExcess || Number.isNaN(a))) {
      worst = i;
      worstExcess = Number.isNaN(err) ? Infinity : err - bound;
    }
  }
  if (worst >= 0) {
    assert.unreachable(
      `${ctx.op}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(atol ${tol.atol}, rtol ${tol.rtol}); ${contextStr(ctx)}`,
    );
  }
}

/**
 * Checks an analytic gradient against central finite differences of a float64 function:
 * for `samples` random coordinates i, (f(x + h·e_i) - f(x - h·e_i)) / 2h ≈ grad[i].
 * f should be a float64 reference (a TypeScript loop nest), so the difference quotient is
 * accurate to ~h² and the comparison tests the native backward against the maths.
 */
export function gradCheck(
  f: (x: Float64Array) => number,
  x: ArrayLike<number>,
  grad: ArrayLike<number>,
  ctx: Context & { rng: Rng; samples?: number; h?: number; atol?: number; rtol?: number },
): void {
  const h = ctx.h ?? 1e-3;
  const samples = Math.min(ctx.samples ?? 24, x.length);
  const xs = Float64Array.from(x);
  const idx = new Set<number>();
  while (idx.size < samples) idx.add(ctx.rng.int(0, x.length - 1));
  const numeric: number[] = [];
  const analytic: number[] = [];
  for (const i of idx) {
    const x0 = xs[i];
    xs[i] = x0 + h;
    const fp = f(xs);
    xs[i] = x0 - h;
    const fm = f(xs);
    xs[i] = x0;
    numeric.push((fp - fm) / (2 * h));
    analytic.push(grad[i]);
  }
  const { rng: _rng, samples: _s, h: _h, atol, rtol, ...rest } = ctx;
  expectClose(analytic, numeric, { ...rest, op: `${ctx.op} (finite differences)` }, {
    atol: atol ?? 1e-3,
    rtol: rtol ?? 1e-3,
  });
}

/** Σ y·g in float64: the scalar whose gradient w.r.t. y is g (projects a backward pass). */
export function dot(y: ArrayLike<number>, g: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * g[i];
  return s;
}

/** Asserts that fn throws a BagOfTricksError-like error with the given code. */
export function expectCode(fn: () => unknown, code: string, what = ''): void {
  try {
    fn();
  } catch (e) {
    const err = e as { code?: string; message?: string };
    assert.is(err.code, code, `${what}: expected ${code}, got ${err.code}: ${err.message}`);
    assert.ok(typeof err.message === 'string' && err.message.length > 0, `${what}: empty message`);
    return;
  }
  assert.unreachable(`${what}: expected an error with code ${code}, nothing was thrown`);
}

/** Async variant of expectCode. */
export async function expectCodeAsync(fn: () => Promise<unknown>, code: string, what = ''): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const err = e as { code?: string; message?: string };
    assert.is(err.code, code, `${what}: expected ${code}, got ${err.code}: ${err.message}`);
    return;
  }
  assert.unreachable(`${what}: expected a rejection with code ${code}`);
}
