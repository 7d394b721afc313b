/**
 * Max, average and global average pooling on NHWC activations, with PyTorch's output
 * sizes, padding rules and divisors.
 */
import { callNative } from '../errors';
import { opName } from '../backend';
import { native } from '../native';
import { Tensor } from '../tensor';
import { expectBool, expectKeys, expectObject, expectPair, expectShape, expectTensor, fail } from '../validate';

/**
 * Window of a 2-D pooling on NHWC input (PyTorch's semantics). Unknown keys and bad values
 * throw ERR_ARGUMENT; a window larger than the padded input throws ERR_SHAPE.
 */
export interface Pool2dOptions {
  /** Window size: k or [kh, kw]. */
  kernel: number | [number, number];
  /** Step between windows. Default: the kernel (PyTorch's default). */
  stride?: number | [number, number];
  /** Implicit padding on each side, at most half the kernel. Default 0. */
  padding?: number | [number, number];
  /**
   * Round the output size up instead of down; a last window that would start in the
   * right padding is dropped (PyTorch's rule). Default false.
   */
  ceilMode?: boolean;
}

/** Options of avgPool2d: the window and PyTorch's divisor rule. */
export interface AvgPool2dOptions extends Pool2dOptions {
  /**
   * true: divide by the window clipped to the padded input (h + padding); false: by the
   * number of window elements inside the input (the ResNet-D shortcut: kernel 2,
   * stride 2, ceilMode, countIncludePad false). Default true (PyTorch's default).
   */
  countIncludePad?: boolean;
}

/** Options of avgPool2dBackward: the forward's window and input shape. */
export interface AvgPool2dBackwardOptions extends AvgPool2dOptions {
  /** Shape (N, H, W, C) of the forward's input. */
  inputShape: number[];
}

const MAX_KEYS = ['kernel', 'stride', 'padding', 'ceilMode'] as const;
const AVG_KEYS = [...MAX_KEYS, 'countIncludePad'] as const;
const AVG_BACKWARD_KEYS = [...AVG_KEYS, 'inputShape'] as const;

interface Window {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  ceilMode: boolean;
  countIncludePad: boolean;
}

/** One dimension of PyTorch's pooling_output_shape. */
function pooledSize(size: number, k: number, s: number, pad: number, ceilMode: boolean): number {
  let out = Math.floor((size + 2 * pad - k + (ceilMode ? s - 1 : 0)) / s) + 1;
  if (ceilMode && (out - 1) * s >= size + pad) out -= 1; // the last window starts inside
  return out;
}

function readWindow(o: Record<string, unknown>): Window {
  if (o.kernel === undefined) fail('ERR_ARGUMENT', 'integer ≥ 1 or a pair of them', 'options.kernel', o.kernel);
  const kernel = expectPair('options.kernel', o.kernel, 1);
  const stride = o.stride === undefined ? kernel : expectPair('options.stride', o.stride, 1);
  const padding = o.padding === undefined ? ([0, 0] as [number, number]) : expectPair('options.padding', o.padding, 0);
  if (padding[0] > Math.floor(kernel[0] / 2) || padding[1] > Math.floor(kernel[1] / 2)) {
    const limit = `[${Math.floor(kernel[0] / 2)}, ${Math.floor(kernel[1] / 2)}]`;
    fail('ERR_ARGUMENT', `padding at most half the kernel (≤ ${limit})`, 'options.padding', o.padding);
  }
  const ceilMode = o.ceilMode === undefined ? false : expectBool('options.ceilMode', o.ceilMode);
  const countIncludePad = o.countIncludePad === undefined ? true : expectBool('options.countIncludePad', o.countIncludePad);
  return { kernel, stride, padding, ceilMode, countIncludePad };
}

function outputShape(name: string, shape: number[], w: Window): number[] {
  const [n, h, wd, c] = shape;
  const p = pooledSize(h, w.kernel[0], w.stride[0], w.padding[0], w.ceilMode);
  const q = pooledSize(wd, w.kernel[1], w.stride[1], w.padding[1], w.ceilMode);
  if (p < 1 || q < 1) {
    fail('ERR_SHAPE', `an input large enough for kernel [${w.kernel}] with padding [${w.padding}] (output ≥ 1×1)`, name, shape);
  }
  return [n, p, q, c];
}

function sameShape(name: string, expected: number[], actual: number[]): void {
  if (expected.length !== actual.length || expected.some((d, i) => d !== actual[i])) {
    fail('ERR_SHAPE', `shape [${expected.join(', ')}]`, name, actual);
  }
}

function windowArgs(w: Window): unknown[] {
  return [w.kernel[0], w.kernel[1], w.stride[0], w.stride[1], w.padding[0], w.padding[1], w.ceilMode];
}

