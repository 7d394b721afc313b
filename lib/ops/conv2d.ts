/**
 * 2-D convolution (cross-correlation, as PyTorch) on NHWC activations and KRSC weights:
 *
 *   x (N, H, W, C), w (K, R, S, C / groups) -> y (N, P, Q, K),
 *   P = floor((H + 2·padH - R) / strideH) + 1, Q likewise.
 *
 * Output channel k belongs to group floor(k / (K / groups)) and sees only that group's
 * C / groups input channels; groups = C is a depthwise convolution (K = C · multiplier).
 * groups = 1 runs on the core's GEMM, grouped convolutions on direct loops.
 */
import { callNative, callNativeAsync } from '../errors';
import { opName } from '../backend';
import { native } from '../native';
import { Tensor } from '../tensor';
import {
  expectArray,
  MAX_ELEMENTS,
  expectInt,
  expectKeys,
  expectObject,
  expectPair,
  expectShape,
  expectTensor,
  fail,
  numel,
} from '../validate';

/**
 * Geometry of a 2-D convolution on NHWC input and KRSC weights (out K, kernel R×S, in C/groups),
 * shared by the forward and both backward ops. Unknown keys and bad values throw
 * ERR_ARGUMENT; channel counts that the groups do not divide throw ERR_SHAPE.
 */
export interface Conv2dOptions {
  /** Step between windows: an integer or [h, w], each ≥ 1. Default 1. */
  stride?: number | [number, number];
  /** Zero padding on each side: an integer or [h, w], each ≥ 0. Default 0. */
  padding?: number | [number, number];
  /** Channel groups, dividing C and K; C for a depthwise convolution. Default 1. */
  groups?: number;
  /**
   * Synchronous ops only: a Float32Array of the output's size to write into instead of a
   * new one (it is returned as the result's data). Spares the allocation and first-touch
   * page faults of a large output when the caller reuses buffers.
   */
  out?: Float32Array;
}

/** Options of conv2dBackwardData: the forward's geometry plus the forward input's shape. */
export interface Conv2dBackwardDataOptions extends Conv2dOptions {
  /**
   * Shape [N, H, W, C] of the forward input. Required: with a stride above 1, several
   * input sizes give the same output size.
   */
  inputShape: number[];
}

/** Options of conv2dBackwardFilter: the forward's geometry plus the weights' shape (KRSC). */
export interface Conv2dBackwardFilterOptions extends Conv2dOptions {
  /** Shape [K, R, S, C / groups] of the weights. Required. */
  weightShape: number[];
}

const KEYS = ['stride', 'padding', 'groups'] as const;

/** The validated geometry of one convolution; `y` is the forward output's shape. */
interface Geometry {
  stride: [number, number];
  padding: [number, number];
  groups: number;
  y: number[];
}

function pairOption(name: string, v: unknown, dflt: number, min: number): [number, number] {
  const [a, b] = v === undefined ? [dflt, dflt] : expectPair(name, v, min);
  if (a > MAX_ELEMENTS || b > MAX_ELEMENTS) fail('ERR_ARGUMENT', `integers in [${min}, 2^31-1]`, name, v);
  return [a, b];
}

/** Checks that x and w of these shapes can be convolved with these options. */
function geometry(x: number[], w: number[], xName: string, wName: string, o: Record<string, unknown>): Geometry {
  const stride = pairOption('options.stride', o.stride, 1, 1);
  const padding = pairOption('options.padding', o.padding, 0, 0);
  const groups = o.groups === undefined ? 1 : expectInt('options.groups', o.groups, 1, MAX_ELEMENTS);
  const [n, h, wd, c] = x;
  const [k, r, s, cg] = w;
  if (c % groups !== 0) fail('ERR_SHAPE', `an input channel count divisible by groups (${groups})`, `${xName}[3]`, c);
  if (k % groups !== 0) fail('ERR_SHAPE', `an output channel count divisible by groups (${groups})`, `${wName}[0]`, k);
  if (cg !== c / groups) {
    fail('ERR_SHAPE', `${c / groups} input channels per group (${c} channels / ${groups} groups)`, `${wName}[3]`, cg);
  }
  const need = (kernel: number, pad: number) => `a size ≥ ${kernel - 2 * pad} (kernel ${kernel}, padding ${pad}) so that the output is not empty`;
  if (h + 2 * padding[0] < r) fail('ERR_SHAPE', need(r, padding[0]), `${xName}[1]`, h);
  if (wd + 2 * padding[1] < s) fail('ERR_SHAPE', need(s, padding[1]), `${xName}[2]`, wd);
  const p = Math.floor((h + 2 * padding[0] - r) / stride[0]) + 1;
  const q = Math.floor((wd + 2 * padding[1] - s) / stride[1]) + 1;
  const y = [n, p, q, k];
  if (numel(y) > MAX_ELEMENTS) fail('ERR_SHAPE', 'an output of at most 2^31-1 elements', 'the output shape', y);
  return { stride, padding, groups, y };
}

