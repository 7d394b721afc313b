#!/usr/bin/env node
/**
 * The `bagoftricks` command line. Commands of this version: train, eval, predict, export, doctor, info,
 * bench, version, help. Exit codes: 0 success, 1 a failure while running, 2 bad usage,
 * 130 training interrupted by Ctrl-C (after saving).
 */
import * as os from 'os';
import * as path from 'path';
import { BagOfTricksError } from './errors';
import { info } from './cli/info';
import { benchTrainCli } from './bench/train';
import { benchData } from './bench/data';
import { trainCli } from './cli/train';
import { evalCli } from './cli/eval';
import { predictCli } from './cli/predict';
import { exportCli } from './cli/export';
import { packCli } from './cli/pack';
import { cpuFeatures, cudaInfo, getThreads } from './runtime';
import { nativeFile } from './native';
import { distributedSupport, launchedRank } from './dist';
import { nearest, unknownOption, usageLine } from './cli/args';

const USAGE = `Usage: bagoftricks <command> [options]

Commands:
  train [--data DIR|mnist] [--model NAME] [--recipe tricks|baseline] [--epochs N] ... [--json]
                    train a classifier (default: the embedded MNIST digits); train --help
  eval --checkpoint F --data DIR|mnist [--json]
                    top-1/top-5 of a checkpoint on a data set
  predict --checkpoint F IMAGE... [--topk 5] [--json]
                    top-k labels with scores for each image
  export --checkpoint F --onnx OUT [--model NAME] [--opset 17] [--fold-bn] [--json]
                    a checkpoint or state dict as an ONNX file; export --help
  pack DIR OUT [--max-side 256] [--quality 90] [--format jpeg|raw] [--json]
                    an ImageFolder as one packed file for fast loading; pack --help
  doctor [--json]   what this machine offers: Node, N-API, CPU features, threads, CUDA
  info <model> [--size N] [--classes N] [--width X] [--stem imagenet|cifar] [--json]
                    a model's layers, parameters and multiply-adds
  info [--json]     every model's parameters and multiply-adds
  bench train [--model NAME] [--batch-size N] [--size N] [--steps N] [--json]
                    training throughput (img/s) of a model on this machine
  bench data --data DIR|PACK [--size 224] [--batch-size 64] [--json]
                    decode + augment throughput (img/s) of the data pipeline on a folder
                    or a packed file
  version           the package version
  help              this text

Every command answers -h and --help with its own usage.
`;

const DOCTOR_USAGE = `Usage: bagoftricks doctor [--json]

What this machine offers bagoftricks: Node and N-API, the addon file in use (prebuilt or
built from source), CPU features and the kernels they select, threads, sharp and libvips,
CUDA (built in, driver, devices) and the backend a run would use, with the reason.

  --json   one JSON line instead of text
`;

const BENCH_USAGE = `Usage: bagoftricks bench <train|data> [options]

  bench train [--model NAME] [--batch-size N] [--size N] [--steps N] [--json]
                    training throughput (img/s) of a model on this machine
  bench data --data DIR [--size 224] [--batch-size 64] [--json]
                    decode + augment throughput (img/s) of the data pipeline on a folder

bagoftricks bench train --help and bench data --help list their options.
`;

const COMMANDS = ['train', 'eval', 'predict', 'export', 'pack', 'doctor', 'info', 'bench', 'version', 'help'];

/** "unknown command \"trian\"; did you mean train?" */
function unknownCommand(scope: string, cmd: string, known: readonly string[]): string {
  const near = nearest(cmd, known);
  return `bagoftricks${scope ? ` ${scope}` : ''}: unknown command ${JSON.stringify(cmd)}${near ? `; did you mean ${near}?` : ''} (see bagoftricks${scope ? ` ${scope}` : ''} --help)`;
}

