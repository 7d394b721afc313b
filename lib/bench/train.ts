/**
 * `bagoftricks bench train`: training throughput of a model on this machine.
 *
 *   bagoftricks bench train --model resnet50d --batch-size 32 --size 224 --steps 5 [--json]
 *
 * Builds the model, compiles a Net, runs one warm-up step (buffers touched, scratch
 * grown) and then `--steps` timed steps on a fixed random batch, and reports images per
 * second and milliseconds per step. With --json: one line
 * {"model","batchSize","size","steps","imgPerSec","msPerStep","backend","threads","memoryBytes",...}.
 */
import { BagOfTricksError } from '../errors';
import { createModel } from '../models';
import { Net, ProfileEntry } from '../net';
import { cudaInfo, getThreads } from '../runtime';
import { parseFlags, UsageError, usageLine } from '../cli/args';
import { chooseBackend } from '../cli/train';
import type { ModelName } from '../models';

export const BENCH_TRAIN_USAGE = `Usage: bagoftricks bench train [--model NAME] [--batch-size N] [--size N] [--steps N]
                              [--classes N] [--width X] [--stem imagenet|cifar] [--precision fp32|fp16]
                              [--warmup N] [--backend auto|cpu|cuda] [--profile] [--json]

  --model NAME     default resnet50d
  --batch-size N   default 32
  --size N         input height and width, default 224
  --steps N        timed steps after the warm-up steps, default 5
  --warmup N       untimed steps first (buffers touched, scratch grown), default 1
  --precision P    fp32 (default) or fp16 (mixed precision; emulated on the CPU)
  --classes N      default 1000
  --width X        channel multiplier, default 1
  --backend B      auto (default: CUDA when a usable GPU exists), cpu or cuda (which
                   fails with ERR_CUDA_UNAVAILABLE and the reason where there is none)
  --profile        time per op kind (forward, backward, loss, update) over the timed steps
  --json           one JSON line
`;

export interface TrainBenchResult {
  model: string;
  batchSize: number;
  size: number;
  steps: number;
  imgPerSec: number;
  msPerStep: number;
  stepMs: number[];
  precision: 'fp32' | 'fp16';
  warmup: number;
  backend: 'cpu' | 'cuda';
  threads: number;
  memoryBytes: number;
  params: number;
  gflopPerImage: number;
  cudaReason: string;
  /** With profile: seconds per op kind and phase over the timed steps, most expensive first. */
  profile?: ProfileEntry[];
}