function options(name: string, v: unknown, extra: readonly string[] = []): Record<string, unknown> {
  const o = expectObject(name, v);
  expectKeys(name, o, [...KEYS, 'out', ...extra]);
  return o;
}

/** The optional output array, checked against the output shape (undefined when absent). */
function outArray(o: Record<string, unknown>, shape: number[], sync: boolean): Float32Array | undefined {
  if (o.out === undefined) return undefined;
  if (!sync) fail('ERR_ARGUMENT', 'no out option (the async ops copy their result)', 'options.out', o.out);
  return expectArray<Float32Array>('options.out', o.out, 'Float32Array', numel(shape));
}

function requiredShape(name: string, v: unknown, what: string): number[] {
  if (v === undefined) fail('ERR_ARGUMENT', `${what} (required)`, name, v);
  return expectShape(name, v, 4);
}

function sameShape(name: string, expected: number[], actual: number[], what: string): void {
  if (expected.some((d, i) => d !== actual[i])) fail('ERR_SHAPE', `shape [${expected.join(', ')}] (${what})`, name, actual);
}

/**
 * The export for a validated call: the current backend's, except that grouped convolutions
 * have no CUDA kernel and always run on the CPU.
 */
function route(name: string, options: Conv2dOptions): string {
  return (options.groups ?? 1) === 1 ? opName(name) : name;
}

const tail = (g: Geometry) => [g.stride[0], g.stride[1], g.padding[0], g.padding[1], g.groups];

function prepareForward(x: Tensor, w: Tensor, opts: Conv2dOptions, sync = true): unknown[] {
  const o = options('options', opts);
  const tx = expectTensor('x', x, 4);
  const tw = expectTensor('w', w, 4);
  const g = geometry(tx.shape, tw.shape, 'x.shape', 'w.shape', o);
  return [tx.data, tx.shape, tw.data, tw.shape, ...tail(g), outArray(o, g.y, sync)];
}

function prepareBackwardData(dy: Tensor, w: Tensor, opts: Conv2dBackwardDataOptions, sync = true): unknown[] {
  const o = options('options', opts, ['inputShape']);
  const xShape = requiredShape('options.inputShape', o.inputShape, 'shape [N, H, W, C] of the forward input');
  const tdy = expectTensor('dy', dy, 4);
  const tw = expectTensor('w', w, 4);
  const g = geometry(xShape, tw.shape, 'options.inputShape', 'w.shape', o);
  sameShape('dy.shape', g.y, tdy.shape, 'the forward output');
  return [tdy.data, tdy.shape, tw.data, tw.shape, xShape, ...tail(g), outArray(o, xShape, sync)];
}

function prepareBackwardFilter(x: Tensor, dy: Tensor, opts: Conv2dBackwardFilterOptions, sync = true): unknown[] {
  const o = options('options', opts, ['weightShape']);
  const wShape = requiredShape('options.weightShape', o.weightShape, 'shape [K, R, S, C / groups] of the weights');
  const tx = expectTensor('x', x, 4);
  const tdy = expectTensor('dy', dy, 4);
  const g = geometry(tx.shape, wShape, 'x.shape', 'options.weightShape', o);
  sameShape('dy.shape', g.y, tdy.shape, 'the forward output');
  return [tx.data, tx.shape, tdy.data, tdy.shape, wShape, ...tail(g), outArray(o, wShape, sync)];
}

/**
 * y = conv2d(x, w): x (N, H, W, C) NHWC, w (K, R, S, C / groups) KRSC, y (N, P, Q, K)
 * NHWC. Returns a new tensor.
 */
export function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  const args = prepareForward(x, w, options);
  return callNative(() => native().ops[route('conv2d', options)](...args));
}

