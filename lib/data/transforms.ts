/**
 * The paper's transforms (He et al. 2019, section 2.1), every parameter exposed, and the pure
 * functions that draw their random parameters. Geometry (crop, resize, flip) is applied by the
 * decoder (the core's JPEG path, or sharp); the colour steps, lighting and normalisation by the fused native pass
 * (ops.augment), which documents exactly what each colour coefficient does.
 *
 * - 'train': RandomResizedCrop (area fraction uniform in [0.08, 1], aspect w/h log-uniform in
 *   [3/4, 4/3], 10 attempts, then a centre crop) resized to size×size; horizontal flip with
 *   p = 0.5; brightness, saturation and hue coefficients uniform in [0.6, 1.4]; PCA lighting
 *   noise α ~ N(0, 0.1²)³; normalisation by the ImageNet mean and std.
 * - 'eval': resize the short side to round(size·256/224), centre-crop size×size, normalise.
 * - 'padcrop': for small images kept in memory (CIFAR-style): the image at size×size, padded
 *   by 4 pixels, a random size×size crop of it, flip with p = 0.5, normalise. Colour jitter
 *   and lighting are available and off by default.
 */
import { AUGMENT_DEFAULTS } from '../ops/augment';
import { expectInt, expectKeys, expectNumber, expectObject, fail } from '../validate';
import { Rng } from './rng';

/** Resampling kernels of the resize (sharp's names). */
export type ResizeKernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';
const KERNELS: readonly ResizeKernel[] = ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3'];

/** Colour jitter, lighting and normalisation: the fused native pass's parameters. */
export interface ColourOptions {
  /** Brightness coefficient uniform in [1 − brightness, 1 + brightness]: every channel × b. */
  brightness: number;
  /** Saturation coefficient s uniform in [1 − s, 1 + s]: blend s·p + (1 − s)·grey(p). */
  saturation: number;
  /** Hue coefficient h uniform in [1 − h, 1 + h]: turn of (h − 1)·π in the YIQ chroma plane. */
  hue: number;
  /** Standard deviation of the lighting noise α (per eigenvector). */
  lighting: number;
  /**
   * Eigenvalues of the RGB covariance scaling the lighting noise; 3 numbers (default: ImageNet's, AUGMENT_DEFAULTS).
   */
  eigval: readonly number[];
  /** 9 numbers, row-major (channel, eigenvector). */
  eigvec: readonly number[];
  /**
   * Per-channel mean (R, G, B) subtracted on the 0–255 scale (default: ImageNet's, 123.68, 116.779, 103.939).
   */
  mean: readonly number[];
  /**
   * Per-channel standard deviation (R, G, B) divided by on the 0–255 scale (default: ImageNet's, 58.393, 57.12, 57.375).
   */
  std: readonly number[];
}

/**
 * The paper's training transform (§2.1): RandomResizedCrop, flip, colour jitter, PCA
 * lighting, normalisation. Output is size×size NHWC. Defaults: TRAIN_DEFAULTS.
 */
export interface TrainTransform extends ColourOptions {
  /** Selects this transform. */
  type: 'train';
  /** Range of the crop's area as a fraction of the image's. */
  scale: readonly [number, number];
  /** Range of the crop's aspect ratio width/height, sampled log-uniformly. */
  ratio: readonly [number, number];
  /** Tries at a crop that fits before the centre-crop fallback. */
  attempts: number;
  /** Probability of a horizontal flip. */
  flip: number;
  /** Resampling kernel of the resize (default 'linear', bilinear). */
  kernel: ResizeKernel;
}

/**
 * The evaluation transform: resize the short side to round(size · resizeRatio), centre-crop
 * size×size, normalise. No randomness. Defaults: EVAL_DEFAULTS.
 */
export interface EvalTransform {
  /** Selects this transform. */
  type: 'eval';
  /** The short side is resized to round(size · resizeRatio) before the centre crop (≥ 1). */
  resizeRatio: number;
  /** Per-channel mean (R, G, B) subtracted on the 0–255 scale (default: ImageNet's). */
  mean: readonly number[];
  /** Per-channel standard deviation (R, G, B) divided by on the 0–255 scale (default: ImageNet's). */
  std: readonly number[];
  /** Resampling kernel of the resize (default 'linear', bilinear). */
  kernel: ResizeKernel;
}

