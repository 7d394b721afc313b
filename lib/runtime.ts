/** The core's run-time settings and the machine it runs on. */
import { callNative } from './errors';
import { CudaInfo, native } from './native';
import { expectInt } from './validate';

/** Threads of the core's pool (default: every core, or BAGOFTRICKS_THREADS). */
export function getThreads(): number {
  return native().runtime.getThreads();
}

/** Sets the threads of the core's pool, 1 to 256. */
export function setThreads(threads: number): void {
  expectInt('threads', threads, 1, 256);
  callNative(() => native().runtime.setThreads(threads));
}

/** CPU features the kernels use, and whether the AVX2/FMA kernels are in use. */
export function cpuFeatures() {
  return native().runtime.cpuFeatures();
}

/**
 * The core clock in GHz, measured with a dependent integer-multiply chain (~0.2 s);
 * /proc/cpuinfo often reports the nominal rate instead. 0 where it cannot be measured.
 */
export function measureClockGHz(): number {
  return native().runtime.measureClockGHz();
}

/** The CUDA backend's status: whether it was compiled in, the device, or why it is unusable. */
export function cudaInfo(): CudaInfo {
  return native().runtime.cudaInfo();
}

export { getBackend, setBackend } from './backend';
export type { Backend } from './backend';
export type { CudaInfo } from './native';
