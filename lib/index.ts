/**
 * bagoftricks: train and run ResNet image classifiers from Node on a C++/CUDA core.
 */
export * as ops from './ops';
export * as data from './data';
export * as runtime from './runtime';
export * as models from './models';
export * as train from './train';
export { createModel, listModels } from './models';
export { Net } from './net';
export { Trainer } from './train/trainer';
export { load, Classifier, WeightsMismatchError, pretrainedWeights } from './load';
export type { LoadOptions, ModelSpec, ImageInput, WeightsMismatch, Prediction, PretrainedReport } from './load';
export type { NetOptions, TrainBatch, StepResult, ParameterInfo } from './net';
export { BagOfTricksError } from './errors';
export type { ErrorCode } from './errors';
export { tensor } from './tensor';
export { exportOnnx, buildOnnxModel, encodeOnnxModel, onnxIrVersion, ONNX_OPSET } from './export/onnx';
export type { OnnxExportOptions } from './export/onnx';
export type { Tensor } from './tensor';
// eslint-disable-next-line @typescript-eslint/no-var-requires
export const version: string = require('../package.json').version;
