/**
 * Loads the native addon: a prebuild from prebuilds/ when one matches this platform,
 * else the build output (build/Release). BAGOFTRICKS_ADDON names a .node file to load
 * instead. A load failure becomes ERR_NATIVE_LOAD with the reason and the fix.
 */
import * as path from 'path';
import { BagOfTricksError } from './errors';

/* eslint-disable @typescript-eslint/no-explicit-any */
export interface NativeAddon {
  ops: Record<string, (...args: any[]) => any>;
  /** The compiled-model class (see lib/net.ts). */
  Net: new (graph: unknown, options: unknown) => unknown;
  runtime: {
    getThreads(): number;
    setThreads(n: number): void;
    cpuFeatures(): { avx2: boolean; fma: boolean; f16c: boolean; avx512f: boolean; avx2KernelsUsed: boolean; avx512KernelsUsed: boolean };
    cudaInfo(): CudaInfo;
    measureClockGHz(): number;
    cudaSelftest(n: number): number;
    cudaAllocate(bytes: number): void;
    cudaCompiled: boolean;
  };
}

/** One CUDA device as the driver reports it. */
export interface CudaDevice {
  /** Device ordinal (0 is the one the core uses). */
  index: number;
  /** Marketing name, e.g. "NVIDIA H100 80GB HBM3". */
  name: string;
  /** "major.minor", e.g. "9.0". */
  computeCapability: string;
  /** Global memory in bytes. */
  totalMemory: number;
  /** Streaming multiprocessors (SMs). */
  multiprocessors: number;
}

/** What runtime.cudaInfo() reports about the CUDA backend. */
export interface CudaInfo {
  /** The addon was built with CUDA code. */
  compiled: boolean;
  /** A usable CUDA device exists. */
  available: boolean;
  /** Why CUDA cannot be used (empty when available). */
  reason: string;
  /** CUDA driver version as CUDA encodes it (1000·major + 10·minor, e.g. 12040); 0 without a driver. */
  driverVersion: number;
  /**
   * Version of the CUDA runtime linked into the addon, encoded like driverVersion; 0 when not compiled in.
   */
  runtimeVersion: number;
  /** The SM targets compiled in, comma-separated (e.g. "80,90"); empty when not compiled with CUDA. */
  archs: string;
  /**
   * The addon was built for the functional PTX simulator (BAGOFTRICKS_CUDA_SIM, `npm run
   * test:cuda-sim`): its "device" runs kernels thread by thread on the CPU, for tests only.
   */
  simulator: boolean;
  /** The visible devices (empty when unavailable). */
  devices: CudaDevice[];
}

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (addon) return addon;
  const root = path.join(__dirname, '..');
  try {
    const override = process.env.BAGOFTRICKS_ADDON;
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    addon = override ? require(path.resolve(override)) : require('node-gyp-build')(root);
  } catch (e) {
    throw new BagOfTricksError(
      'ERR_NATIVE_LOAD',
      `bagoftricks: the native addon could not be loaded (${(e as Error).message}). ` +
        'Rebuild it with `npm rebuild bagoftricks` (needs cmake ≥ 3.18 and a C++17 compiler).',
    );
  }
  return addon!;
}
