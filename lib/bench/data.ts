/**
 * `bagoftricks bench data`: decode and augment every image of a folder with the train
 * transform, as a trainer would consume it, and report throughput and where the time goes.
 *
 *   bagoftricks bench data --data DIR [--size 224] [--batch-size 64] [--workers N]
 *                          [--repeat N] [--transform train|eval] [--output f32|f16|uint8]
 *                          [--stages] [--json]
 *
 * The first --warmup batches (default 4) are not timed. The images are every file under DIR (recursively) whose content is an image, or every
 * record of a packed file (bagoftricks pack); --repeat lists them N times (for a small corpus
 * of photos). --stages applies to folders only. With --json one line:
 *   {"images","skipped":[paths],"leftOut":[{path,reason}],"leftOutCount","imgPerSec", ...}
 * `images` counts the good images delivered, `timedImages` those after the `warmupBatches`
 * (the rates and per-image figures are over those); `skipped` lists the files that failed to decode,
 * by path; `leftOut` every file left out with its reason, once each: at listing (not an
 * image, empty, a dangling link, ...) and at decoding (corrupt, truncated, too large).
 * The text output gives the count by reason and the first paths. Extra fields:
 * `cpuMsPerImage` (process CPU time per image, all threads), `stagesMsPerImage` (wall time of
 * each stage per image, summed over the concurrent workers: read, header, pixels = decode +
 * crop + resize + flip in sharp, colour = the fused native pass), `waitMs` (time the consumer
 * waited), `imgPerCpuSecond` (images per second of CPU time: what one core sustains, less
 * disturbed by other processes than wall time), `decoders` (images decoded by the core's JPEG
 * path and by sharp), and the settings used. --stages adds `stagesCpuMsPerImage`: each stage run alone,
 * one image at a time, timed as process CPU time (all threads) on up to 200 images: reading
 * the file, decoding the whole image, the train pipeline (decode + crop + resize + flip),
 * libvips' colour management of embedded profiles (what the ICC fast path saves), the core's
 * profile conversion and the fused colour pass.
 */
import * as os from 'os';
import * as path from 'path';
import { BagOfTricksError } from '../errors';
import { DataLoader, OutputType } from '../data/loader';
import { ImageList, Subset } from '../data/dataset';
import { PackedDataset, isPackFile } from '../data/pack';
import { listImages } from '../data/imagefolder';
import { promises as fsp } from 'fs';
import { DECODE_DEFAULTS, Decoded, Geometry, decodeImage, jpegPath, loadSharp, sharpSettings } from '../data/decode';
import { randomResizedCrop } from '../data/transforms';
import { Rng } from '../data/rng';
import { augmentInto, srgbFromProfileInPlace } from '../ops/augment';
import { UsageError, unknownOption, usageLine } from '../cli/args';

const USAGE = `Usage: bagoftricks bench data --data DIR [options]

Decodes and augments every image under DIR (recursively) and reports images per second.

Options:
  --data DIR|PACK     folder of images, or a packed file (bagoftricks pack) (required)
  --size N            output side in pixels (default 224)
  --batch-size N      images per batch (default 64)
  --workers N         images decoded at once (default: twice the cores)
  --prefetch N        batches decoded ahead (default 2)
  --repeat N          list the images N times (default 1)
  --warmup N          batches run before the timing starts (default 4: the loader's pools
                      filled; a fresh f32 batch of 64 at 224² is 38 MB of first-touched pages)
  --transform T       train (default) or eval
  --output T          f32 (default), f16 or uint8 (no colour pass)
  --decoder D         auto (default: the core's JPEG path for plain JPEGs, sharp for the
                      rest) or sharp (sharp for every image)
  --stages            also time each stage alone (CPU ms per image, one at a time)
  --json              one JSON line instead of text
`;

interface Args {
  data: string;
  size: number;
  batchSize: number;
  workers: number;
  prefetch: number;
  repeat: number;
  warmup: number;
  transform: 'train' | 'eval';
  output: OutputType;
  decoder: 'auto' | 'sharp';
  stages: boolean;
  json: boolean;
}


