/**
 * The fused colour pass of the paper's train transform, on a uint8 NHWC batch: brightness,
 * saturation and hue jitter, PCA lighting noise and normalisation, written as f32 or f16.
 * The crop, resize and flip happen before it, in the decoder (see `data`).
 *
 * Per image, with coefficients b, s, h and lighting α = (α₀, α₁, α₂), on 0–255 pixels p:
 * 1. brightness `p ← b·p`;
 * 2. saturation `p ← s·p + (1 − s)·grey(p)`, grey = 0.299 R + 0.587 G + 0.114 B;
 * 3. hue: turn the chroma (I, Q) of YIQ by θ = (h − 1)·π, keeping luma (MXNet's
 *    HueJitterAug, which gluon-cv uses: h ∈ [0.6, 1.4] turns by up to ±72°);
 * 4. lighting `p ← p + eigvec·(α ∘ eigval)` (AlexNet's PCA noise);
 * 5. normalise `y = (p − mean) / std`.
 * Nothing is clamped between steps. A missing coefficient array means 1 for every image (0
 * for `alpha`), so `augment(x)` alone is the eval transform's normalisation.
 */
import { callNative, callNativeAsync } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import { expectArray, expectKeys, expectNumber, expectObject, expectShape, fail, numel } from '../validate';

/** The paper's constants (ImageNet statistics on 0–255 pixels, gluon-cv's values). */
export const AUGMENT_DEFAULTS = Object.freeze({
  mean: Object.freeze([123.68, 116.779, 103.939]) as readonly number[],
  std: Object.freeze([58.393, 57.12, 57.375]) as readonly number[],
  /** Eigenvalues of the RGB covariance, for the lighting noise. */
  eigval: Object.freeze([55.46, 4.794, 1.148]) as readonly number[],
  /** Eigenvectors as columns: row i is channel R, G, B; column j is eigenvector j. */
  eigvec: Object.freeze([
    -0.5675, 0.7192, 0.4009,
    -0.5808, -0.0045, -0.814,
    -0.5836, -0.6948, 0.4203,
  ]) as readonly number[],
});

/** Per-image random parameters of one batch of N images. */
export interface AugmentParams {
  /** Brightness coefficients, N values (the paper draws them uniform in [0.6, 1.4]). */
  brightness?: Float32Array | null;
  /** Saturation coefficients, N values. */
  saturation?: Float32Array | null;
  /** Hue coefficients, N values: a turn of (h − 1)·π in the YIQ chroma plane. */
  hue?: Float32Array | null;
  /** Lighting noise α, N×3 values (the paper draws them from N(0, 0.1²)). */
  alpha?: Float32Array | null;
}

/** The constants of the pass (defaults: AUGMENT_DEFAULTS) and the output type. */
export interface AugmentOptions {
  /** Per-channel mean (R, G, B) subtracted on the 0–255 scale; 3 numbers. Default: ImageNet's. */
  mean?: readonly number[];
  /**
   * Per-channel standard deviation (R, G, B) divided by, on the 0–255 scale; 3 non-zero numbers. Default: ImageNet's.
   */
  std?: readonly number[];
  /**
   * Eigenvalues of the RGB covariance for the lighting noise; 3 numbers. Default: AUGMENT_DEFAULTS.eigval.
   */
  eigval?: readonly number[];
  /** 9 numbers, row-major (channel, eigenvector). */
  eigvec?: readonly number[];
  /** 'f32' (default) or 'f16' (IEEE binary16 bits in a Uint16Array, round to nearest even). */
  dtype?: 'f32' | 'f16';
  /** 'pool' (default) splits the pass over the core's threads; 'caller' keeps it on one. */
  threads?: 'pool' | 'caller';
}

const OPTION_KEYS = ['mean', 'std', 'eigval', 'eigvec', 'dtype', 'threads'] as const;
const PARAM_KEYS = ['brightness', 'saturation', 'hue', 'alpha'] as const;

function numbers(name: string, v: unknown, length: number, nonZero = false): number[] {
  if (!Array.isArray(v) && !ArrayBuffer.isView(v)) fail('ERR_ARGUMENT', `array of ${length} finite numbers`, name, v);
  const a = Array.from(v as ArrayLike<unknown>);
  if (a.length !== length) fail('ERR_ARGUMENT', `array of ${length} finite numbers`, name, v);
  a.forEach((x, i) => {
    expectNumber(`${name}[${i}]`, x);
    if (nonZero && x === 0) fail('ERR_ARGUMENT', 'a non-zero number', `${name}[${i}]`, x);
  });
  return a as number[];
}

