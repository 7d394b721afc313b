/**
 * bagoftricks: train and run ResNet image classifiers from Node on a C++/CUDA core.
 */
export * as ops from './ops';
export * as runtime from './runtime';
export { BagOfTricksError } from './errors';
export type { ErrorCode } from './errors';
export { tensor } from './tensor';
export type { Tensor } from './tensor';
// eslint-disable-next-line @typescript-eslint/no-var-requires
export const version: string = require('../package.json').version;
