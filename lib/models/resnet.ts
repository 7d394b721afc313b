/**
 * ResNet-18/34/50/101/152 in the four variants of "Bag of Tricks for Image Classification
 * with Convolutional Neural Networks" (He et al., CVPR 2019, §4.1, Figure 2), built by one
 * configurable builder from a table with one row per variant (as timm's resnet.py does).
 *
 * - A, `resnet50a`: the original ResNet v1 (He et al. 2016). In a downsampling bottleneck
 *   the stride 2 sits on the first 1×1 conv, which therefore ignores 3/4 of its input.
 * - B, `resnet50` (torchvision, timm, "v1.5"): the stride moves to the 3×3 conv, so no
 *   input is skipped on the main path. Basic blocks (ResNet-18/34) have their stride on
 *   the first 3×3 conv in both, so for them A and B are the same network.
 * - C, `resnet50c`: B with a deep stem: the 7×7 stride-2 conv becomes three 3×3 convs with
 *   32, 32 and 64 outputs, the first of stride 2, each followed by BN and ReLU (the third's
 *   BN and ReLU are the stem's `bn1`/`act1`), then the 3×3 max pool. +19,232 parameters.
 * - D, `resnet50d`: C where each strided shortcut is a 2×2 average pool of stride 2
 *   (ceil_mode, count_include_pad=False) followed by a stride-1 1×1 conv and BN, instead
 *   of a stride-2 1×1 conv that ignores 3/4 of its input. A shortcut of stride 1 whose
 *   channels change (ResNet-50's layer1) is just the 1×1 conv and BN, as in timm. Same
 *   parameters as C.
 *
 * Parameter keys are timm's (so timm checkpoints load): stem `conv1.weight`, `bn1.*`, or
 * for the deep stem `conv1.0`, `conv1.1` (BN), `conv1.3`, `conv1.4` (BN), `conv1.6`, then
 * `bn1.*`; blocks `layer{1-4}.{i}.conv{1,2,3}` and `bn{1,2,3}`; the shortcut
 * `downsample.0` (conv) and `downsample.1` (BN) for A/B/C, `downsample.1` (conv) and
 * `downsample.2` (BN) for D, whose index 0 is the pool (an Identity in timm when the
 * stride is 1); classifier `fc.weight`, `fc.bias`. Node names follow the same module
 * paths (`layer1.0.act1`, …); the residual sum is `layerX.i.add` and the last block ReLU
 * is `act2` (basic) or `act3` (bottleneck), as in timm.
 *
 * Options:
 * - `width` multiplies every channel count c of the network (stem, block widths,
 *   bottleneck outputs, shortcuts) as max(1, round(c · width)); the classifier's output
 *   stays `numClasses`. width 0.25 turns ResNet-50's 64…2048 channels into 16…512.
 * - `stem: 'cifar'` is for 32×32 inputs: the first conv is 3×3 with stride 1 and there is
 *   no max pool (deep stems keep their three 3×3 convs, all of stride 1), so layer1..4 see
 *   32, 16, 8 and 4 pixels.
 * - `zeroGamma` (default true): γ of the last BN of every residual block (bn2 of a basic
 *   block, bn3 of a bottleneck; never the shortcut's BN) starts at 0 (§4.1 of the paper).
 */
import { GraphBuilder } from './builder';
import { GraphModel } from './model';
import { ModelOptions, resolveModelOptions } from './options';

/**
 * A residual block: 'basic' (two 3×3 convs; ResNet-18/34) or 'bottleneck' (1×1, 3×3, 1×1 with 4× expansion; ResNet-50 and deeper).
 */
export type BlockType = 'basic' | 'bottleneck';

/** One row of the table: the architecture of one named variant. */
export interface ResNetArch {
  /** basic: two 3×3 convs (ResNet-18/34); bottleneck: 1×1, 3×3, 1×1 with 4× expansion. */
  block: BlockType;
  /** Blocks in each of the four stages. */
  layers: [number, number, number, number];
  /** plain: one 7×7 conv of stride 2; deep: three 3×3 convs, 32-32-64 channels (C, D). */
  stemType: 'plain' | 'deep';
  /** conv: strided 1×1 conv shortcut (A, B, C); avg: 2×2 average pool then 1×1 conv (D). */
  downsample: 'conv' | 'avg';
  /** Where a bottleneck puts its stride: '1x1' the first conv (A), '3x3' the second (B, C, D). Basic blocks: always their first 3×3. */
  strideOn: '1x1' | '3x3';
}

// prettier-ignore
/**
 * The model table: one row (a ResNetArch) per name, for depths 18, 34, 50, 101 and 152 in
 * variants A (`resnet50a`), B (`resnet50`), C (`resnet50c`) and D (`resnet50d`) of He et al.
 * 2019, Figure 2. createModel looks names up here.
 */