/** Runs the benchmark; also used by benchmarks/train.js. */
export async function benchTrain(o: {
  model: string; batchSize: number; size: number; steps: number; classes: number; width: number; stem: 'imagenet' | 'cifar';
  profile?: boolean; precision?: 'fp32' | 'fp16'; warmup?: number; backend?: 'cpu' | 'cuda';
}): Promise<TrainBenchResult> {
  const model = createModel(o.model as ModelName, { numClasses: o.classes, width: o.width, stem: o.stem, seed: 0 });
  const summary = model.summary(o.size);
  const precision = o.precision ?? 'fp32';
  const warmup = o.warmup ?? 1;
  const net = Net.fromModel(model, { batchSize: o.batchSize, inputSize: o.size, precision, backend: o.backend ?? 'cpu' });
  try {
    const images = { data: new Float32Array(o.batchSize * o.size * o.size * 3), shape: [o.batchSize, o.size, o.size, 3] };
    let s = 12345;
    for (let i = 0; i < images.data.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      images.data[i] = (s / 4294967296 - 0.5) * 2;
    }
    const labels = Int32Array.from({ length: o.batchSize }, (_, i) => i % o.classes);
    const batch = { images, labels, lr: 0.01, smoothing: 0.1, lossScale: precision === 'fp16' ? 1024 : 1 };
    for (let i = 0; i < warmup; i++) await net.trainStep(batch);
    if (o.profile) net.setProfiling(true);
    const stepMs: number[] = [];
    for (let i = 0; i < o.steps; i++) {
      const t0 = process.hrtime.bigint();
      await net.trainStep(batch);
      stepMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const total = stepMs.reduce((a, b) => a + b, 0);
    return {
      model: o.model,
      batchSize: o.batchSize,
      size: o.size,
      steps: o.steps,
      imgPerSec: (o.batchSize * o.steps) / (total / 1000),
      msPerStep: total / o.steps,
      stepMs,
      precision,
      warmup,
      backend: net.backend,
      threads: getThreads(),
      memoryBytes: net.memoryBytes(),
      params: summary.params,
      // Forward MACs × 2 FLOP, × 3 for forward + backward-data + backward-filter.
      gflopPerImage: (summary.macs * 2 * 3) / 1e9,
      cudaReason: cudaInfo().available ? '' : cudaInfo().reason,
      ...(o.profile ? { profile: net.profile() } : {}),
    };
  } finally {
    net.dispose();
  }
}

export async function benchTrainCli(argv: string[]): Promise<number> {
  let flags;
  try {
    ({ flags } = parseFlags(argv, {
      model: { type: 'string' },
      'batch-size': { type: 'int', min: 1, max: 4096 },
      size: { type: 'int', min: 8, max: 4096 },
      steps: { type: 'int', min: 1, max: 100000 },
      classes: { type: 'int', min: 2, max: 1 << 20 },
      width: { type: 'number', min: 1e-3, max: 16 },
      stem: { type: 'string', choices: ['imagenet', 'cifar'] },
      backend: { type: 'string', choices: ['cpu', 'auto', 'cuda'] },
      precision: { type: 'string', choices: ['fp32', 'fp16'] },
      warmup: { type: 'int', min: 0, max: 100000 },
      json: { type: 'bool' },
      profile: { type: 'bool' },
      help: { type: 'bool' },
    }));
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(usageLine('bench train', e.message));
      return 2;
    }
    throw e;
  }
  if (flags.help) {
    console.log(BENCH_TRAIN_USAGE);
    return 0;
  }
  const opts = {
    model: (flags.model as string) ?? 'resnet50d',
    batchSize: (flags['batch-size'] as number) ?? 32,
    size: (flags.size as number) ?? 224,
    steps: (flags.steps as number) ?? 5,
    classes: (flags.classes as number) ?? 1000,
    width: (flags.width as number) ?? 1,
    stem: ((flags.stem as string) ?? 'imagenet') as 'imagenet' | 'cifar',
    profile: Boolean(flags.profile),
    precision: ((flags.precision as string) ?? 'fp32') as 'fp32' | 'fp16',
    warmup: (flags.warmup as number) ?? 1,
  };
  let r: TrainBenchResult;
  try {
    const backend = chooseBackend(((flags.backend as string) ?? 'auto') as 'auto' | 'cpu' | 'cuda');
    if (!flags.json) {
      const where = backend.backend === 'cuda'
        ? `on ${backend.line.replace(/^backend: /, '')}`
        : `on the CPU (${getThreads()} threads; CUDA not used: ${backend.cudaReason})`;
      const emulated = opts.precision === 'fp16' && backend.backend === 'cpu' ? ' (emulated)' : '';
      console.log(`bench train: ${opts.model}, batch ${opts.batchSize}, ${opts.size}², ${opts.precision}${emulated} ${where}`);
    }
    r = await benchTrain({ ...opts, backend: backend.backend });
  } catch (e) {
    if (e instanceof BagOfTricksError && e.code === 'ERR_ARGUMENT') {
      console.error(`bagoftricks bench train: ${e.message}`);
      return 2;
    }
    if (e instanceof BagOfTricksError) {
      if (flags.json) console.log(JSON.stringify({ error: { code: e.code, message: e.message } }));
      console.error(`bagoftricks: ${e.code}: ${e.message}`);
      return 1;
    }
    throw e;
  }
  if (flags.json) {
    console.log(JSON.stringify(r));
  } else {
    console.log(`${r.imgPerSec.toFixed(2)} img/s, ${r.msPerStep.toFixed(0)} ms/step over ${r.steps} steps ` +
      `(${(r.imgPerSec * r.gflopPerImage).toFixed(1)} GFLOP/s at ${r.gflopPerImage.toFixed(1)} GFLOP per image; ` +
      `Net memory ${(r.memoryBytes / 2 ** 20).toFixed(0)} MiB)`);
    if (r.profile) {
      const total = r.profile.reduce((a, e) => a + e.seconds, 0);
      console.log(`time per op over ${r.steps} steps (${total.toFixed(2)} s profiled):`);
      for (const e of r.profile) {
        console.log(`  ${`${e.op} ${e.phase}`.padEnd(26)} ${e.seconds.toFixed(3).padStart(9)} s  ${((100 * e.seconds) / total).toFixed(1).padStart(5)}%  ${String(e.calls).padStart(6)} calls`);
      }
    }
  }
  return 0;
}