function parse(argv: string[]): Args | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const ints: Record<string, [keyof Args, number, number]> = {
    '--size': ['size', 1, 16384],
    '--batch-size': ['batchSize', 1, 65536],
    '--workers': ['workers', 1, 1024],
    '--prefetch': ['prefetch', 1, 1024],
    '--repeat': ['repeat', 1, 1_000_000],
    '--warmup': ['warmup', 0, 1_000_000],
  };
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const a: Args = { data: '', size: 224, batchSize: 64, workers: 2 * cores, prefetch: 2, repeat: 1, warmup: 4, transform: 'train', output: 'f32', decoder: 'auto', stages: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? [argv[i].slice(0, argv[i].indexOf('=')), argv[i].slice(argv[i].indexOf('=') + 1)] : [argv[i], undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--json' && inline === undefined) a.json = true;
    else if (flag === '--stages' && inline === undefined) a.stages = true;
    else if (flag === '--data') a.data = value();
    else if (flag === '--transform') {
      const v = value();
      if (v !== 'train' && v !== 'eval') throw new UsageError(`--transform must be train or eval, not ${JSON.stringify(v)}`);
      a.transform = v;
    } else if (flag === '--output') {
      const v = value();
      if (v !== 'f32' && v !== 'f16' && v !== 'uint8') throw new UsageError(`--output must be f32, f16 or uint8, not ${JSON.stringify(v)}`);
      a.output = v;
    } else if (flag === '--decoder') {
      const v = value();
      if (v !== 'auto' && v !== 'sharp') throw new UsageError(`--decoder must be auto or sharp, not ${JSON.stringify(v)}`);
      a.decoder = v;
    } else if (flag in ints) {
      const [key, lo, hi] = ints[flag];
      const raw = value();
      const n = Number(raw);
      if (!Number.isInteger(n) || n < lo || n > hi) throw new UsageError(`${flag} expects an integer in [${lo}, ${hi}] but received ${JSON.stringify(raw)}`);
      (a as unknown as Record<string, number>)[key] = n;
    } else throw unknownOption(flag, ['--data', '--transform', '--output', '--decoder', '--json', '--stages', ...Object.keys(ints)]);
  }
  if (!a.data) throw new UsageError('--data DIR is required');
  return a;
}

export interface DataBenchReport {
  images: number;
  skipped: string[];
  leftOut: { path: string; reason: string }[];
  leftOutCount: number;
  /** Images in the timed part (after the warm-up batches). */
  timedImages: number;
  /** Batches run before the timing started (0 when the run had no more than --warmup). */
  warmupBatches: number;
  imgPerSec: number;
  imgPerSecPerCore: number;
  /** Images per second of CPU time (1000 / cpuMsPerImage): per core, whatever else runs. */
  imgPerCpuSecond: number;
  cores: number;
  /** Images decoded by the core's JPEG path and by sharp. */
  decoders: { jpegPath: number; sharp: number; jpegVersion: string };
  seconds: number;
  cpuMsPerImage: number;
  stagesMsPerImage: { read: number; header: number; pixels: number; colour: number };
  waitMs: number;
  stagesCpuMsPerImage?: StageTimes;
  settings: Omit<Args, 'json' | 'stages'> & { uvThreadpoolSize: number; sharpConcurrency: number; vips: string };
}