export const RESNETS = {
  resnet18a:  { block: 'basic',      layers: [2, 2, 2, 2],  stemType: 'plain', downsample: 'conv', strideOn: '1x1' },
  resnet18:   { block: 'basic',      layers: [2, 2, 2, 2],  stemType: 'plain', downsample: 'conv', strideOn: '3x3' },
  resnet18c:  { block: 'basic',      layers: [2, 2, 2, 2],  stemType: 'deep',  downsample: 'conv', strideOn: '3x3' },
  resnet18d:  { block: 'basic',      layers: [2, 2, 2, 2],  stemType: 'deep',  downsample: 'avg',  strideOn: '3x3' },
  resnet34a:  { block: 'basic',      layers: [3, 4, 6, 3],  stemType: 'plain', downsample: 'conv', strideOn: '1x1' },
  resnet34:   { block: 'basic',      layers: [3, 4, 6, 3],  stemType: 'plain', downsample: 'conv', strideOn: '3x3' },
  resnet34c:  { block: 'basic',      layers: [3, 4, 6, 3],  stemType: 'deep',  downsample: 'conv', strideOn: '3x3' },
  resnet34d:  { block: 'basic',      layers: [3, 4, 6, 3],  stemType: 'deep',  downsample: 'avg',  strideOn: '3x3' },
  resnet50a:  { block: 'bottleneck', layers: [3, 4, 6, 3],  stemType: 'plain', downsample: 'conv', strideOn: '1x1' },
  resnet50:   { block: 'bottleneck', layers: [3, 4, 6, 3],  stemType: 'plain', downsample: 'conv', strideOn: '3x3' },
  resnet50c:  { block: 'bottleneck', layers: [3, 4, 6, 3],  stemType: 'deep',  downsample: 'conv', strideOn: '3x3' },
  resnet50d:  { block: 'bottleneck', layers: [3, 4, 6, 3],  stemType: 'deep',  downsample: 'avg',  strideOn: '3x3' },
  resnet101a: { block: 'bottleneck', layers: [3, 4, 23, 3], stemType: 'plain', downsample: 'conv', strideOn: '1x1' },
  resnet101:  { block: 'bottleneck', layers: [3, 4, 23, 3], stemType: 'plain', downsample: 'conv', strideOn: '3x3' },
  resnet101c: { block: 'bottleneck', layers: [3, 4, 23, 3], stemType: 'deep',  downsample: 'conv', strideOn: '3x3' },
  resnet101d: { block: 'bottleneck', layers: [3, 4, 23, 3], stemType: 'deep',  downsample: 'avg',  strideOn: '3x3' },
  resnet152a: { block: 'bottleneck', layers: [3, 8, 36, 3], stemType: 'plain', downsample: 'conv', strideOn: '1x1' },
  resnet152:  { block: 'bottleneck', layers: [3, 8, 36, 3], stemType: 'plain', downsample: 'conv', strideOn: '3x3' },
  resnet152c: { block: 'bottleneck', layers: [3, 8, 36, 3], stemType: 'deep',  downsample: 'conv', strideOn: '3x3' },
  resnet152d: { block: 'bottleneck', layers: [3, 8, 36, 3], stemType: 'deep',  downsample: 'avg',  strideOn: '3x3' },
} as const satisfies Record<string, ResNetArch>;

/** The names of the table: `resnet18`, `resnet50d`, ... (see listModels()). */
export type ResNetName = keyof typeof RESNETS;

/** Options of createModel for a ResNet: the zoo's ModelOptions (see there). */
export type ResNetOptions = ModelOptions;

/** A ResNet's resolved configuration (`model.config`): its table row and every option, defaults filled in. */
export type ResNetConfig = ResNetArch & Required<ResNetOptions>;

const BN_EPS = 1e-5; // PyTorch's BatchNorm2d default, as timm and the paper's MXNet code
const BN_MOMENTUM = 0.1; // PyTorch convention: running = (1 − 0.1)·running + 0.1·batch
const STAGE_CHANNELS = [64, 128, 256, 512]; // block widths of layer1..4 (before expansion)
const DEEP_STEM_CHANNELS = [32, 32, 64]; // the C/D stem's three 3×3 convs

/** Checks options (typos rejected) and fills in the defaults (the zoo's resolveModelOptions). */
export const resolveResNetOptions = resolveModelOptions;

/**
 * A ResNet of the table (RESNETS); use createModel('resnet50d', options) rather than this
 * class directly. The variants differ as in He et al. 2019, §4.1: B moves a bottleneck's
 * stride from the first 1×1 conv (A) to the 3×3 conv, C replaces the 7×7 stem with three
 * 3×3 convs, D also makes each strided shortcut a 2×2 average pool then a 1×1 conv.
 * Parameter keys are timm's, so timm and torchvision state dicts load.
 */