/** conv2d off the JS thread. The inputs are copied before the call returns. */
export async function conv2dAsync(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Promise<Tensor> {
  const args = prepareForward(x, w, options, false);
  return callNativeAsync(() => native().ops[route('conv2dAsync', options)](...args));
}

/** The plain loop nest (double accumulators) that conv2d is tested against. */
export function conv2dReference(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  const args = prepareForward(x, w, options);
  return callNative(() => native().ops.conv2dReference(...args));
}

/**
 * The gradient with respect to the input: dx (N, H, W, C) NHWC from dy (N, P, Q, K) NHWC
 * and w (K, R, S, C / groups) KRSC; `options.inputShape` is x's shape.
 */
export function conv2dBackwardData(dy: Tensor, w: Tensor, options: Conv2dBackwardDataOptions): Tensor {
  const args = prepareBackwardData(dy, w, options);
  return callNative(() => native().ops[route('conv2dBackwardData', options)](...args));
}

/** conv2dBackwardData off the JS thread. The inputs are copied before the call returns. */
export async function conv2dBackwardDataAsync(dy: Tensor, w: Tensor, options: Conv2dBackwardDataOptions): Promise<Tensor> {
  const args = prepareBackwardData(dy, w, options, false);
  return callNativeAsync(() => native().ops[route('conv2dBackwardDataAsync', options)](...args));
}

/** The plain loop nest that conv2dBackwardData is tested against. */
export function conv2dBackwardDataReference(dy: Tensor, w: Tensor, options: Conv2dBackwardDataOptions): Tensor {
  const args = prepareBackwardData(dy, w, options);
  return callNative(() => native().ops.conv2dBackwardDataReference(...args));
}

/**
 * The gradient with respect to the weights: dw (K, R, S, C / groups) KRSC from x
 * (N, H, W, C) NHWC and dy (N, P, Q, K) NHWC, summed over the batch;
 * `options.weightShape` is w's shape.
 */
export function conv2dBackwardFilter(x: Tensor, dy: Tensor, options: Conv2dBackwardFilterOptions): Tensor {
  const args = prepareBackwardFilter(x, dy, options);
  return callNative(() => native().ops[route('conv2dBackwardFilter', options)](...args));
}

/** conv2dBackwardFilter off the JS thread. The inputs are copied before the call returns. */
export async function conv2dBackwardFilterAsync(x: Tensor, dy: Tensor, options: Conv2dBackwardFilterOptions): Promise<Tensor> {
  const args = prepareBackwardFilter(x, dy, options, false);
  return callNativeAsync(() => native().ops[route('conv2dBackwardFilterAsync', options)](...args));
}

/** The plain loop nest that conv2dBackwardFilter is tested against. */
export function conv2dBackwardFilterReference(x: Tensor, dy: Tensor, options: Conv2dBackwardFilterOptions): Tensor {
  const args = prepareBackwardFilter(x, dy, options);
  return callNative(() => native().ops.conv2dBackwardFilterReference(...args));
}

/** Options of conv2dWinograd. */
export interface Conv2dWinogradOptions {
  /** Added to each output channel: a Float32Array of K values. Default none. */
  bias?: Float32Array;
  /** Clamp the result at 0 after the bias. Default false. */
  relu?: boolean;
  /** 'fast' (default): the kernels inference runs; 'reference': their scalar oracle. */
  algorithm?: 'fast' | 'reference';
}

/**
 * The Winograd F(4×4, 3×3) convolution that a folded inference Net runs for 3×3, stride-1,
 * padding-1 convolutions: x (N, H, W, C), w (K, 3, 3, C) → y (N, H, W, K) = conv(x, w) +
 * bias, then ReLU when asked. Weights are transformed on each call (the Net does it once).
 * Its results differ from conv2d's by the transforms' rounding (about 1e-6 of the output's
 * scale, see the README's inference section). Other kernel sizes throw ERR_ARGUMENT.
 */
export function conv2dWinograd(x: Tensor, w: Tensor, options: Conv2dWinogradOptions = {}): Tensor {
  const raw = expectObject('options', options);
  expectKeys('options', raw, ['bias', 'relu', 'algorithm']);
  const o = raw as Conv2dWinogradOptions;
  const tx = expectTensor('x', x, 4);
  const tw = expectTensor('w', w, 4);
  if (tw.shape[1] !== 3 || tw.shape[2] !== 3) fail('ERR_ARGUMENT', 'a 3×3 kernel', 'w.shape', tw.shape);
  if (o.bias !== undefined && !(o.bias instanceof Float32Array && o.bias.length === tw.shape[0])) {
    fail('ERR_ARGUMENT', `a Float32Array of ${tw.shape[0]} values`, 'options.bias', o.bias);
  }
  if (o.relu !== undefined && typeof o.relu !== 'boolean') fail('ERR_ARGUMENT', 'a boolean', 'options.relu', o.relu);
  if (o.algorithm !== undefined && o.algorithm !== 'fast' && o.algorithm !== 'reference') {
    fail('ERR_ARGUMENT', "'fast' or 'reference'", 'options.algorithm', o.algorithm);
  }
  return callNative(() =>
    native().ops.conv2dWinograd(tx.data, tx.shape, tw.data, tw.shape, o.bias ?? null, o.relu ?? false, o.algorithm ?? 'fast'),
  );
}
