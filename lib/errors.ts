/**
 * Errors raised by bagoftricks. Every error has a stable `code`; messages may change,
 * codes do not.
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
  | 'ERR_BUSY'
  | 'ERR_NON_FINITE'
  | 'ERR_DISPOSED'
  | 'ERR_CHECKPOINT_FORMAT'
  | 'ERR_WEIGHTS_MISMATCH'
  | 'ERR_IMAGE_DECODE'
  | 'ERR_IMAGE_TOO_LARGE'
  | 'ERR_DATASET'
  | 'ERR_INTERNAL';

export class BagOfTricksError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'BagOfTricksError';
    this.code = code;
  }
}

const KNOWN = new Set<string>([
  'ERR_SHAPE', 'ERR_DTYPE', 'ERR_ARGUMENT', 'ERR_OUT_OF_MEMORY', 'ERR_CUDA_UNAVAILABLE',
  'ERR_CUDA_OOM', 'ERR_CUDA_FATAL', 'ERR_NATIVE_LOAD', 'ERR_BUSY', 'ERR_NON_FINITE', 'ERR_DISPOSED', 'ERR_CHECKPOINT_FORMAT', 'ERR_WEIGHTS_MISMATCH', 'ERR_IMAGE_DECODE', 'ERR_IMAGE_TOO_LARGE', 'ERR_DATASET', 'ERR_INTERNAL',
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