/**
 * The CIFAR-style transform for small images: the image at size×size, zero-padded (by
 * `fill`), a random size×size crop, flip, normalise; colour jitter and lighting are off by
 * default. Defaults: PADCROP_DEFAULTS.
 */
export interface PadCropTransform extends ColourOptions {
  /** Selects this transform. */
  type: 'padcrop';
  /** Zero padding on each side before the random crop. */
  padding: number;
  /** Value of the padding pixels (0–255, all three channels). */
  fill: number;
  /** Probability of a horizontal flip (default 0.5). */
  flip: number;
  /** Resampling kernel used to bring the image to size×size (default 'linear'). */
  kernel: ResizeKernel;
}

/**
 * A fully resolved transform (every field set), as resolveTransform returns it and the DataLoader applies it.
 */
export type Transform = TrainTransform | EvalTransform | PadCropTransform;

/** A transform by name with the paper's defaults, or an object overriding some of them. */
export type TransformSpec =
  | 'train'
  | 'eval'
  | 'padcrop'
  | ({ type: 'train' } & Partial<Omit<TrainTransform, 'type'>>)
  | ({ type: 'eval' } & Partial<Omit<EvalTransform, 'type'>>)
  | ({ type: 'padcrop' } & Partial<Omit<PadCropTransform, 'type'>>);

const COLOUR_DEFAULTS: ColourOptions = {
  brightness: 0.4,
  saturation: 0.4,
  hue: 0.4,
  lighting: 0.1,
  eigval: AUGMENT_DEFAULTS.eigval,
  eigvec: AUGMENT_DEFAULTS.eigvec,
  mean: AUGMENT_DEFAULTS.mean,
  std: AUGMENT_DEFAULTS.std,
};

/**
 * The 'train' transform's defaults, the paper's: area scale [0.08, 1], ratio [3/4, 4/3],
 * 10 attempts, flip 0.5, brightness/saturation/hue 0.4, lighting 0.1, ImageNet mean/std, bilinear.
 */
export const TRAIN_DEFAULTS: TrainTransform = Object.freeze({
  type: 'train',
  scale: [0.08, 1] as const,
  ratio: [3 / 4, 4 / 3] as const,
  attempts: 10,
  flip: 0.5,
  ...COLOUR_DEFAULTS,
  kernel: 'linear',
});

/** The 'eval' transform's defaults: resize ratio 256/224, ImageNet mean/std, bilinear. */
export const EVAL_DEFAULTS: EvalTransform = Object.freeze({
  type: 'eval',
  resizeRatio: 256 / 224,
  mean: AUGMENT_DEFAULTS.mean,
  std: AUGMENT_DEFAULTS.std,
  kernel: 'linear',
});

/**
 * The 'padcrop' transform's defaults: padding 4, fill 0, flip 0.5, no colour jitter or
 * lighting, ImageNet mean/std, bilinear.
 */
export const PADCROP_DEFAULTS: PadCropTransform = Object.freeze({
  type: 'padcrop',
  padding: 4,
  fill: 0,
  flip: 0.5,
  ...COLOUR_DEFAULTS,
  brightness: 0,
  saturation: 0,
  hue: 0,
  lighting: 0,
  kernel: 'linear',
});

function vec(name: string, v: unknown, n: number, nonZero = false): number[] {
  if (!Array.isArray(v) || v.length !== n) fail('ERR_ARGUMENT', `array of ${n} finite numbers`, name, v);
  return v.map((x, i) => {
    expectNumber(`${name}[${i}]`, x);
    if (nonZero && x === 0) fail('ERR_ARGUMENT', 'a non-zero number', `${name}[${i}]`, x);
    return x as number;
  });
}

function range(name: string, v: unknown, lo: number, hi: number): [number, number] {
  const r = vec(name, v, 2);
  if (!(r[0] > lo) || r[0] > r[1] || r[1] > hi) fail('ERR_ARGUMENT', `[min, max] with ${lo} < min ≤ max ≤ ${hi}`, name, v);
  return r as [number, number];
}