export interface DoctorReport {
  bagoftricks: string;
  node: string;
  napi: string;
  platform: string;
  /** The addon file in use: a prebuild (prebuilds/<platform>-<arch>/...) or a source build (build/Release/...). */
  addon: string;
  cpu: { model: string; cores: number; avx2: boolean; fma: boolean; f16c: boolean; avx512f: boolean; avx2KernelsUsed: boolean; avx512KernelsUsed: boolean };
  threads: number;
  /** The image decoder: sharp and its libvips (null with the reason when sharp cannot load). */
  sharp: { version: string; libvips: string; simd: boolean } | { error: string };
  cuda: ReturnType<typeof cudaInfo>;
  /** Data-parallel training: MPI built in (its library's version), NCCL built in, and this process's rank when a launcher started it. */
  distributed: { mpi: boolean; library: string; nccl: boolean; launched: { rank: number; size: number } | null };
  backend: 'cuda' | 'cpu';
  backendReason: string;
}

function sharpInfo(): DoctorReport['sharp'] {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const sharp = require('sharp') as { versions: Record<string, string>; simd(): boolean };
    return { version: sharp.versions.sharp ?? 'unknown', libvips: sharp.versions.vips ?? 'unknown', simd: sharp.simd() };
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] };
  }
}

export function doctor(): DoctorReport {
  const f = cpuFeatures();
  const cuda = cudaInfo();
  const cpus = os.cpus();
  return {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    bagoftricks: require('../package.json').version,
    node: process.version,
    napi: process.versions.napi ?? 'unknown',
    platform: `${process.platform}-${process.arch}`,
    addon: nativeFile(),
    cpu: { model: cpus[0]?.model ?? 'unknown', cores: cpus.length, ...f },
    threads: getThreads(),
    sharp: sharpInfo(),
    cuda,
    distributed: { ...distributedSupport(), launched: launchedRank() },
    backend: cuda.available ? 'cuda' : 'cpu',
    backendReason: cuda.available
      ? `CUDA device 0: ${cuda.devices[0].name}${cuda.simulator ? ' (the functional PTX simulator of a test build: kernels run on the CPU, thread by thread, not on a GPU)' : ''}`
      : `CPU, because CUDA is unavailable: ${cuda.reason}`,
  };
}