function prepare(x: Tensor, options: Pool2dOptions, keys: readonly string[]) {
  const o = expectObject('options', options);
  expectKeys('options', o, keys);
  const t = expectTensor('x', x, 4);
  const w = readWindow(o);
  return { t, w, yShape: outputShape('x.shape', t.shape, w) };
}

/**
 * The output shape (N, P, Q, C) of a 2-D pooling of an (N, H, W, C) input:
 * P = ⌊(H + 2·pad − k) / stride⌋ + 1, rounded up instead in ceil mode (then minus one
 * when the last window would start in the right padding).
 */
export function pool2dOutputShape(inputShape: number[], options: Pool2dOptions): number[] {
  const o = expectObject('options', options);
  expectKeys('options', o, AVG_KEYS);
  return outputShape('inputShape', expectShape('inputShape', inputShape, 4), readWindow(o));
}

function maxForward(fn: string, x: Tensor, options: Pool2dOptions): Tensor {
  const { t, w } = prepare(x, options, MAX_KEYS);
  return callNative(() => native().ops[fn](t.data, t.shape, ...windowArgs(w)));
}

/**
 * Max pooling, (N, H, W, C) → (N, P, Q, C). Padding never wins; among equal values the
 * first in row-major window order is the argmax; NaN propagates. The ResNet stem is
 * `{ kernel: 3, stride: 2, padding: 1 }`.
 */
export function maxPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  return maxForward(opName('maxPool2d'), x, options);
}

/** maxPool2d on the plain loop nest the fast kernel is tested against. */
export function maxPool2dReference(x: Tensor, options: Pool2dOptions): Tensor {
  return maxForward('maxPool2dReference', x, options);
}

/** Gradient of maxPool2d: each dy goes to its window's argmax (recomputed from x). */
export function maxPool2dBackward(x: Tensor, dy: Tensor, options: Pool2dOptions): Tensor {
  const { t, w, yShape } = prepare(x, options, MAX_KEYS);
  const g = expectTensor('dy', dy, 4);
  sameShape('dy.shape', yShape, g.shape);
  return callNative(() => native().ops[opName('maxPool2dBackward')](t.data, g.data, t.shape, ...windowArgs(w)));
}

function avgForward(fn: string, x: Tensor, options: AvgPool2dOptions): Tensor {
  const { t, w } = prepare(x, options, AVG_KEYS);
  return callNative(() => native().ops[fn](t.data, t.shape, ...windowArgs(w), w.countIncludePad));
}

/**
 * Average pooling, (N, H, W, C) → (N, P, Q, C), PyTorch's divisors: with
 * countIncludePad the window clipped to the padded input, else the window elements inside
 * the input. The ResNet-D shortcut is `{ kernel: 2, stride: 2, ceilMode: true,
 * countIncludePad: false }`.
 */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  return avgForward(opName('avgPool2d'), x, options);
}

/** avgPool2d on the plain loop nest the fast kernel is tested against. */
export function avgPool2dReference(x: Tensor, options: AvgPool2dOptions): Tensor {
  return avgForward('avgPool2dReference', x, options);
}

/** Gradient of avgPool2d: each input element gets Σ dy / divisor over the windows covering it. */
export function avgPool2dBackward(dy: Tensor, options: AvgPool2dBackwardOptions): Tensor {
  const o = expectObject('options', options);
  expectKeys('options', o, AVG_BACKWARD_KEYS);
  const inputShape = expectShape('options.inputShape', o.inputShape, 4);
  const w = readWindow(o);
  const yShape = outputShape('options.inputShape', inputShape, w);
  const g = expectTensor('dy', dy, 4);
  sameShape('dy.shape', yShape, g.shape);
  return callNative(() => native().ops[opName('avgPool2dBackward')](g.data, inputShape, ...windowArgs(w), w.countIncludePad));
}

/** Global average pooling, (N, H, W, C) → (N, C): the mean over H·W, accumulated in double. */
export function globalAvgPool(x: Tensor): Tensor {
  const t = expectTensor('x', x, 4);
  return callNative(() => native().ops[opName('globalAvgPool')](t.data, t.shape));
}

/** Gradient of globalAvgPool: dx = dy / (H·W) broadcast over the pixels. */
export function globalAvgPoolBackward(dy: Tensor, inputShape: number[]): Tensor {
  const shape = expectShape('inputShape', inputShape, 4);
  const g = expectTensor('dy', dy, 2);
  sameShape('dy.shape', [shape[0], shape[3]], g.shape);
  return callNative(() => native().ops[opName('globalAvgPoolBackward')](g.data, shape));
}