function colour(name: string, o: Record<string, unknown>, d: ColourOptions): ColourOptions {
  const jitter = (k: 'brightness' | 'saturation' | 'hue') => expectNumber(`${name}.${k}`, o[k] ?? d[k], 0, 1);
  return {
    brightness: jitter('brightness'),
    saturation: jitter('saturation'),
    hue: jitter('hue'),
    lighting: expectNumber(`${name}.lighting`, o.lighting ?? d.lighting, 0),
    eigval: vec(`${name}.eigval`, o.eigval ?? d.eigval, 3),
    eigvec: vec(`${name}.eigvec`, o.eigvec ?? d.eigvec, 9),
    mean: vec(`${name}.mean`, o.mean ?? d.mean, 3),
    std: vec(`${name}.std`, o.std ?? d.std, 3, true),
  };
}

function kernel(name: string, v: unknown): ResizeKernel {
  if (!KERNELS.includes(v as ResizeKernel)) fail('ERR_ARGUMENT', `one of ${KERNELS.join(', ')}`, name, v);
  return v as ResizeKernel;
}

/** The full transform for a spec, validated, with every default filled in. */
export function resolveTransform(spec: TransformSpec, name = 'transform'): Transform {
  if (spec === 'train' || spec === 'eval' || spec === 'padcrop') return resolveTransform({ type: spec }, name);
  const o = expectObject(name, spec);
  switch (o.type) {
    case 'train': {
      const d = TRAIN_DEFAULTS;
      expectKeys(name, o, Object.keys(d));
      return {
        type: 'train',
        scale: range(`${name}.scale`, o.scale ?? d.scale, 0, 1),
        ratio: range(`${name}.ratio`, o.ratio ?? d.ratio, 0, Infinity),
        attempts: expectInt(`${name}.attempts`, o.attempts ?? d.attempts, 0, 1000),
        flip: expectNumber(`${name}.flip`, o.flip ?? d.flip, 0, 1),
        ...colour(name, o, d),
        kernel: kernel(`${name}.kernel`, o.kernel ?? d.kernel),
      };
    }
    case 'eval': {
      const d = EVAL_DEFAULTS;
      expectKeys(name, o, Object.keys(d));
      return {
        type: 'eval',
        resizeRatio: expectNumber(`${name}.resizeRatio`, o.resizeRatio ?? d.resizeRatio, 1, 16),
        mean: vec(`${name}.mean`, o.mean ?? d.mean, 3),
        std: vec(`${name}.std`, o.std ?? d.std, 3, true),
        kernel: kernel(`${name}.kernel`, o.kernel ?? d.kernel),
      };
    }
    case 'padcrop': {
      const d = PADCROP_DEFAULTS;
      expectKeys(name, o, Object.keys(d));
      return {
        type: 'padcrop',
        padding: expectInt(`${name}.padding`, o.padding ?? d.padding, 0, 1024),
        fill: expectInt(`${name}.fill`, o.fill ?? d.fill, 0, 255),
        flip: expectNumber(`${name}.flip`, o.flip ?? d.flip, 0, 1),
        ...colour(name, o, d),
        kernel: kernel(`${name}.kernel`, o.kernel ?? d.kernel),
      };
    }
    default:
      return fail('ERR_ARGUMENT', "'train', 'eval', 'padcrop' or an object with one of them as type", `${name}.type`, o.type);
  }
}

/** A rectangle of an image, in pixels. */
export interface CropBox {
  /** Left edge, pixels from the image's left. */
  left: number;
  /** Top edge, pixels from the image's top. */
  top: number;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/**
 * RandomResizedCrop's box (torchvision's algorithm): up to `attempts` times draw an area
 * fraction uniform in `scale` and an aspect ratio log-uniform in `ratio`; w = round(√(A·r)),
 * h = round(√(A/r)); the first box that fits is placed uniformly. Otherwise the centre crop
 * of the whole image, narrowed to the nearest aspect ratio in `ratio`. `attempt` is the
 * index of the accepted try, or −1 for the fallback.
 */
export function randomResizedCrop(
  width: number,
  height: number,
  rng: Rng,
  t: Pick<TrainTransform, 'scale' | 'ratio' | 'attempts'> = TRAIN_DEFAULTS,
): CropBox & { attempt: number } {
  const area = width * height;
  const logLo = Math.log(t.ratio[0]);
  const logHi = Math.log(t.ratio[1]);
  for (let attempt = 0; attempt < t.attempts; attempt++) {
    const target = area * rng.range(t.scale[0], t.scale[1]);
    const aspect = Math.exp(rng.range(logLo, logHi));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      const top = rng.below(height - h + 1);
      const left = rng.below(width - w + 1);
      return { left, top, width: w, height: h, attempt };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < t.ratio[0]) h = Math.min(height, Math.max(1, Math.round(w / t.ratio[0])));
  else if (inRatio > t.ratio[1]) w = Math.min(width, Math.max(1, Math.round(h * t.ratio[1])));
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h, attempt: -1 };
}

