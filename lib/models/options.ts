/**
 * The options every model of the zoo takes (createModel's second argument), their defaults
 * and their one check. A model family documents what each option means for it (resnet.ts,
 * mobilenet.ts); the keys, ranges and messages are shared so a checkpoint's saved config
 * rebuilds any model the same way.
 */
import { expectBool, expectInt, expectKeys, expectObject, fail } from '../validate';

/** Options of createModel. Unknown keys and bad values throw ERR_ARGUMENT. */
export interface ModelOptions {
  /** Classifier outputs. Default 1000. */
  numClasses?: number;
  /**
   * Channel multiplier. ResNets: every channel count c becomes max(1, round(c · width));
   * MobileNetV1: it multiplies the row's own multiplier before the rounding to multiples
   * of 8. Default 1.
   */
  width?: number;
  /** 'imagenet' (default): stride-2 stem (and the ResNets' max pool) for 224² inputs; 'cifar': stride-1 stem for 32². */
  stem?: 'imagenet' | 'cifar';
  /**
   * γ = 0 on the last BN of every residual block (He et al. 2019, §3.1). Default true.
   * MobileNetV1 has no residual blocks, so there it changes nothing.
   */
  zeroGamma?: boolean;
  /** Seed of the initial parameters (integer in [0, 2^32 − 1]). Default 0. */
  seed?: number;
  /** Channels of the input image. Default 3. */
  inputChannels?: number;
}

const DEFAULTS: Required<ModelOptions> = { numClasses: 1000, width: 1, stem: 'imagenet', zeroGamma: true, seed: 0, inputChannels: 3 };
const OPTION_KEYS = Object.keys(DEFAULTS);
const MAX_WIDTH = 16; // wider would exceed the core's 2^31 − 1 elements per tensor soon after

/** Checks options (typos rejected) and fills in the defaults. */
export function resolveModelOptions(options: unknown = {}): Required<ModelOptions> {
  const o = expectObject('options', options);
  expectKeys('options', o, OPTION_KEYS);
  const r = { ...DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) };
  expectInt('options.numClasses', r.numClasses, 1, 1 << 20);
  if (typeof r.width !== 'number' || !(r.width > 0 && r.width <= MAX_WIDTH)) fail('ERR_ARGUMENT', `number in (0, ${MAX_WIDTH}]`, 'options.width', r.width);
  if (r.stem !== 'imagenet' && r.stem !== 'cifar') fail('ERR_ARGUMENT', `'imagenet' or 'cifar'`, 'options.stem', r.stem);
  expectBool('options.zeroGamma', r.zeroGamma);
  expectInt('options.seed', r.seed, 0, 2 ** 32 - 1);
  expectInt('options.inputChannels', r.inputChannels, 1, 4096);
  return r as Required<ModelOptions>;
}
