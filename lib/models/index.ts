/**
 * The model zoo: `createModel('resnet50d', { numClasses: 10, stem: 'cifar' })` and
 * `listModels()`. Every model is a row of a table (resnet.ts: RESNETS), built by one
 * configurable builder.
 */
import { BagOfTricksError } from '../errors';
import { describe } from '../validate';
import { ResNet, ResNetName, ResNetOptions, RESNETS } from './resnet';

export * from './graph';
export type { Model, ModelSummary, SummaryRow } from './model';
export { RESNETS, resolveResNetOptions } from './resnet';
export type { BlockType, ResNetArch, ResNetConfig, ResNetName, ResNetOptions } from './resnet';
export { analyzeGraph, windowOutputSize } from './shapes';
export type { NodeInfo } from './shapes';
export { fans, xavierBound } from './init';

/** A name createModel accepts (every row of the table: `resnet18` … `resnet152d`). */
export type ModelName = ResNetName;
/** Options of createModel: see ResNetOptions. */
export type ModelOptions = ResNetOptions;

/** Names accepted by createModel, in table order. */
export function listModels(): ModelName[] {
  return Object.keys(RESNETS) as ModelName[];
}

/**
 * Builds the named model. `name` is a ModelName, so TypeScript refuses a misspelt one; from
 * JavaScript, unknown names throw ERR_ARGUMENT listing the valid ones;
 * options are checked (unknown keys too) and throw ERR_ARGUMENT.
 *
 * @param name - A name of listModels(): `resnet18` … `resnet152`, with suffix `a`, `c` or
 *   `d` for the other variants of He et al. 2019 (no suffix: B, torchvision's).
 * @param options - numClasses (1000), width (1), stem ('imagenet', or 'cifar' for 32²
 *   inputs), zeroGamma (true), seed (0), inputChannels (3).
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
export function createModel(name: ModelName, options: ModelOptions = {}): ResNet {
  if (typeof name !== 'string' || !Object.prototype.hasOwnProperty.call(RESNETS, name)) {
    throw new BagOfTricksError('ERR_ARGUMENT', `Expected one of ${listModels().join(', ')} for model name but received ${describe(name)}`);
  }
  return new ResNet(name as ResNetName, options);
}

export { ResNet };