/** The 18 constants in the order the core takes them: mean, std, eigval, eigvec. */
export function augmentConstants(options: AugmentOptions = {}): Float32Array {
  const o = expectObject('options', options);
  expectKeys('options', o, OPTION_KEYS);
  return Float32Array.from([
    ...numbers('mean', options.mean ?? AUGMENT_DEFAULTS.mean, 3),
    ...numbers('std', options.std ?? AUGMENT_DEFAULTS.std, 3, true),
    ...numbers('eigval', options.eigval ?? AUGMENT_DEFAULTS.eigval, 3),
    ...numbers('eigvec', options.eigvec ?? AUGMENT_DEFAULTS.eigvec, 9),
  ]);
}

function prepare(images: Tensor<Uint8Array>, params: AugmentParams, options: AugmentOptions) {
  if (typeof images !== 'object' || images === null) fail('ERR_ARGUMENT', 'tensor { data: Uint8Array, shape: [N, H, W, 3] }', 'images', images);
  const shape = expectShape('images.shape', images.shape, 4);
  if (shape[3] !== 3) fail('ERR_SHAPE', 'shape [N, H, W, 3] (RGB)', 'images.shape', shape);
  const data = expectArray<Uint8Array>('images.data', images.data, 'Uint8Array', numel(shape));
  const [b, s, h, a] = augmentParamArrays(shape[0], params);
  const constants = augmentConstants(options);
  const dtype = options.dtype ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'f16') fail('ERR_ARGUMENT', "'f32' or 'f16'", 'options.dtype', dtype);
  const threads = options.threads ?? 'pool';
  if (threads !== 'pool' && threads !== 'caller') fail('ERR_ARGUMENT', "'pool' or 'caller'", 'options.threads', threads);
  return [data, shape, b, s, h, a, constants, dtype === 'f16', threads === 'pool'] as const;
}

/**
 * The per-image arrays of `params` for n images, validated (Float32Array of n values, alpha
 * n×3, or null each): [brightness, saturation, hue, alpha], as the native calls take them.
 */
export function augmentParamArrays(n: number, params: AugmentParams, name = 'params'): (Float32Array | null)[] {
  const p = expectObject(name, params);
  expectKeys(name, p, PARAM_KEYS);
  const arr = (key: (typeof PARAM_KEYS)[number], len: number): Float32Array | null => {
    const v = p[key];
    return v === undefined || v === null ? null : expectArray<Float32Array>(`${name}.${key}`, v, 'Float32Array', len);
  };
  return [arr('brightness', n), arr('saturation', n), arr('hue', n), arr('alpha', n * 3)];
}

/** The colour pass on a uint8 NHWC batch; f32 output (or f16 bits with dtype 'f16'). */
export function augment(images: Tensor<Uint8Array>, params?: AugmentParams, options?: AugmentOptions & { dtype?: 'f32' }): Tensor<Float32Array>;
export function augment(images: Tensor<Uint8Array>, params: AugmentParams | undefined, options: AugmentOptions & { dtype: 'f16' }): Tensor<Uint16Array>;
export function augment(images: Tensor<Uint8Array>, params: AugmentParams = {}, options: AugmentOptions = {}): Tensor<Float32Array> | Tensor<Uint16Array> {
  const args = prepare(images, params, options);
  return callNative(() => native().ops.augment(...args));
}

/** augment off the JS thread; the images and parameters are copied before it returns. */
export function augmentAsync(images: Tensor<Uint8Array>, params?: AugmentParams, options?: AugmentOptions & { dtype?: 'f32' }): Promise<Tensor<Float32Array>>;
export function augmentAsync(images: Tensor<Uint8Array>, params: AugmentParams | undefined, options: AugmentOptions & { dtype: 'f16' }): Promise<Tensor<Uint16Array>>;
export function augmentAsync(images: Tensor<Uint8Array>, params: AugmentParams = {}, options: AugmentOptions = {}): Promise<Tensor<Float32Array> | Tensor<Uint16Array>> {
  return callNativeAsync(async () => native().ops.augmentAsync(...prepare(images, params, options)));
}

/**
 * augment into a caller's array, off the JS thread, without copying: `out` is a Float32Array
 * (f32) or a Uint16Array (f16 bits) of N·H·W·3 elements. The images and `out` are lent to the
 * worker until the promise settles: do not write, transfer or read them meanwhile. For
 * pipelines that own and reuse their buffers (the DataLoader); prefer augmentAsync otherwise.
 */
export function augmentInto<T extends Float32Array | Uint16Array>(images: Tensor<Uint8Array>, params: AugmentParams, out: T, options: Omit<AugmentOptions, 'dtype'> = {}): Promise<Tensor<T>> {
  const [data, shape, b, s, h, a, constants, , pool] = prepare(images, params, { ...options, dtype: out instanceof Uint16Array ? 'f16' : 'f32' });
  if (!(out instanceof Float32Array) && !(out instanceof Uint16Array)) fail('ERR_DTYPE', 'Float32Array or Uint16Array', 'out', out);
  expectArray('out', out, out instanceof Float32Array ? 'Float32Array' : 'Uint16Array', data.length);
  return callNativeAsync(async () => native().ops.augmentIntoAsync(data, shape, b, s, h, a, constants, out, pool));
}

