/** FP32 ↔ FP16 (IEEE binary16, round to nearest even), FP16 stored in a Uint16Array. */
import { callNative } from '../errors';
import { native } from '../native';
import { expectArray } from '../validate';

export function toFloat16(x: Float32Array): Uint16Array {
  expectArray('x', x, 'Float32Array');
  return callNative(() => native().ops.toFloat16(x));
}

export function fromFloat16(h: Uint16Array): Float32Array {
  expectArray('h', h, 'Uint16Array');
  return callNative(() => native().ops.fromFloat16(h));
}
