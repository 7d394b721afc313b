/**
 * Errors raised by bagoftricks. Every error has a stable `code`; messages may change,
 * codes do not.
 */

/**
 * The stable codes of BagOfTricksError:
 *
 * - ERR_SHAPE: a tensor's shape or a buffer's length does not fit (e.g. conv channels).
 * - ERR_DTYPE: a value is not the typed array expected (Float32Array, Int32Array, ...).
 * - ERR_ARGUMENT: an option or argument is missing, unknown, of the wrong type or out of range.
 * - ERR_OUT_OF_MEMORY: host memory could not be allocated (or a buffer would exceed Node's limit).
 * - ERR_CUDA_UNAVAILABLE, ERR_CUDA_OOM, ERR_CUDA_FATAL: the CUDA backend is absent, out of
 *   device memory, or failed.
 * - ERR_NATIVE_LOAD: the native addon could not be loaded (no prebuild, no build).
 * - ERR_OPTIONAL_DEPENDENCY: a feature needs an optional package that is not installed (the
 *   message names it, e.g. `mnist` for the embedded MNIST digits).
 * - ERR_BUSY: a Net is running a step; await it before reading or writing its parameters.
 * - ERR_NON_FINITE: training diverged (the loss or a gradient stayed NaN or infinite).
 * - ERR_DISPOSED: the object was disposed.
 * - ERR_CHECKPOINT_FORMAT: a safetensors or checkpoint file is malformed.
 * - ERR_PACK_FORMAT: a packed data set is truncated, altered or not one (data/pack.ts).
 * - ERR_WEIGHTS_MISMATCH: weights do not fit the model (see WeightsMismatchError).
 * - ERR_IMAGE_DECODE, ERR_IMAGE_TOO_LARGE: an image could not be decoded, or is too large.
 * - ERR_DATASET: a data set is unusable (no classes, no images, unreadable files).
 * - ERR_IO: a file-system operation failed (disk full, permission denied, read-only file
 *   system, a folder in the way, a missing path); the message names the path and the operation.
 * - ERR_DIST_UNAVAILABLE: data-parallel training was asked for where this build has no MPI
 *   (or on CUDA, which needs NCCL); the message says what to install.
 * - ERR_DIST_TIMEOUT: the ranks of a data-parallel run did not meet within the timeout (a
 *   rank died, hangs or took another path); the job is then ended on every rank.
 * - ERR_DIST_CONFIG: the ranks of a data-parallel run were started with different settings.
 * - ERR_DIST: the MPI library reported an error.
 * - ERR_INTERNAL: a bug; please report it.
 */
export type ErrorCode =
  | 'ERR_SHAPE'
  | 'ERR_DTYPE'
  | 'ERR_ARGUMENT'
  | 'ERR_OUT_OF_MEMORY'
  | 'ERR_CUDA_UNAVAILABLE'
  | 'ERR_CUDA_OOM'
  | 'ERR_CUDA_FATAL'
  | 'ERR_NATIVE_LOAD'
  | 'ERR_OPTIONAL_DEPENDENCY'
  | 'ERR_BUSY'
  | 'ERR_NON_FINITE'
  | 'ERR_DISPOSED'
  | 'ERR_CHECKPOINT_FORMAT'
  | 'ERR_PACK_FORMAT'
  | 'ERR_WEIGHTS_MISMATCH'
  | 'ERR_IMAGE_DECODE'
  | 'ERR_IMAGE_TOO_LARGE'
  | 'ERR_DATASET'
  | 'ERR_IO'
  | 'ERR_DIST_UNAVAILABLE'
  | 'ERR_DIST_TIMEOUT'
  | 'ERR_DIST_CONFIG'
  | 'ERR_DIST'
  | 'ERR_INTERNAL';

/**
 * The error every function of bagoftricks throws (or rejects with). Branch on its stable
 * `code`, never on the message: messages may change between versions, codes do not.
 * Argument errors read "Expected … for <name> but received …".
 *
 * @example
 * ```js
 * try {
 *   ops.conv2d(x, w);
 * } catch (e) {
 *   if (e instanceof BagOfTricksError && e.code === 'ERR_SHAPE') console.error(e.message);
 * }
 * ```
 */
export class BagOfTricksError extends Error {
  /**
   * What went wrong, stable across versions: ERR_ARGUMENT (a bad option or value), ERR_SHAPE
   * (sizes that do not fit), ERR_DTYPE (the wrong typed array), ERR_DISPOSED, ERR_BUSY, … (see ErrorCode).
   */
  readonly code: ErrorCode;
  /**
   * Makes an error with a stable code; bagoftricks throws these, and callers may too.
   * @param code - The stable error code.
   * @param message - What happened, for people; the `name` is always "BagOfTricksError".
   */
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'BagOfTricksError';
    this.code = code;
  }
}

const KNOWN = new Set<string>([
  'ERR_SHAPE', 'ERR_DTYPE', 'ERR_ARGUMENT', 'ERR_OUT_OF_MEMORY', 'ERR_CUDA_UNAVAILABLE',
  'ERR_CUDA_OOM', 'ERR_CUDA_FATAL', 'ERR_NATIVE_LOAD', 'ERR_OPTIONAL_DEPENDENCY', 'ERR_BUSY', 'ERR_NON_FINITE', 'ERR_DISPOSED', 'ERR_CHECKPOINT_FORMAT', 'ERR_WEIGHTS_MISMATCH', 'ERR_IMAGE_DECODE', 'ERR_IMAGE_TOO_LARGE', 'ERR_DATASET', 'ERR_IO', 'ERR_INTERNAL',
  'ERR_DIST_UNAVAILABLE', 'ERR_DIST_TIMEOUT', 'ERR_DIST_CONFIG', 'ERR_DIST',
]);

/** Turns an error thrown by the addon (a plain Error with `code`) into a BagOfTricksError. */
export function fromNative(e: unknown, site?: Error): BagOfTricksError {
  if (e instanceof BagOfTricksError) return e;
  const raw = e as { code?: unknown; message?: unknown };
  const code = typeof raw?.code === 'string' && KNOWN.has(raw.code) ? (raw.code as ErrorCode) : 'ERR_INTERNAL';
  const message = typeof raw?.message === 'string' ? raw.message : String(e);
  const err = new BagOfTricksError(code, message);
  // Async calls capture `site` before the native call so the stack points at the caller.
  if (site?.stack) err.stack = `${err.name}: ${message}\n${site.stack.split('\n').slice(1).join('\n')}`;
  return err;
}

/** Runs a synchronous native call, converting its errors. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNative(e);
  }
}

/** Awaits an asynchronous native call, converting its errors and keeping the caller's stack. */
export async function callNativeAsync<T>(fn: () => Promise<T>): Promise<T> {
  const site = new Error();
  try {
    return await fn();
  } catch (e) {
    throw fromNative(e, site);
  }
}
