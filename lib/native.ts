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
  /** The MPI process group of a data-parallel run (see lib/dist.ts). */
  dist: {
    built(): boolean;
    library(): string;
    init(timeoutSeconds: number): { rank: number; size: number; library: string };
    setTimeout(seconds: number): void;
    allreduce(data: Float64Array, op: 'sum' | 'min' | 'max'): Promise<Float64Array>;
    barrier(): Promise<void>;
    timeAllreduce(bucketNumel: number[]): Promise<number>;
    abort(code: number): never;
    finalize(): void;
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
let addonFile: string | undefined;

/** The message of a failed addon load: what happened (its first line) and what to run. */
export function nativeLoadMessage(reason: string, file: string | undefined): string {
  const first = reason.split('\n')[0].trim();
  return (
    `the native addon ${file ? `${file} ` : ''}could not be loaded: ${first}. ` +
    'Run `npm rebuild bagoftricks --foreground-scripts` to build it from source (needs cmake ≥ 3.18 and a C++17 compiler).'
  );
}

export function native(): NativeAddon {
  if (addon) return addon;
  const root = path.join(__dirname, '..');
  let file: string | undefined;
  try {
    const override = process.env.BAGOFTRICKS_ADDON;
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    file = override ? path.resolve(override) : require('node-gyp-build').resolve(root);
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    addon = require(file!);
  } catch (e) {
    throw new BagOfTricksError('ERR_NATIVE_LOAD', nativeLoadMessage((e as Error).message, file));
  }
  addonFile = file;
  return addon!;
}

/** The file the addon was loaded from (loading it first), e.g. `.../prebuilds/linux-x64/bagoftricks.napi.glibc.node`. */
export function nativeFile(): string {
  native();
  return addonFile!;
}
