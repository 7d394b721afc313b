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

/**
 * The codes a DataError carries: ERR_IMAGE_DECODE (an unreadable image), ERR_IMAGE_TOO_LARGE
 * (more pixels than the decoder's limit) and ERR_DATASET (an unusable data set).
 */
export type DataErrorCode = 'ERR_IMAGE_DECODE' | 'ERR_IMAGE_TOO_LARGE' | 'ERR_DATASET';

/** Why an image was rejected. */
export type ImageFailure = 'corrupt' | 'truncated' | 'empty' | 'not-image' | 'unreadable' | 'too-large';

/** A file the pipeline could not use: its path, why, and the decoder's own message. */
export interface SkippedImage {
  /** The file, or how the data set names the image (Dataset.name). */
  path: string;
  /** Why it failed (corrupt, truncated, empty, not an image, unreadable, too large). */
  reason: ImageFailure;
  /** The decoder's own message. */
  message: string;
}

/** A data-pipeline error; `code` is one of DataErrorCode. */
export class DataError extends BagOfTricksError {
  /** The file concerned, when there is one. */
  readonly path?: string;
  /** Why the image failed, for ERR_IMAGE_DECODE and ERR_IMAGE_TOO_LARGE. */
  readonly reason?: ImageFailure;
  /**
   * Makes a data-pipeline error (the pipeline throws these; callers rarely need to).
   * @param code - ERR_IMAGE_DECODE, ERR_IMAGE_TOO_LARGE or ERR_DATASET.
   * @param message - What happened, for people.
   * @param path - The file concerned, if any.
   * @param reason - Why an image failed, if one did.
   */
  constructor(code: DataErrorCode, message: string, path?: string, reason?: ImageFailure) {
    super(code, message);
    this.path = path;
    this.reason = reason;
  }
}

/** The DataError of a skipped image: ERR_IMAGE_TOO_LARGE for 'too-large', else ERR_IMAGE_DECODE. */
export function imageError(skip: SkippedImage): DataError {
  const code: DataErrorCode = skip.reason === 'too-large' ? 'ERR_IMAGE_TOO_LARGE' : 'ERR_IMAGE_DECODE';
  return new DataError(code, `${skip.path}: ${skip.reason} (${skip.message})`, skip.path, skip.reason);
}

/** A DataError with code ERR_DATASET. */
export function datasetError(message: string): DataError {
  return new DataError('ERR_DATASET', message);
}