/** The oracle: the five steps one by one per pixel, in double, written as f32. */
export function augmentReference(images: Tensor<Uint8Array>, params: AugmentParams = {}, options: Omit<AugmentOptions, 'dtype' | 'threads'> = {}): Tensor<Float32Array> {
  const args = prepare(images, params, options);
  return callNative(() => native().ops.augmentReference(...args.slice(0, 7)));
}

/** One image's coefficients: b, s, h and the lighting α. */
export interface AugmentImageParams {
  /** Brightness coefficient b (p ← b·p). Default 1. */
  brightness?: number;
  /** Saturation coefficient s (p ← s·p + (1 − s)·grey). Default 1. */
  saturation?: number;
  /** Hue coefficient h: a turn of (h − 1)·π in the YIQ chroma plane. Default 1. */
  hue?: number;
  /** Lighting noise α, 3 numbers (one per eigenvector). Default [0, 0, 0]. */
  alpha?: readonly number[];
}

/**
 * The composed map of one image, y = m·p + t (m 3×3 row-major): what the fast path applies
 * per pixel, and what a GPU kernel needs per image.
 */
export function augmentAffine(image: AugmentImageParams = {}, options: Omit<AugmentOptions, 'dtype' | 'threads'> = {}): { m: number[]; t: number[] } {
  const o = expectObject('image', image);
  expectKeys('image', o, PARAM_KEYS);
  const q = Float32Array.from([
    expectNumber('image.brightness', image.brightness ?? 1),
    expectNumber('image.saturation', image.saturation ?? 1),
    expectNumber('image.hue', image.hue ?? 1),
    ...numbers('image.alpha', image.alpha ?? [0, 0, 0], 3),
  ]);
  const constants = augmentConstants(options);
  const out: Float32Array = callNative(() => native().ops.augmentAffine(q, constants));
  return { m: Array.from(out.subarray(0, 9)), t: Array.from(out.subarray(9)) };
}

/**
 * Step 0 of the colour pass, for images decoded without colour management: per image n with
 * convert[n] ≠ 0, its embedded RGB matrix/TRC profile is converted to sRGB, 8 bits:
 * linear l_c = lut[n][c][x_c], m = matrix[n]·l (profile RGB → linear sRGB), then the sRGB
 * curve, rounded. lut is (N, 3, 256) linear light in [0, 1]; matrix (N, 3, 3) row-major
 * (see data's icc.ts, which builds them from a profile).
 */
export interface ProfileParams {
  /** N flags: non-zero converts image n from its profile, 0 leaves it as it is. */
  convert: Uint8Array;
  /** (N, 3, 256): per image and channel, the profile's tone curve as linear light in [0, 1]. */
  lut: Float32Array;
  /** (N, 3, 3) row-major: per image, profile RGB → linear sRGB. */
  matrix: Float32Array;
}

function prepareProfile(images: Tensor<Uint8Array>, profiles: ProfileParams) {
  if (typeof images !== 'object' || images === null) fail('ERR_ARGUMENT', 'tensor { data: Uint8Array, shape: [N, H, W, 3] }', 'images', images);
  const shape = expectShape('images.shape', images.shape, 4);
  if (shape[3] !== 3) fail('ERR_SHAPE', 'shape [N, H, W, 3] (RGB)', 'images.shape', shape);
  const data = expectArray<Uint8Array>('images.data', images.data, 'Uint8Array', numel(shape));
  const p = expectObject('profiles', profiles);
  expectKeys('profiles', p, ['convert', 'lut', 'matrix']);
  const n = shape[0];
  return [
    data,
    shape,
    expectArray<Uint8Array>('profiles.convert', p.convert, 'Uint8Array', n),
    expectArray<Float32Array>('profiles.lut', p.lut, 'Float32Array', n * 768),
    expectArray<Float32Array>('profiles.matrix', p.matrix, 'Float32Array', n * 9),
  ] as const;
}

/** Step 0 on a copy of the images (see ProfileParams). */
export function srgbFromProfile(images: Tensor<Uint8Array>, profiles: ProfileParams): Tensor<Uint8Array> {
  const args = prepareProfile(images, profiles);
  return callNative(() => native().ops.srgbFromProfile(...args));
}

/**
 * Step 0 in place, off the JS thread. `images.data` is lent to the worker until the promise
 * settles: do not read, write or transfer it meanwhile.
 */
export function srgbFromProfileInPlace(images: Tensor<Uint8Array>, profiles: ProfileParams, options: { threads?: 'pool' | 'caller' } = {}): Promise<void> {
  const args = prepareProfile(images, profiles);
  const pool = (options.threads ?? 'pool') === 'pool';
  return callNativeAsync(async () => native().ops.srgbFromProfileInPlaceAsync(...args, pool));
}
