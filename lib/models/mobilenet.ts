/**
 * MobileNetV1 ("MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
 * Applications", Howard et al. 2017, Table 1), one of the networks He et al. 2019 train
 * with their tricks (beside ResNet-50 and Inception-v3), at four widths, one table row
 * each (timm registers the same four names in efficientnet.py).
 *
 * - Stem: a 3×3 conv of stride 2 with 32 channels, BN, ReLU.
 * - 13 depthwise-separable blocks, each a 3×3 depthwise conv (groups = channels) + BN +
 *   ReLU, then a 1×1 pointwise conv + BN + ReLU. Outputs 64, 128, 128, 256, 256, 512 ×6,
 *   1024, 1024 channels with strides 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1 (the stride sits
 *   on the depthwise conv). timm groups them in stages of 1, 2, 2, 6 and 2 blocks, each
 *   stage but the first opening with the stride 2.
 * - Head: global average pool, then a linear classifier (no extra 1×1 conv).
 *
 * At width 1.0, 1000 classes and 224²: 4,231,976 parameters and 568.7 M multiply-adds
 * (conv and linear layers), the counts of Howard et al.'s Table 2 ("569 M", "4.2 M").
 *
 * Width: the row's multiplier α (1.0, 0.75, 0.5, 0.25), times the `width` option, scales
 * every channel count c of the stem and blocks; the result is rounded as timm's
 * make_divisible does (makeDivisible below). The classifier's outputs stay `numClasses`.
 *
 * Parameter keys are timm's `mobilenetv1_100` state dict: `conv_stem.weight`, `bn1.*`,
 * `blocks.{stage}.{i}.conv_dw.weight`, `.bn1.*`, `.conv_pw.weight`, `.bn2.*`,
 * `classifier.weight` and `classifier.bias`; convs have no bias. Node names follow the same
 * module paths; a ReLU is `<bn>.act` (timm's BatchNormAct2d) and the pool `global_pool`.
 * timm builds these models with ReLU6 by default; here, as in the paper, the activation is
 * a plain ReLU, so a timm checkpoint loads key for key but its activations above 6 are not
 * clipped.
 *
 * Options (the zoo's ModelOptions):
 * - `stem: 'cifar'` is for 32×32 inputs: the stem conv and the first stride-2 block
 *   (`blocks.1.0`) both get stride 1, so the blocks run at 32, 16, 8 and 4 pixels, the last
 *   stage at 4×4 as in the CIFAR ResNets (only the stem at stride 1 would leave 2×2).
 * - `zeroGamma` changes nothing: the paper's zero-γ initialises the last BN of each
 *   *residual* block so the block starts as the identity, and MobileNetV1 has no residual
 *   connection; zeroing a BN on its only path would cut the signal. Every γ starts at 1.
 * - Initialisation is the ResNets' (init.ts): Xavier-uniform with fans that count the
 *   kernel area and divide by the groups, so a depthwise 3×3 has fan_in = fan_out = 9.
 */
import { GraphBuilder } from './builder';
import { GraphModel } from './model';
import { ModelOptions, resolveModelOptions } from './options';

/** One row of the table: the width multiplier α of Howard et al. §4.2. */
export interface MobileNetV1Arch {
  /** α: every channel count of the stem and the blocks is multiplied by it before rounding. */
  multiplier: number;
}

// prettier-ignore
/**
 * The MobileNetV1 table: one row per width, named as timm names them (`mobilenetv1_100` is
 * α = 1.0, `_075` 0.75, `_050` 0.5, `_025` 0.25). createModel looks names up here.
 */
export const MOBILENETS = {
  mobilenetv1_100: { multiplier: 1 },
  mobilenetv1_075: { multiplier: 0.75 },
  mobilenetv1_050: { multiplier: 0.5 },
  mobilenetv1_025: { multiplier: 0.25 },
} as const satisfies Record<string, MobileNetV1Arch>;

/** The names of the MobileNetV1 table: `mobilenetv1_100` … `mobilenetv1_025`. */
export type MobileNetV1Name = keyof typeof MOBILENETS;

