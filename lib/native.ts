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
    cpuFeatures(): { avx2: boolean; fma: boolean; f16c: boolean; avx512f: boolean; avx2KernelsUsed: boolean };
    cudaInfo(): CudaInfo;
    measureClockGHz(): number;
    cudaSelftest(n: number): number;
    cudaCompiled: boolean;
  };
}

export interface CudaDevice {
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  multiprocessors: number;
}

export interface CudaInfo {
  /** The addon was built with CUDA code. */
  compiled: boolean;
  /** A usable CUDA device exists. */
  available: boolean;
  /** Why CUDA cannot be used (empty when available). */
  reason: string;
  driverVersion: number;
  runtimeVersion: number;
  archs: string;
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