/** Runs the benchmark; resolves to the exit code (0 ok, 1 failure, 2 usage). */
export async function benchData(argv: string[]): Promise<number> {
  let parsed: Args | 'help';
  try {
    parsed = parse(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(usageLine('bench data', e.message));
      return 2;
    }
    throw e;
  }
  if (parsed === 'help') {
    console.log(USAGE);
    return 0;
  }
  const args = parsed;
  // sharp runs on libuv's pool, 4 threads unless set before the pool starts: this process
  // has not used it yet, so the setting still applies.
  if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.max(4, args.workers));
  // The operation cache only helps when the same pipeline repeats; here it would hold memory.
  loadSharp().cache(false);
  try {
    // A packed file (bagoftricks pack) or a folder of images.
    const packed = isPackFile(path.resolve(args.data)) ? new PackedDataset(path.resolve(args.data)) : null;
    const { files, ignored } = packed ? { files: [] as string[], ignored: [] } : listImages(path.resolve(args.data));
    if (packed ? packed.length === 0 : files.length === 0) {
      console.error(`bagoftricks bench data: no images under ${args.data}`);
      return 1;
    }
    const list: string[] = [];
    for (let r = 0; r < args.repeat; r++) list.push(...files);
    const dataset = packed ? new Subset(packed, Int32Array.from({ length: packed.length * args.repeat }, (_, i) => i % packed.length)) : new ImageList(list);
    const loader = new DataLoader(dataset, {
      batchSize: args.batchSize,
      size: args.size,
      workers: args.workers,
      prefetch: args.prefetch,
      transform: args.transform,
      output: args.output,
      jpegPath: args.decoder === 'auto',
      seed: 0,
    });
    // The first batches fill the loader's array pools (first-touched pages) and warm up the
    // decoders: timed from the end of batch `warmup` on, as a long epoch runs (from the start
    // when the run has no more batches than that).
    const start = { cpu: process.cpuUsage(), t: performance.now(), stats: { ...loader.stats }, images: 0 };
    let mark = start;
    let images = 0;
    let batches = 0;
    for await (const batch of loader) {
      batch.release(); // as a trainer does once the step has consumed it
      images += batch.labels.length;
      if (++batches === args.warmup) mark = { cpu: process.cpuUsage(), t: performance.now(), stats: { ...loader.stats }, images };
    }
    if (batches <= args.warmup) mark = start;
    const warmupBatches = mark === start ? 0 : args.warmup;
    const timed = images - mark.images;
    const cpu0 = mark.cpu;
    const t0 = mark.t;
    const s0 = mark.stats;
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    const per = (ms: number) => round(ms / Math.max(1, timed), 3);
    const st = loader.stats;
    const s = {
      readMs: st.readMs - s0.readMs, headerMs: st.headerMs - s0.headerMs, pixelsMs: st.pixelsMs - s0.pixelsMs, colourMs: st.colourMs - s0.colourMs,
      waitMs: st.waitMs - s0.waitMs, jpegPathImages: (st.jpegPathImages ?? 0) - (s0.jpegPathImages ?? 0), sharpImages: (st.sharpImages ?? 0) - (s0.sharpImages ?? 0),
    };
    const sh = sharpSettings();
    const leftOut = [...ignored.map((f) => ({ path: f.path, reason: f.reason as string })), ...loader.skipped.map((k) => ({ path: k.path, reason: k.reason as string }))];
    const report: DataBenchReport = {
      images,
      skipped: loader.skipped.map((k) => k.path),
      leftOut,
      leftOutCount: leftOut.length,
      timedImages: timed,
      warmupBatches,
      imgPerSec: round(timed / seconds, 1),
      imgPerSecPerCore: round(timed / seconds / cores, 1),
      imgPerCpuSecond: round((timed * 1000) / Math.max(1e-9, (cpu.user + cpu.system) / 1000), 1),
      cores,
      decoders: { jpegPath: s.jpegPathImages ?? 0, sharp: s.sharpImages ?? 0, jpegVersion: jpegPath().version },
      seconds: round(seconds, 3),
      cpuMsPerImage: per((cpu.user + cpu.system) / 1000),
      stagesMsPerImage: { read: per(s.readMs), header: per(s.headerMs), pixels: per(s.pixelsMs), colour: per(s.colourMs) },
      waitMs: round(s.waitMs, 1),
      settings: {
        data: args.data, size: args.size, batchSize: args.batchSize, workers: args.workers, prefetch: args.prefetch,
        repeat: args.repeat, warmup: args.warmup, transform: args.transform, output: args.output, decoder: args.decoder,
        uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE) || 4, sharpConcurrency: sh.concurrency, vips: sh.vips,
      },
    };
    if (args.stages && !packed) report.stagesCpuMsPerImage = await timeStages(list, args);
    if (args.json) console.log(JSON.stringify(report));
    else printReport(report);
    return 0;
  } catch (e) {
    if (e instanceof BagOfTricksError) {
      console.error(`bagoftricks bench data: ${e.code}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

/** CPU ms per image of each stage alone (see the file comment). */
export interface StageTimes {
  images: number;
  read: number;
  decodeFull: number;
  trainPipeline: number;
  libvipsIcc: number;
  coreIcc: number;
  colourPass: number;
}

async function timeStages(files: string[], args: Args): Promise<StageTimes> {
  const sharp = loadSharp();
  const sample = files.slice(0, 200);
  const n = sample.length;
  const cpu = async (body: () => Promise<void>) => {
    const c0 = process.cpuUsage();
    await body();
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000 / n;
  };
  const bufs: Buffer[] = [];
  const read = await cpu(async () => {
    for (const f of sample) bufs.push(await fsp.readFile(f));
  });
  const decodeFull = await cpu(async () => {
    for (const b of bufs) await sharp(b, { ignoreIcc: true }).raw().toBuffer();
  });
  const size = args.size;
  const opts = (deferIcc: boolean) => ({ ...DECODE_DEFAULTS, deferIcc });
  const rng = new Rng(0);
  const boxes = new Map<string, Geometry>();
  const plan = (f: string) => (w: number, h: number): Geometry => {
    let g = boxes.get(f);
    if (!g) {
      const { attempt: _a, ...box } = randomResizedCrop(w, h, rng);
      g = { extract: box, resize: { width: size, height: size }, flip: rng.chance(0.5) };
      boxes.set(f, g);
    }
    return g;
  };
  const decoded: Decoded[] = [];
  const trainPipeline = await cpu(async () => {
    for (const f of sample) decoded.push(await decodeImage({ kind: 'file', path: f }, plan(f), opts(true)));
  });
  const withLibvipsIcc = await cpu(async () => {
    for (const f of sample) await decodeImage({ kind: 'file', path: f }, plan(f), opts(false));
  });
  const batch = new Uint8Array(n * size * size * 3);
  decoded.forEach((d, i) => batch.set(d.data, i * size * size * 3));
  const images = { data: batch, shape: [n, size, size, 3] };
  const profiled = decoded.filter((d) => d.profile).length;
  const coreIcc = await cpu(async () => {
    const convert = Uint8Array.from(decoded, (d) => (d.profile ? 1 : 0));
    const lut = new Float32Array(n * 768);
    const matrix = new Float32Array(n * 9);
    decoded.forEach((d, i) => {
      if (d.profile) {
        lut.set(d.profile.lut, i * 768);
        matrix.set(d.profile.matrix, i * 9);
      }
    });
    await srgbFromProfileInPlace(images, { convert, lut, matrix }, { threads: 'caller' });
  });
  const out = new Float32Array(batch.length);
  const colour = { brightness: new Float32Array(n).fill(1.1), saturation: new Float32Array(n).fill(0.9), hue: new Float32Array(n).fill(1.2), alpha: new Float32Array(3 * n).fill(0.05) };
  await augmentInto(images, colour, out, { threads: 'caller' }); // first touch of `out`
  const colourPass = await cpu(() => augmentInto(images, colour, out, { threads: 'caller' }).then(() => undefined));
  const r = (x: number) => round(x, 3);
  return {
    images: n,
    read: r(read),
    decodeFull: r(decodeFull),
    trainPipeline: r(trainPipeline),
    libvipsIcc: r(withLibvipsIcc - trainPipeline),
    coreIcc: r(profiled ? coreIcc : 0),
    colourPass: r(colourPass),
  };
}

/** "2 not-image, 1 truncated". */
function reasonCounts(files: { reason: string }[]): string {
  const by = new Map<string, number>();
  for (const f of files) by.set(f.reason, (by.get(f.reason) ?? 0) + 1);
  return [...by].map(([r, n]) => `${n} ${r}`).join(', ');
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function printReport(r: DataBenchReport): void {
  const st = r.stagesMsPerImage;
  console.log(
    [
      `data pipeline: ${r.settings.transform} transform at ${r.settings.size}², batch ${r.settings.batchSize}, ${r.settings.workers} workers, output ${r.settings.output}`,
      `images     ${r.images} delivered, ${r.skipped.length} skipped; ${r.timedImages} timed after ${r.warmupBatches} warm-up batches, in ${r.seconds} s`,
      ...(r.leftOutCount ? [`left out   ${r.leftOutCount} files (${reasonCounts(r.leftOut)}); each below`] : []),
      `throughput ${r.imgPerSec} img/s, ${r.imgPerSecPerCore} img/s per core (${r.cores} cores)`,
      `cpu        ${r.cpuMsPerImage} ms of CPU per image (all threads): ${r.imgPerCpuSecond} img/s per core of CPU time`,
      `decoders   ${r.decoders.jpegPath} by the JPEG path${r.decoders.jpegVersion ? ` (libjpeg-turbo ${r.decoders.jpegVersion})` : ' (not built)'}, ${r.decoders.sharp} by sharp`,
      `stages     per image: read ${st.read} ms, header ${st.header} ms, decode+crop+resize+flip ${st.pixels} ms, colour pass ${st.colour} ms`,
      ...(r.stagesCpuMsPerImage
        ? [
            `alone      CPU ms per image over ${r.stagesCpuMsPerImage.images}: read ${r.stagesCpuMsPerImage.read}, decode whole image ${r.stagesCpuMsPerImage.decodeFull}, ` +
              `train pipeline (decode+crop+resize+flip) ${r.stagesCpuMsPerImage.trainPipeline}, libvips ICC conversion +${r.stagesCpuMsPerImage.libvipsIcc}, ` +
              `core ICC conversion ${r.stagesCpuMsPerImage.coreIcc}, colour pass ${r.stagesCpuMsPerImage.colourPass}`,
          ]
        : []),
      ...r.leftOut.map((f) => `skipped    ${f.path}: ${f.reason}`),
    ].join('\n'),
  );
}