/** A MobileNetV1's resolved configuration (`model.config`): its table row and every option, defaults filled in. */
export type MobileNetV1Config = MobileNetV1Arch & Required<ModelOptions>;

const BN_EPS = 1e-5; // PyTorch's BatchNorm2d default, as timm's mobilenetv1_* use
const BN_MOMENTUM = 0.1; // PyTorch convention: running = (1 − 0.1)·running + 0.1·batch
const STEM_CHANNELS = 32; // Howard et al. Table 1: "Conv / s2, 3 × 3 × 3 × 32"
// Howard et al. Table 1 in timm's stages: [output channels, stride] of each block.
const STAGES: readonly (readonly [number, number])[][] = [
  [[64, 1]],
  [[128, 2], [128, 1]],
  [[256, 2], [256, 1]],
  [[512, 2], [512, 1], [512, 1], [512, 1], [512, 1], [512, 1]],
  [[1024, 2], [1024, 1]],
];
const CHANNEL_DIVISOR = 8; // timm's round_channels default for these models

/**
 * Channel rounding as timm's make_divisible (divisor 8, round_limit 0.9): the nearest
 * multiple of 8 to v, half up, c = max(8, ⌊(v + 4) / 8⌋ · 8), plus 8 more when that falls
 * below 90% of v. So 0.25 × 32 = 8 stays 8, 0.75 × 64 = 48, and nothing rounds below 8.
 */
export function makeDivisible(v: number, divisor = CHANNEL_DIVISOR): number {
  let c = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (c < 0.9 * v) c += divisor;
  return c;
}

/**
 * A MobileNetV1 of the table (MOBILENETS); use createModel('mobilenetv1_100', options)
 * rather than this class directly. See the file comment for the architecture, the keys
 * and what the options mean here.
 */
export class MobileNetV1 extends GraphModel<MobileNetV1Config> {
  /**
   * Builds the graph and parameter list of the named width.
   * @param name - A name of the table (MOBILENETS).
   * @param options - Classes, width, stem, zero-γ (no effect), seed, input channels (see ModelOptions).
   * @throws BagOfTricksError ERR_ARGUMENT for a bad or unknown option.
   */
  constructor(name: MobileNetV1Name, options: ModelOptions = {}) {
    const config: MobileNetV1Config = { ...MOBILENETS[name], ...resolveModelOptions(options) };
    super(name, config, ...buildMobileNetV1(config), config.seed, new Set());
  }
}

function buildMobileNetV1(cfg: MobileNetV1Config) {
  const ch = (c: number) => makeDivisible(c * cfg.multiplier * cfg.width);
  const b = new GraphBuilder(cfg.inputChannels);
  const bnAct = (name: string, input: string) => b.relu(`${name}.act`, b.batchNorm(name, input, BN_EPS, BN_MOMENTUM));
  const cifar = cfg.stem === 'cifar';

  // Stem: 3×3 conv, stride 2 (CIFAR: 1) → BN → ReLU.
  let x = bnAct('bn1', b.conv('conv_stem', 'input', ch(STEM_CHANNELS), 3, cifar ? 1 : 2, 1));

  // Depthwise-separable blocks: 3×3 depthwise (stride) → BN → ReLU → 1×1 → BN → ReLU.
  STAGES.forEach((blocks, s) => {
    blocks.forEach(([out, stride], i) => {
      const p = `blocks.${s}.${i}`;
      const strideHere = cifar && s === 1 && i === 0 ? 1 : stride;
      const c = b.channelsOf(x);
      x = bnAct(`${p}.bn1`, b.conv(`${p}.conv_dw`, x, c, 3, strideHere, 1, c));
      x = bnAct(`${p}.bn2`, b.conv(`${p}.conv_pw`, x, ch(out), 1, 1, 0));
    });
  });

  // Head: global average pool → linear classifier.
  const { graph, parameters } = b.build(b.linear('classifier', b.globalAvgPool('global_pool', x), cfg.numClasses));
  return [graph, parameters] as const;
}
