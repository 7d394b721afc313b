/** FP32 ↔ FP16 (IEEE binary16, round to nearest even), FP16 stored in a Uint16Array. */
import { callNative } from '../errors';
import { opName } from '../backend';
import { native } from '../native';
import { expectArray } from '../validate';

/**
 * FP32 → FP16 (IEEE binary16, round to nearest even; overflow gives ±Infinity, NaN stays NaN).
 * @param x - The values to convert.
 * @returns The binary16 bit patterns, one per value.
 * @throws BagOfTricksError ERR_DTYPE when `x` is not a Float32Array.
 */
export function toFloat16(x: Float32Array): Uint16Array {
  expectArray('x', x, 'Float32Array');
  return callNative(() => native().ops[opName('toFloat16')](x));
}

/**
 * FP16 → FP32, exact (every binary16 value, subnormals included, is representable).
 * @param h - binary16 bit patterns, as toFloat16 returns them.
 * @returns The values as Float32.
 * @throws BagOfTricksError ERR_DTYPE when `h` is not a Uint16Array.
 */
export function fromFloat16(h: Uint16Array): Float32Array {
  expectArray('h', h, 'Uint16Array');
  return callNative(() => native().ops[opName('fromFloat16')](h));
}
