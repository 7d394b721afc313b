/**
 * Seeded pseudo-random numbers for the TypeScript layer (parameter initialisation).
 *
 * Generator: mulberry32 (Tommy Ettinger, 2017). The state is a 32-bit Weyl sequence,
 * `state += 0x6D2B79F5 (mod 2^32)`, and each output is that state passed through a
 * xorshift-multiply mix. It uses only 32-bit integer operations (Math.imul, shifts, >>> 0)
 * and one exact division by 2^32, so a seed gives bit-identical numbers on every platform,
 * CPU and Node version. Period 2^32 per stream, far more than the largest tensor drawn
 * from one stream (9.4 M values for a ResNet-152 3×3 conv).
 *
 * Independent streams come from `deriveSeed(seed, label)`: the label (a parameter key
 * such as `layer1.0.conv1.weight`) is hashed with 32-bit FNV-1a, combined with the seed
 * and finalised with MurmurHash3's fmix32. Each tensor having its own stream makes its
 * values depend only on (seed, key, shape), not on which other tensors exist: changing
 * `numClasses` changes `fc.weight` and nothing else.
 */

/** MurmurHash3's 32-bit finaliser: a bijection on uint32 with full avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit seed for the stream named `label` under `seed` (FNV-1a of the label, mixed with the seed). */
export function deriveSeed(seed: number, label: string): number {
  let h = 0x811c9dc5; // FNV-1a 32-bit offset basis
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193); // FNV-1a 32-bit prime
  }
  return fmix32((h ^ fmix32(seed >>> 0)) >>> 0);
}

export class Random {
  private state: number;

  /** `seed` is reduced to 32 bits (seed >>> 0). */
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The next uint32 (mulberry32). */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0; // Weyl increment (odd, so period 2^32)
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1), a multiple of 2^-32. */
  uniform(): number {
    return this.nextUint32() / 4294967296; // 2^32: exact in float64
  }

  /**
   * Fills `out` with values uniform in [lo, hi): lo + (hi − lo)·u, rounded to float32
   * (so a value may round to exactly hi).
   */
  fillUniform(out: Float32Array, lo: number, hi: number): Float32Array {
    const span = hi - lo;
    // nextUint32 and uniform inlined, on a local copy of the state.
    let state = this.state;
    for (let i = 0; i < out.length; i++) {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      out[i] = lo + span * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
    }
    this.state = state;
    return out;
  }
}
