/**
 * The model zoo: `createModel('resnet50d', { numClasses: 10, stem: 'cifar' })` and
 * `listModels()`. Every model is a row of a table (resnet.ts: RESNETS, mobilenet.ts:
 * MOBILENETS), built by one configurable builder per family.
 */
import { BagOfTricksError } from '../errors';
import { describe } from '../validate';
import { MobileNetV1, MobileNetV1Name, MOBILENETS } from './mobilenet';
import { ModelOptions } from './options';
import { ResNet, ResNetName, RESNETS } from './resnet';

export * from './graph';
export type { Model, ModelSummary, SummaryRow } from './model';
export { RESNETS, resolveResNetOptions } from './resnet';
export type { BlockType, ResNetArch, ResNetConfig, ResNetName, ResNetOptions } from './resnet';
export { MOBILENETS, makeDivisible } from './mobilenet';
export type { MobileNetV1Arch, MobileNetV1Config, MobileNetV1Name } from './mobilenet';
export { resolveModelOptions } from './options';
export type { ModelOptions } from './options';
export { analyzeGraph, windowOutputSize } from './shapes';
export type { NodeInfo } from './shapes';
export { fans, xavierBound } from './init';

/** A name createModel accepts (every row of the tables: `resnet18` … `resnet152d`, `mobilenetv1_100` … `mobilenetv1_025`). */
export type ModelName = ResNetName | MobileNetV1Name;
/** A model createModel builds: a ResNet or a MobileNetV1. */
export type ZooModel = ResNet | MobileNetV1;
/** The class createModel returns for a name: MobileNetV1 for `mobilenetv1_*`, ResNet otherwise (their union for a ModelName). */
export type ModelOf<N extends ModelName> = N extends MobileNetV1Name ? MobileNetV1 : ResNet;

/** Names accepted by createModel, in table order (the ResNets, then the MobileNets). */
export function listModels(): ModelName[] {
  return [...Object.keys(RESNETS), ...Object.keys(MOBILENETS)] as ModelName[];
}

const has = (table: object, name: unknown) => typeof name === 'string' && Object.prototype.hasOwnProperty.call(table, name);

/**
 * Builds the named model. `name` is a ModelName, so TypeScript refuses a misspelt one; from
 * JavaScript, unknown names throw ERR_ARGUMENT listing the valid ones;
 * options are checked (unknown keys too) and throw ERR_ARGUMENT.
 *
 * @param name - A name of listModels(): `resnet18` … `resnet152`, with suffix `a`, `c` or
 *   `d` for the other variants of He et al. 2019 (no suffix: B, torchvision's), or
 *   `mobilenetv1_100`, `_075`, `_050`, `_025` (MobileNetV1 at width 1.0 … 0.25).
 * @param options - numClasses (1000), width (1), stem ('imagenet', or 'cifar' for 32²
 *   inputs), zeroGamma (true; residual blocks only), seed (0), inputChannels (3).
 * @returns The model: its graph, parameter list, seeded initial values and summary.
 *
 * @example
 * ```js
 * const { createModel, Net } = require('bagoftricks');
 * const model = createModel('resnet50d', { numClasses: 10 });
 * console.log(model.summary(224).params);                  // learnable parameters
 * const net = Net.fromModel(model, { batchSize: 32, inputSize: 224 });
 * ```
 */
export function createModel<N extends ModelName>(name: N, options: ModelOptions = {}): ModelOf<N> {
  if (has(RESNETS, name)) return new ResNet(name as ResNetName, options) as ModelOf<N>;
  if (has(MOBILENETS, name)) return new MobileNetV1(name as MobileNetV1Name, options) as ModelOf<N>;
  throw new BagOfTricksError('ERR_ARGUMENT', `Expected one of ${listModels().join(', ')} for model name but received ${describe(name)}`);
}

export { ResNet, MobileNetV1 };