/** CUDA's integer versions (1000 × major + 10 × minor) as "13.0". */
function cudaVersion(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

function printDoctor(r: DoctorReport): void {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const lines = [
    `bagoftricks ${r.bagoftricks} on Node ${r.node} (N-API ${r.napi}, ${r.platform})`,
    `addon      ${r.addon}${r.addon.includes(`${path.sep}prebuilds${path.sep}`) ? ' (prebuilt)' : ''}`,
    `CPU        ${r.cpu.model}, ${r.cpu.cores} logical cores`,
    `           AVX2 ${yes(r.cpu.avx2)}, FMA ${yes(r.cpu.fma)}, F16C ${yes(r.cpu.f16c)}; AVX2/FMA kernels in use: ${yes(r.cpu.avx2KernelsUsed)}`,
    `           AVX-512F ${yes(r.cpu.avx512f)}; AVX-512 kernels in use: ${yes(r.cpu.avx512KernelsUsed)} (BAGOFTRICKS_NO_AVX512=1 turns them off)`,
    `threads    ${r.threads} (set BAGOFTRICKS_THREADS to change)`,
    'error' in r.sharp ? `images     sharp could not be loaded: ${r.sharp.error}` : `images     sharp ${r.sharp.version}, libvips ${r.sharp.libvips}${r.sharp.simd ? ' (SIMD)' : ''}`,
    `CUDA       built in: ${yes(r.cuda.compiled)}${r.cuda.compiled ? ` (SM ${r.cuda.archs}, runtime ${cudaVersion(r.cuda.runtimeVersion)})` : ''}`,
  ];
  if (r.cuda.simulator) lines.push('           simulator build (BAGOFTRICKS_CUDA_SIM): CUDA runs on a functional PTX simulator, for tests only');
  if (r.cuda.driverVersion) lines.push(`           driver supports CUDA ${cudaVersion(r.cuda.driverVersion)}`);
  for (const d of r.cuda.devices) {
    lines.push(`           device ${d.index}: ${d.name}, compute ${d.computeCapability}, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB, ${d.multiprocessors} SMs`);
  }
  if (!r.cuda.available) lines.push(`           not used: ${r.cuda.reason}`);
  const d = r.distributed;
  lines.push(d.mpi
    ? `MPI        ${d.library}${d.launched ? `; this process is rank ${d.launched.rank} of ${d.launched.size}` : ''}`
    : 'MPI        not built in: data-parallel training needs Open MPI (apt-get install openmpi-bin libopenmpi-dev) and a rebuild');
  lines.push(`NCCL       built in: ${yes(d.nccl)}${d.nccl ? '' : ' (data-parallel training on CUDA is not available in this build)'}`);
  lines.push(`backend    ${r.backendReason}`);
  console.log(lines.join('\n'));
}

/** `bench <what> ...`: each benchmark lives in lib/bench/. Returns a promise of the exit code. */
const BENCHES: Record<string, (argv: string[]) => Promise<number>> = {
  train: benchTrainCli,
  data: benchData,
};

function bench(argv: string[]): Promise<number> | number {
  const [what, ...rest] = argv;
  if (what === '--help' || what === '-h') {
    console.log(BENCH_USAGE);
    return 0;
  }
  if (what === undefined) {
    console.error(usageLine('bench', `which benchmark? one of ${Object.keys(BENCHES).join(', ')}`));
    return 2;
  }
  const run = Object.prototype.hasOwnProperty.call(BENCHES, what) ? BENCHES[what] : undefined;
  if (!run) {
    console.error(what.startsWith('-') ? usageLine('bench', unknownOption(what, ['--help']).message) : unknownCommand('bench', what, Object.keys(BENCHES)));
    return 2;
  }
  return run(rest);
}

export function main(argv: string[]): number | Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'doctor': {
        if (rest.includes('--help') || rest.includes('-h')) {
          console.log(DOCTOR_USAGE);
          return 0;
        }
        const unknown = rest.filter((a) => a !== '--json');
        if (unknown.length) {
          console.error(usageLine('doctor', unknown[0].startsWith('-') ? unknownOption(unknown[0], ['--json', '--help']).message : `unexpected argument ${JSON.stringify(unknown[0])}`));
          return 2;
        }
        const r = doctor();
        if (rest.includes('--json')) console.log(JSON.stringify(r));
        else printDoctor(r);
        return 0;
      }
      case 'info':
        return info(rest);
      case 'train':
        return trainCli(rest);
      case 'eval':
        return evalCli(rest);
      case 'predict':
        return predictCli(rest);
      case 'export':
        return exportCli(rest);
      case 'pack':
        return packCli(rest);
      case 'bench':
        return bench(rest);
      case 'version':
      case '--version':
      case '-v':
        if (rest.includes('--help') || rest.includes('-h')) {
          console.log('Usage: bagoftricks version\n\nPrints the package version.');
          return 0;
        }
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        console.log(require('../package.json').version);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        console.error(cmd.startsWith('-') ? `bagoftricks: unknown option ${cmd} (see bagoftricks --help)` : unknownCommand('', cmd, COMMANDS));
        return 2;
    }
  } catch (e) {
    if (e instanceof BagOfTricksError) {
      console.error(`bagoftricks: ${e.code}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (require.main === module) {
  Promise.resolve(main(process.argv.slice(2))).then(
    (code) => (process.exitCode = code),
    (e) => {
      console.error(e instanceof BagOfTricksError ? `bagoftricks: ${e.code}: ${e.message}` : e);
      process.exitCode = 1;
    },
  );
}
