/**
 * The trainer's seeded random numbers (mixup's λ and pairing), with a state that a
 * checkpoint saves and restores, so a resumed run draws what the uninterrupted run would
 * have drawn.
 *
 * Generator: xoshiro128** (Blackman & Vigna, 2018), period 2^128 − 1, 32-bit integer
 * operations only (bit-identical on every platform), seeded through splitmix32 from one
 * integer. `uniform()` takes 53 bits from two outputs.
 */
import { expectInt, fail } from '../validate';

/** Anything with uniform() in [0, 1): what the samplers of lib/train need. */
export interface UniformSource {
  /** A uniform draw in [0, 1). */
  uniform(): number;
}

function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0; // golden-ratio increment
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * The trainer's seeded generator (mixup's λ and pairing): xoshiro128**, bit-identical on
 * every platform, with a state a checkpoint saves and restores so a resumed run draws what
 * the uninterrupted run would have drawn.
 */
export class TrainRng implements UniformSource {
  private s: [number, number, number, number];

  /** `seed`: an integer in [0, 2^32 − 1]. */
  constructor(seed: number) {
    expectInt('seed', seed, 0, 2 ** 32 - 1);
    const a = splitmix32(seed);
    const b = splitmix32(a);
    const c = splitmix32(b);
    const d = splitmix32(c);
    this.s = [a, b, c, d];
    if ((a | b | c | d) === 0) this.s[0] = 1; // the all-zero state is a fixed point
  }

  /** The next 32 random bits, as an unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] = (s[2] ^ s[0]) >>> 0;
    s[3] = (s[3] ^ s[1]) >>> 0;
    s[1] = (s[1] ^ s[2]) >>> 0;
    s[0] = (s[0] ^ s[3]) >>> 0;
    s[2] = (s[2] ^ t) >>> 0;
    s[3] = rotl(s[3], 11);
    return r;
  }

  /** Uniform in [0, 1), a multiple of 2^-53. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992; // (hi·2^26 + lo) / 2^53
  }

  /** The generator's state: four uint32, JSON-safe, for checkpoints. */
  state(): number[] {
    return this.s.slice();
  }

  /** A generator that continues from a saved state(). */
  static fromState(state: unknown): TrainRng {
    if (!Array.isArray(state) || state.length !== 4 || !state.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) {
      fail('ERR_ARGUMENT', 'array of 4 integers in [0, 2^32 − 1]', 'state', state);
    }
    if (state.every((v) => v === 0)) fail('ERR_ARGUMENT', 'a state that is not all zeros', 'state', state);
    const r = new TrainRng(0);
    r.s = [state[0], state[1], state[2], state[3]];
    return r;
  }
}
