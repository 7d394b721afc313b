/**
 * The data pipeline's seeded randomness. Every random draw of an image comes from its own
 * stream, keyed by (seed, epoch, dataset index, purpose), so the draws do not depend on the
 * order in which images are decoded, on the batch size or on the number of workers.
 *
 * Generator: xoshiro128** (Blackman & Vigna, 2018), seeded through splitmix32 from the key.
 */

/** splitmix32 step: a well-mixed 32-bit value from a 32-bit state. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Stream purposes, so geometry and colour draws of one image are independent. */
export const STREAM = { order: 1, geometry: 2, colour: 3, split: 4 } as const;

/**
 * The data pipeline's seeded generator: xoshiro128** seeded through splitmix32 from a key of
 * integers, e.g. `new Rng(seed, epoch, index)`. The same key gives the same sequence on
 * every platform, so each image's draws are independent of decoding order.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  /** A generator keyed by a list of integers (each taken modulo 2^32; doubles up to 2^53 use both halves). */
  constructor(...key: number[]) {
    let h = 0x6a09e667;
    for (const k of key) {
      const lo = k >>> 0;
      const hi = Math.floor(k / 4294967296) >>> 0;
      h = mix32(h ^ lo);
      h = mix32(h ^ hi);
    }
    this.a = mix32(h);
    this.b = mix32(this.a ^ 0x243f6a88);
    this.c = mix32(this.b ^ 0x85a308d3);
    this.d = mix32(this.c ^ 0x13198a2e);
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** The next 32 random bits, as an unsigned integer. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Integer uniform in [0, n). */
  below(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box–Muller; pairs are used in turn). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u = 1 - this.uniform(); // (0, 1]: log is finite
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.uniform() < p;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A permutation of [0, n) (Fisher–Yates) drawn from rng. */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
