/** FP32 ↔ FP16 (IEEE binary16, round to nearest even), FP16 stored in a Uint16Array. */
import { callNative } from '../errors';
import { opName } from '../backend';
import { native } from '../native';
import { Tensor } from '../tensor';
import { expectArray, expectKeys, expectObject } from '../validate';

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

/** Options of nchwToNhwc. */
export interface NchwToNhwcOptions {
  /** 'fast' (default): blocked and split over the core's threads; 'reference': one plain loop nest. */
  algorithm?: 'fast' | 'reference';
}

/**
 * PyTorch's NCHW image layout into the core's NHWC (what Net.forward takes), natively.
 * @param x - N images of C × H × W, row-major.
 * @param shape - [N, C, H, W].
 * @param options - The algorithm (the fast path by default).
 * @returns The same images as [N, H, W, C].
 * @throws BagOfTricksError ERR_DTYPE when `x` is not a Float32Array, ERR_SHAPE when its
 *   length is not N·C·H·W or the shape is not four positive integers, ERR_ARGUMENT for an
 *   unknown algorithm.
 */
export function nchwToNhwc(x: Float32Array, shape: number[], options: NchwToNhwcOptions = {}): Tensor {
  expectArray('x', x, 'Float32Array');
  const o = expectObject('options', options);
  expectKeys('options', o, ['algorithm']);
  const data = callNative(() => native().ops.nchwToNhwc(x, shape, o.algorithm)) as Float32Array;
  return { data, shape: [shape[0], shape[2], shape[3], shape[1]] };
}
