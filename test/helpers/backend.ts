/**
 * The backend the op tests run on: BAGOFTRICKS_BACKEND ('cpu' when unset, or 'cuda'),
 * set once when this helper is loaded. The op tests then call the public ops as before and
 * compare with the CPU core's *Reference oracles and the float64 references, so on 'cuda'
 * every comparison is GPU against CPU.
 *
 * A file that uses it registers `backendTest(test)` first: asking for 'cuda' without a
 * usable device FAILS that test (with runtime.cudaInfo().reason) instead of letting the
 * rest of the file pass silently on the CPU.
 */
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { DType, TOLERANCE } from './compare';
import { bot } from './lib';

/** What the environment asks for. */
export const REQUESTED: string = process.env.BAGOFTRICKS_BACKEND || 'cpu';

let setupError: string | undefined;
try {
  bot.runtime.setBackend(REQUESTED as 'cpu' | 'cuda');
} catch (e) {
  setupError = `${(e as { code?: string }).code}: ${(e as Error).message}`;
}

/** The backend actually in use. */
export const BACKEND = bot.runtime.getBackend();

/**
 * |actual − expected| ≤ atol + rtol·|expected| for results of `dtype` operands on the
 * backend in use: the CPU's own tolerances; on CUDA, FP32 kernels to ~1e-5 relative, FP16
 * operands (rounded inputs, FP32 accumulation) to ~1e-2.
 */
export function tolerance(dtype: DType = 'f32', backend: string = BACKEND): { atol: number; rtol: number } {
  if (backend !== 'cuda') return TOLERANCE[dtype];
  return dtype === 'f32' ? { atol: 1e-4, rtol: 1e-5 } : { atol: 1e-2, rtol: 1e-2 };
}

/** Registers the test that fails when the requested backend is not the one in use. */
export function backendTest(test: Test): void {
  test(`backend: BAGOFTRICKS_BACKEND=${REQUESTED} is usable and in use`, () => {
    assert.is(setupError, undefined, `BAGOFTRICKS_BACKEND=${REQUESTED} cannot be used: ${setupError}`);
    assert.is(bot.runtime.getBackend(), REQUESTED);
  });
}