export class ResNet extends GraphModel<ResNetConfig> {
  /**
   * Builds the graph and parameter list of the named variant.
   * @param name - A name of the table (RESNETS).
   * @param options - Classes, width, stem, zero-γ, seed, input channels (see ResNetOptions).
   * @throws BagOfTricksError ERR_ARGUMENT for a bad or unknown option.
   */
  constructor(name: ResNetName, options: ResNetOptions = {}) {
    const config: ResNetConfig = { ...RESNETS[name], layers: [...RESNETS[name].layers], ...resolveResNetOptions(options) };
    const { graph, parameters, zeroGamma } = buildResNet(config);
    super(name, config, graph, parameters, config.seed, zeroGamma);
  }
}

function buildResNet(cfg: ResNetConfig) {
  const ch = (c: number) => Math.max(1, Math.round(c * cfg.width));
  const b = new GraphBuilder(cfg.inputChannels);
  const bn = (name: string, input: string) => b.batchNorm(name, input, BN_EPS, BN_MOMENTUM);
  const zeroGamma = new Set<string>();
  const imagenet = cfg.stem === 'imagenet';

  // Stem: (7×7 conv | three 3×3 convs) → BN → ReLU → 3×3 max pool (ImageNet: stride 4 in all).
  let x: string;
  if (cfg.stemType === 'deep') {
    const [c0, c1, c2] = DEEP_STEM_CHANNELS.map(ch);
    x = b.relu('conv1.2', bn('conv1.1', b.conv('conv1.0', 'input', c0, 3, imagenet ? 2 : 1, 1)));
    x = b.relu('conv1.5', bn('conv1.4', b.conv('conv1.3', x, c1, 3, 1, 1)));
    x = b.conv('conv1.6', x, c2, 3, 1, 1);
  } else {
    x = imagenet ? b.conv('conv1', 'input', ch(64), 7, 2, 3) : b.conv('conv1', 'input', ch(64), 3, 1, 1);
  }
  x = b.relu('act1', bn('bn1', x));
  if (imagenet) x = b.maxPool('maxpool', x, 3, 2, 1);

  // Stages: layer1 keeps the resolution, layer2..4 halve it in their first block.
  const expansion = cfg.block === 'bottleneck' ? 4 : 1;
  cfg.layers.forEach((blocks, s) => {
    const planes = ch(STAGE_CHANNELS[s]);
    const outChannels = ch(STAGE_CHANNELS[s] * expansion);
    for (let i = 0; i < blocks; i++) {
      const p = `layer${s + 1}.${i}`;
      const stride = s > 0 && i === 0 ? 2 : 1;
      const input = x;
      let y: string;
      let last: string; // the block's last BN: zero-γ target
      if (cfg.block === 'bottleneck') {
        const [s1, s3] = cfg.strideOn === '1x1' ? [stride, 1] : [1, stride];
        y = b.relu(`${p}.act1`, bn(`${p}.bn1`, b.conv(`${p}.conv1`, input, planes, 1, s1, 0)));
        y = b.relu(`${p}.act2`, bn(`${p}.bn2`, b.conv(`${p}.conv2`, y, planes, 3, s3, 1)));
        last = `${p}.bn3`;
        y = bn(last, b.conv(`${p}.conv3`, y, outChannels, 1, 1, 0));
      } else {
        y = b.relu(`${p}.act1`, bn(`${p}.bn1`, b.conv(`${p}.conv1`, input, planes, 3, stride, 1)));
        last = `${p}.bn2`;
        y = bn(last, b.conv(`${p}.conv2`, y, outChannels, 3, 1, 1));
      }
      if (cfg.zeroGamma) zeroGamma.add(`${last}.weight`);

      let shortcut = input;
      if (stride !== 1 || b.channelsOf(input) !== outChannels) {
        const d = `${p}.downsample`;
        if (cfg.downsample === 'avg') {
          const pooled = stride === 1 ? input : b.avgPool(`${d}.0`, input, 2, stride, true, false);
          shortcut = bn(`${d}.2`, b.conv(`${d}.1`, pooled, outChannels, 1, 1, 0));
        } else {
          shortcut = bn(`${d}.1`, b.conv(`${d}.0`, input, outChannels, 1, stride, 0));
        }
      }
      x = b.relu(`${p}.${cfg.block === 'bottleneck' ? 'act3' : 'act2'}`, b.add(`${p}.add`, y, shortcut));
    }
  });

  // Head: global average pool → fully connected classifier.
  b.linear('fc', b.globalAvgPool('global_pool', x), cfg.numClasses);
  return { ...b.build('fc'), zeroGamma };
}
