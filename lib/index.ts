/**
 * bagoftricks: train and run ResNet and MobileNetV1 image classifiers from Node on a C++/CUDA core.
 */

/**
 * The CPU kernels of the core as functions over host tensors (`{ data: Float32Array, shape }`):
 * GEMM, convolution, batch norm, pooling, linear, cross-entropy, SGD, FP16 conversion and the
 * fused augmentation op. Activations are NHWC, convolution weights KRSC (out, kh, kw, in/groups).
 * Arguments are validated first; bad shapes throw ERR_SHAPE, bad values ERR_ARGUMENT.
 */
export * as ops from './ops';
/**
 * The data pipeline: data sets (ImageFolder, MNIST, CIFAR-10, image lists), the paper's
 * train/eval transforms, image decoding with sharp, and the DataLoader that batches,
 * augments and prefetches NHWC images for the trainer.
 */
export * as data from './data';
/**
 * The core's run-time settings (thread pool size) and what the machine offers
 * (CPU features, measured clock, CUDA status).
 */
export * as runtime from './runtime';
/**
 * The model zoo (ResNet-18 … ResNet-152 in the A, B, C and D variants, and MobileNetV1 at
 * widths 1.0, 0.75, 0.5 and 0.25, one table row each), the graph description the core
 * compiles, its shape analysis, and initialisation helpers.
 */
export * as models from './models';
/**
 * The training tricks of He et al. 2019 as separate pieces (learning-rate schedules, label
 * smoothing, mixup, distillation, no-bias-decay, loss scaling), recipes that combine them,
 * safetensors and checkpoint files, and the Trainer that composes them.
 */
export * as train from './train';
export { createModel, listModels } from './models';
export type { ModelName, ModelOptions } from './models';
export { Net } from './net';
export { Trainer } from './train/trainer';
export { load, Classifier, WeightsMismatchError, pretrainedWeights } from './load';
export type { LoadOptions, ModelSpec, ImageInput, WeightsMismatch, Prediction, PretrainedReport, PredictOptions, Settled } from './load';
export type { NetOptions, TrainBatch, StepResult, ParameterInfo, DistStats } from './net';
/**
 * Data-parallel training across processes over MPI: join the job's process group, then give
 * it to the Trainer (or to net.distribute()); DataLoader's `shard` option splits each batch.
 */
export { initDistributed, Distributed, launchedRank, launchedGroup, distributedSupport } from './dist';
export type { DistributedOptions } from './dist';
export { BagOfTricksError } from './errors';
export type { ErrorCode } from './errors';
export { tensor } from './tensor';
export { exportOnnx, buildOnnxModel, encodeOnnxModel, onnxIrVersion, ONNX_OPSET } from './export/onnx';
export type { OnnxExportOptions } from './export/onnx';
export type { Tensor } from './tensor';
// eslint-disable-next-line @typescript-eslint/no-var-requires
/** The package version, as in package.json (for example `"0.1.0"`). */
export const version: string = require('../package.json').version;
