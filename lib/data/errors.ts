/**
 * Error codes of the data pipeline, on top of the package's codes (lib/errors.ts):
 * - `ERR_IMAGE_DECODE`: a file is not a readable image (corrupt, truncated, empty, not an
 *   image, unreadable); the error names the path and carries a `reason`.
 * - `ERR_IMAGE_TOO_LARGE`: the header declares more pixels than `limitInputPixels` (a
 *   decompression bomb); rejected before any pixel buffer is allocated.
 * - `ERR_DATASET`: a data set that cannot be used as given (no classes, an empty class, a
 *   class that lost every image, a malformed CIFAR-10 file).
 */
import { BagOfTricksError } from '../errors';

export type DataErrorCode = 'ERR_IMAGE_DECODE' | 'ERR_IMAGE_TOO_LARGE' | 'ERR_DATASET';

/** Why an image was rejected. */
export type ImageFailure = 'corrupt' | 'truncated' | 'empty' | 'not-image' | 'unreadable' | 'too-large';

/** A file the pipeline could not use: its path, why, and the decoder's own message. */
export interface SkippedImage {
  path: string;
  reason: ImageFailure;
  message: string;
}

/** A data-pipeline error; `code` is one of DataErrorCode. */
export class DataError extends BagOfTricksError {
  /** The file concerned, when there is one. */
  readonly path?: string;
  readonly reason?: ImageFailure;
  constructor(code: DataErrorCode, message: string, path?: string, reason?: ImageFailure) {
    super(code, message);
    this.path = path;
    this.reason = reason;
  }
}

export function imageError(skip: SkippedImage): DataError {
  const code: DataErrorCode = skip.reason === 'too-large' ? 'ERR_IMAGE_TOO_LARGE' : 'ERR_IMAGE_DECODE';
  return new DataError(code, `${skip.path}: ${skip.reason} (${skip.message})`, skip.path, skip.reason);
}

export function datasetError(message: string): DataError {
  return new DataError('ERR_DATASET', message);
}