/**
 * The eval geometry: the short side resized to round(size·resizeRatio), the long side in
 * proportion (truncated, as torchvision and gluon do), then the centre size×size crop at
 * floor((resized − size) / 2) (gluon's CenterCrop).
 */
export function evalGeometry(width: number, height: number, size: number, resizeRatio = EVAL_DEFAULTS.resizeRatio) {
  const short = Math.round(size * resizeRatio);
  const resizeWidth = width <= height ? short : Math.max(short, Math.floor((short * width) / height));
  const resizeHeight = width <= height ? Math.max(short, Math.floor((short * height) / width)) : short;
  const crop: CropBox = {
    left: Math.floor((resizeWidth - size) / 2),
    top: Math.floor((resizeHeight - size) / 2),
    width: size,
    height: size,
  };
  return { resizeWidth, resizeHeight, crop };
}

/** One image's colour parameters, as the fused pass takes them. */
export interface ColourParams {
  /** Brightness coefficient b (p ← b·p). */
  brightness: number;
  /** Saturation coefficient s (p ← s·p + (1 − s)·grey). */
  saturation: number;
  /** Hue coefficient h (a turn of (h − 1)·π in the YIQ chroma plane). */
  hue: number;
  /** Lighting noise α, one per eigenvector. */
  alpha: [number, number, number];
}

/** Draws b, s, h uniform in [1 − x, 1 + x] and α ~ N(0, lighting²)³, in that order. */
export function sampleColour(rng: Rng, c: Pick<ColourOptions, 'brightness' | 'saturation' | 'hue' | 'lighting'>): ColourParams {
  const coef = (x: number) => (x > 0 ? rng.range(1 - x, 1 + x) : 1);
  const brightness = coef(c.brightness);
  const saturation = coef(c.saturation);
  const hue = coef(c.hue);
  const alpha: [number, number, number] = c.lighting > 0 ? [rng.normal() * c.lighting, rng.normal() * c.lighting, rng.normal() * c.lighting] : [0, 0, 0];
  return { brightness, saturation, hue, alpha };
}

/** The pad-and-crop offsets: dx, dy uniform in [0, 2·padding], then the flip. */
export function samplePadCrop(rng: Rng, t: Pick<PadCropTransform, 'padding' | 'flip'>): { dx: number; dy: number; flip: boolean } {
  const dx = rng.below(2 * t.padding + 1);
  const dy = rng.below(2 * t.padding + 1);
  return { dx, dy, flip: rng.chance(t.flip) };
}

/**
 * The pad-crop-flip of an RGB size×size image: out[y][x] = src[y + dy − p][x' + dx − p] with
 * x' = size − 1 − x when flipped, and `fill` outside the image.
 */
export function padCrop(src: Uint8Array, size: number, padding: number, dx: number, dy: number, flip: boolean, fill: number, out: Uint8Array, outOffset = 0): void {
  const row = size * 3;
  for (let y = 0; y < size; y++) {
    const sy = y + dy - padding;
    const o = outOffset + y * row;
    if (sy < 0 || sy >= size) {
      out.fill(fill, o, o + row);
      continue;
    }
    const shift = dx - padding; // source x of output x (before the flip) is x + shift
    if (!flip) {
      const x0 = Math.max(0, -shift);
      const x1 = Math.min(size, size - shift);
      if (x0 > 0) out.fill(fill, o, o + 3 * x0);
      if (x1 < size) out.fill(fill, o + 3 * Math.max(x1, 0), o + row);
      if (x1 > x0) out.set(src.subarray(sy * row + 3 * (x0 + shift), sy * row + 3 * (x1 + shift)), o + 3 * x0);
    } else {
      for (let x = 0; x < size; x++) {
        const sx = size - 1 - x + shift;
        const d = o + 3 * x;
        if (sx < 0 || sx >= size) {
          out[d] = out[d + 1] = out[d + 2] = fill;
        } else {
          const s = sy * row + 3 * sx;
          out[d] = src[s];
          out[d + 1] = src[s + 1];
          out[d + 2] = src[s + 2];
        }
      }
    }
  }
}
