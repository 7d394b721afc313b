/**
 * DataLoader: batches of decoded, augmented images, produced ahead of the consumer.
 *
 *     const loader = new data.DataLoader(dataset, { batchSize: 64, seed: 1 });
 *     for await (const { images, labels } of loader) { ... }      // the next epoch
 *     for await (const batch of loader.epoch(3)) { ... }           // epoch 3, reproducibly
 *
 * How it runs:
 * - The epoch's order is a permutation drawn from (seed, epoch) when shuffling. Images are
 *   decoded `workers` at a time (the core's JPEG path or sharp pipelines, both on libuv's
 *   thread pool; see data/decode.ts), each into its own buffer (recycled once copied), and
 *   assembled into batches strictly in epoch order: a batch is the
 *   next batchSize images that decoded, so a skipped file is replaced by the next one and
 *   every batch but the last is full. Every random draw of an image comes from a stream keyed
 *   by (seed, epoch, dataset index), so the batches are identical whatever the scheduling,
 *   the number of workers or the prefetch depth.
 * - Backpressure: decoding runs at most `prefetch` batches ahead of the batches the consumer
 *   has taken; then it pauses, so a slow training step is not starved of CPU by a decoder
 *   racing ahead, and memory stays bounded.
 * - With output 'f32' or 'f16' each assembled batch goes through the fused colour pass
 *   (ops.augment) off the JS thread, on one libuv thread rather than the core's pool, which
 *   stays free for the training step. With 'uint8' the pass is left to the consumer (a GPU
 *   trainer runs it on the device): `batch.colour` then carries the drawn parameters and
 *   `loader.augmentOptions` the constants.
 * - Small data sets can be decoded once and kept in memory (`cache`, always on for
 *   'padcrop'): later epochs only run the cheap per-epoch steps.
 * - A file that cannot be decoded is skipped and reported (`batch.skipped`, `loader.skipped`),
 *   or fails the epoch with onError 'throw'. A class whose every image failed fails the epoch
 *   (ERR_DATASET): a class is never lost silently.
 *
 * Parallelism: sharp runs each pipeline on a libuv pool thread (plus one libvips worker
 * thread: sharp.concurrency() is 1 with glibc; on other platforms consider setting it to 1,
 * since whole images are already decoded in parallel), and that pool has 4 threads unless
 * UV_THREADPOOL_SIZE is set before Node starts. To decode on more than 2 cores, start Node with
 * UV_THREADPOOL_SIZE ≥ workers (the loader warns once when workers exceed it). sharp's
 * operation cache (sharp.cache()) only costs memory here; sharp.cache(false) turns it off.
 */
import * as os from 'os';
import { augmentInto, AugmentOptions, srgbFromProfileInPlace } from '../ops/augment';
import { expectBool, expectInt, expectKeys, expectObject, fail } from '../validate';
import { Dataset, ImageSource } from './dataset';
import { DECODE_DEFAULTS, Decoded, DecodeOptions, DecodeTimings, FailOn, Geometry, decodeImage, recycleImage } from './decode';
import { DataError, SkippedImage, datasetError } from './errors';
import { RgbProfile } from './icc';
import { Rng, STREAM, permutation } from './rng';
import {
  ColourOptions,
  Transform,
  TransformSpec,
  evalGeometry,
  padCrop,
  randomResizedCrop,
  resolveTransform,
  sampleColour,
  samplePadCrop,
} from './transforms';

/**
 * The type of a batch's images: 'f32' normalised floats, 'f16' the same as IEEE binary16 bits
 * in a Uint16Array, 'uint8' raw 0–255 pixels with the colour pass left to the consumer.
 */
export type OutputType = 'uint8' | 'f32' | 'f16';

/**
 * Options of `new DataLoader(dataset, options)`, all optional. Unknown keys and bad values
 * throw ERR_ARGUMENT; the resolved values are `loader.options`.
 */
export interface DataLoaderOptions {
  /** Images per batch (default 32). */
  batchSize?: number;
  /** Shuffle each epoch (default: true, except for the 'eval' transform). */
  shuffle?: boolean;
  /** Seed of the order and of every random draw (default 0). */
  seed?: number;
  /** Drop the last batch when it is not full (default false). */
  dropLast?: boolean;
  /** 'train' (default), 'eval', 'padcrop' or an object overriding their parameters. */
  transform?: TransformSpec;
  /** Output side in pixels: images are size×size (default 224). */
  size?: number;
  /** Batches decoded ahead of the consumer (default 2). */
  prefetch?: number;
  /**
   * Images decoded at once (default: twice the cores). Each sharp pipeline keeps a libuv
   * thread waiting on a libvips worker and on file reads, so two per core keep every core
   * busy (measured: 2 vCPUs, 1 → 2 → 4 workers gave 153 → 231 → 271 img/s).
   */
  workers?: number;
  /** 'skip' (default): skip and report a bad file; 'throw': fail the epoch. */
  onError?: 'skip' | 'throw';
  /** 'f32' (default) or 'f16': normalised, colour pass applied; 'uint8': raw pixels. */
  output?: OutputType;
  /** Keep decoded images in memory after the first epoch (default false; always for 'padcrop'). */
  cache?: boolean;
  /** Largest width × height accepted (default 100,000,000). */
  limitInputPixels?: number;
  /** Largest file accepted in bytes (default 256 MiB). */
  maxFileBytes?: number;
  /** Damage that rejects an image: sharp's failOn (default 'warning'). */
  failOn?: FailOn;
  /**
   * Convert embedded RGB matrix/TRC colour profiles to sRGB in the core after the resize
   * (default true; about twice as fast on photos that carry a profile), instead of in libvips
   * before it. See data/icc.ts.
   */
  iccFastPath?: boolean;
  /**
   * Decode plain JPEGs with the core's libjpeg-turbo path where the build has it (default
   * true; see data/decode.ts): DCT-scaled, only the crop's rows, no libvips pipeline. false:
   * sharp decodes every image, as before.
   */
  jpegPath?: boolean;
  /**
   * Data-parallel training: this rank's share of every epoch. The epoch's order (the same
   * on every rank: same seed) is cut into global batches of batchSize × count images; rank r
   * takes the r-th slice of batchSize of each, so together the ranks see exactly the batches
   * one process would see with batchSize × count. With `pad` (default true; use false for
   * evaluation) the order is first lengthened, from its start, to a multiple of `count`, so
   * every rank takes the same number of steps. Batches are cut by position: a file that fails
   * makes its batch shorter, never the epoch, so the ranks stay in step (a batch whose every
   * file failed fails the epoch with ERR_DATASET).
   */
  shard?: { rank: number; count: number; pad?: boolean };
}

/** The colour pass's per-image parameters of a batch (N values each, alpha N×3). */
export interface BatchColour {
  /** Brightness coefficients, N values. */
  brightness: Float32Array;
  /** Saturation coefficients, N values. */
  saturation: Float32Array;
  /** Hue coefficients, N values. */
  hue: Float32Array;
  /** Lighting noise α, N×3 values. */
  alpha: Float32Array;
}

/** One batch: images (N, size, size, 3) channels last, labels, and where they came from. */
export interface Batch {
  /**
   * The images, (N, size, size, 3) NHWC RGB, of the loader's output type: normalised floats
   * (f32, or f16 bits) or raw 0–255 bytes (uint8).
   */
  images: { data: Uint8Array | Float32Array | Uint16Array; shape: [number, number, number, 3]; dtype: OutputType };
  /** Class index of each image, N values. */
  labels: Int32Array;
  /** Data set index of each image. */
  indices: Int32Array;
  /** File of each image, for data sets of files. */
  paths?: string[];
  /** With output 'uint8' and a transform that jitters colours: the parameters drawn for the pass. */
  colour?: BatchColour;
  /** Files skipped while this batch was assembled. */
  skipped: SkippedImage[];
  /** The epoch this batch belongs to. */
  epoch: number;
  /** Batch number within the epoch. */
  index: number;
  /**
   * Hands the image array back to the loader for reuse by a later batch (optional: without
   * it the array is garbage-collected). Call it once the array is no longer needed; after
   * it, `images.data` may be overwritten at any time. Reusing arrays spares the allocation
   * and first-touch page faults of ~600 KB per 224² image in f32.
   */
  release(): void;
}

/** Running totals, for reports and benchmarks. */
export interface LoaderStats extends DecodeTimings {
  /** Images delivered in batches. */
  images: number;
  /** Batches delivered. */
  batches: number;
  /** Skips reported (a file that fails in several epochs counts each time). */
  skipped: number;
  /** Wall time of the colour passes (summed; they run off the JS thread). */
  colourMs: number;
  /** Time the consumer spent waiting for a batch. */
  waitMs: number;
  /** Bytes held by the in-memory cache. */
  cacheBytes: number;
}

/** The loader's options with every default filled in (`loader.options`). */
export interface ResolvedLoaderOptions {
  /** Images per batch. */
  batchSize: number;
  /** Whether each epoch's order is shuffled. */
  shuffle: boolean;
  /** Seed of the order and of every random draw. */
  seed: number;
  /** Whether a last, partial batch is dropped. */
  dropLast: boolean;
  /** The full transform, every parameter set. */
  transform: Transform;
  /** Output side in pixels. */
  size: number;
  /** Batches decoded ahead of the consumer. */
  prefetch: number;
  /** Images decoded at once. */
  workers: number;
  /** What a bad file does: skipped and reported, or fails the epoch. */
  onError: 'skip' | 'throw';
  /** Type of the batches' images. */
  output: OutputType;
  /** Whether decoded images are kept in memory. */
  cache: boolean;
  /** The decoder's settings (limits, failOn, kernel, ICC handling). */
  decode: DecodeOptions;
  /** This rank's share of each epoch (data-parallel), or null. */
  shard: { rank: number; count: number; pad: boolean } | null;
}

const KEYS = ['batchSize', 'shuffle', 'seed', 'dropLast', 'transform', 'size', 'prefetch', 'workers', 'onError', 'output', 'cache', 'limitInputPixels', 'maxFileBytes', 'failOn', 'iccFastPath', 'jpegPath', 'shard'] as const;

function resolveShard(value: unknown): ResolvedLoaderOptions['shard'] {
  if (value === undefined || value === null) return null;
  const o = expectObject('options.shard', value);
  expectKeys('options.shard', o, ['rank', 'count', 'pad']);
  const count = expectInt('options.shard.count', o.count, 1, 65536);
  return { rank: expectInt('options.shard.rank', o.rank, 0, count - 1), count, pad: expectBool('options.shard.pad', o.pad ?? true) };
}

/**
 * The positions of `order` that rank `rank` of `count` takes (DataLoaderOptions.shard): the
 * order padded from its start to a multiple of count (with pad), cut into global batches of
 * batch × count (the last partial one dropped with dropLast), the rank's slice of each.
 */
export function shardOrder(order: Int32Array, batch: number, shard: { rank: number; count: number; pad: boolean }, dropLast: boolean): Int32Array {
  const { rank, count, pad } = shard;
  let n = order.length;
  if (pad && n > 0 && n % count) n += count - (n % count);
  const global = batch * count;
  const len = dropLast ? Math.floor(n / global) * global : n;
  const out: number[] = [];
  for (let g = 0; g < len; g += global) {
    const size = Math.min(global, len - g);
    const slice = Math.ceil(size / count);
    const end = Math.min(g + size, g + (rank + 1) * slice);
    for (let i = g + rank * slice; i < end; i++) out.push(order[i % order.length]);
  }
  return Int32Array.from(out);
}

function cores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : Math.max(1, os.cpus().length);
}

let warnedPool = false;

function resolveOptions(o: DataLoaderOptions): ResolvedLoaderOptions {
  expectKeys('options', expectObject('options', o), KEYS);
  const transform = resolveTransform(o.transform ?? 'train', 'options.transform');
  const onError = o.onError ?? 'skip';
  if (onError !== 'skip' && onError !== 'throw') fail('ERR_ARGUMENT', "'skip' or 'throw'", 'options.onError', onError);
  const output = o.output ?? 'f32';
  if (output !== 'uint8' && output !== 'f32' && output !== 'f16') fail('ERR_ARGUMENT', "'uint8', 'f32' or 'f16'", 'options.output', output);
  const failOn = o.failOn ?? DECODE_DEFAULTS.failOn;
  if (!['none', 'truncated', 'error', 'warning'].includes(failOn)) fail('ERR_ARGUMENT', "'none', 'truncated', 'error' or 'warning'", 'options.failOn', failOn);
  return {
    batchSize: expectInt('options.batchSize', o.batchSize ?? 32, 1, 65536),
    shuffle: expectBool('options.shuffle', o.shuffle ?? transform.type !== 'eval'),
    seed: expectInt('options.seed', o.seed ?? 0, 0),
    dropLast: expectBool('options.dropLast', o.dropLast ?? false),
    transform,
    size: expectInt('options.size', o.size ?? 224, 1, 16384),
    prefetch: expectInt('options.prefetch', o.prefetch ?? 2, 1, 1024),
    workers: expectInt('options.workers', o.workers ?? 2 * cores(), 1, 1024),
    onError,
    output,
    cache: transform.type === 'padcrop' || expectBool('options.cache', o.cache ?? false),
    decode: {
      limitInputPixels: expectInt('options.limitInputPixels', o.limitInputPixels ?? DECODE_DEFAULTS.limitInputPixels, 1),
      maxFileBytes: expectInt('options.maxFileBytes', o.maxFileBytes ?? DECODE_DEFAULTS.maxFileBytes, 1),
      failOn,
      kernel: transform.kernel,
      deferIcc: expectBool('options.iccFastPath', o.iccFastPath ?? true),
      orientAfterResize: true,
      jpegPath: expectBool('options.jpegPath', o.jpegPath ?? true),
      dctScaling: true,
    },
    shard: resolveShard(o.shard),
  };
}

function hasJitter(t: Transform): t is Transform & ColourOptions {
  return t.type !== 'eval' && (t.brightness > 0 || t.saturation > 0 || t.hue > 0 || t.lighting > 0);
}

/**
 * Batches of decoded, augmented NHWC images, produced ahead of the consumer: an async
 * iterable, one epoch per `for await` (or `epoch(e)` for a given one). Reproducible: the
 * order and every random draw come from (seed, epoch, image), whatever the scheduling.
 * Files that cannot be decoded are skipped and reported (or, with onError 'throw', fail the
 * epoch with DataError ERR_IMAGE_DECODE); a class that loses every image fails the epoch
 * with ERR_DATASET.
 *
 * @example
 * ```js
 * const { data } = require('bagoftricks');
 * const { train } = new data.ImageFolder('photos/').split({ val: 0.1, seed: 0 });
 * const loader = new data.DataLoader(train, { batchSize: 64, size: 224, seed: 0 });
 * for await (const { images, labels } of loader) {
 *   // images: { data: Float32Array, shape: [64, 224, 224, 3] } normalised NHWC; labels: Int32Array
 * }
 * ```
 */
export class DataLoader implements AsyncIterable<Batch> {
  /** The data set read. */
  readonly dataset: Dataset;
  /** The options in effect, every default filled in (frozen). */
  readonly options: Readonly<ResolvedLoaderOptions>;
  /** Every file skipped so far (each path once). */
  readonly skipped: SkippedImage[] = [];
  /** Counters and timings since the loader was created. */
  readonly stats: LoaderStats = { images: 0, batches: 0, skipped: 0, readMs: 0, headerMs: 0, pixelsMs: 0, jpegPathImages: 0, sharpImages: 0, colourMs: 0, waitMs: 0, cacheBytes: 0 };
  private nextEpoch = 0;
  private readonly skippedPaths = new Set<string>();
  /** Decoded images by data set index: full-size upright RGB, or size×size for 'padcrop'. */
  private readonly cache = new Map<number, Decoded>();
  /** Full-batch arrays ready for reuse: uint8 staging/output, f32 and f16 outputs. */
  private readonly pools: { uint8: Uint8Array[]; f32: Float32Array[]; f16: Uint16Array[] } = { uint8: [], f32: [], f16: [] };

  /**
   * Validates the options; nothing is read until an epoch is iterated. Warns once
   * (BAGOFTRICKS_UV_THREADPOOL) when `workers` exceeds libuv's thread pool.
   * @param dataset - Any Dataset (ImageFolder, Mnist, Cifar10, Subset, ImageList, or your own).
   * @param options - Batch size, transform, output size and type, parallelism, error policy.
   * @throws BagOfTricksError ERR_ARGUMENT for something that is not a Dataset, or a bad option.
   */
  constructor(dataset: Dataset, options: DataLoaderOptions = {}) {
    if (typeof dataset !== 'object' || dataset === null || typeof dataset.source !== 'function' || typeof dataset.label !== 'function') {
      fail('ERR_ARGUMENT', 'a Dataset (length, classes, counts, label(i), source(i), name(i))', 'dataset', dataset);
    }
    this.dataset = dataset;
    this.options = Object.freeze(resolveOptions(options));
    const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
    if (this.options.workers > pool && !warnedPool) {
      warnedPool = true;
      process.emitWarning(
        `DataLoader workers=${this.options.workers} but the libuv thread pool has ${pool} threads, so at most ${pool} images decode at once; ` +
          `start Node with UV_THREADPOOL_SIZE=${this.options.workers} to decode on every core`,
        { code: 'BAGOFTRICKS_UV_THREADPOOL' },
      );
    }
  }

  /** Batches per epoch (fewer when skipped files shorten the epoch). */
  get length(): number {
    const o = this.options;
    if (o.shard) return Math.ceil(shardOrder(new Int32Array(this.dataset.length), o.batchSize, o.shard, o.dropLast).length / o.batchSize);
    const n = this.dataset.length / this.options.batchSize;
    return this.options.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The constants of the colour pass, for ops.augment on 'uint8' batches. */
  get augmentOptions(): AugmentOptions {
    const t = this.options.transform;
    return t.type === 'eval' ? { mean: t.mean, std: t.std } : { mean: t.mean, std: t.std, eigval: t.eigval, eigvec: t.eigvec };
  }

  /** The batches of epoch e (an integer ≥ 0); the same e always gives the same batches. */
  epoch(e: number): AsyncIterableIterator<Batch> {
    expectInt('epoch', e, 0);
    return new EpochRun(this, e, this.hooks());
  }

  /** The next epoch: 0, then 1, … */
  [Symbol.asyncIterator](): AsyncIterableIterator<Batch> {
    return this.epoch(this.nextEpoch++);
  }

  /**
   * A full-batch array (batchSize·size·size·3 elements) of the given type, from the pool when
   * one is free, else new. Used by the loader's own batches.
   * @internal
   */
  take<K extends OutputType>(kind: K): { uint8: Uint8Array; f32: Float32Array; f16: Uint16Array }[K] {
    const n = this.options.batchSize * this.options.size * this.options.size * 3;
    const pool = this.pools[kind] as unknown as { uint8: Uint8Array; f32: Float32Array; f16: Uint16Array }[K][];
    const hit = pool.pop();
    if (hit) return hit;
    return (kind === 'uint8' ? new Uint8Array(n) : kind === 'f32' ? new Float32Array(n) : new Uint16Array(n)) as { uint8: Uint8Array; f32: Float32Array; f16: Uint16Array }[K];
  }

  /**
   * Returns a full-batch array to its pool for reuse (arrays of another size are left to the
   * garbage collector). Batch.release() calls it.
   * @internal
   */
  give(a: Uint8Array | Float32Array | Uint16Array): void {
    const n = this.options.batchSize * this.options.size * this.options.size * 3;
    if (a.length !== n) return;
    const pool: (Uint8Array | Float32Array | Uint16Array)[] = a instanceof Uint8Array ? this.pools.uint8 : a instanceof Float32Array ? this.pools.f32 : this.pools.f16;
    if (pool.length < this.options.prefetch + 2 && !pool.includes(a)) pool.push(a);
  }

  private hooks(): LoaderHooks {
    return {
      produce: (index, epoch) => this.produce(index, epoch),
      colour: (index, epoch) => this.colourParams(index, epoch),
      reportSkip: (s) => {
        this.stats.skipped++;
        if (!this.skippedPaths.has(s.path)) {
          this.skippedPaths.add(s.path);
          this.skipped.push(s);
        }
      },
    };
  }

  /** One image of the epoch: size×size×3 bytes, geometry applied (and its profile, if deferred). */
  private async produce(index: number, epoch: number): Promise<Produced> {
    const { transform: t, size, seed, decode } = this.options;
    const source = this.dataset.source(index);
    if (t.type === 'padcrop') {
      const base = await this.cached(index, source, (w, h) => centreSquare(w, h, size));
      const { dx, dy, flip } = samplePadCrop(new Rng(seed, epoch, index, STREAM.geometry), t);
      const out = new Uint8Array(size * size * 3);
      padCrop(base.data, size, t.padding, dx, dy, flip, t.fill, out);
      return { data: out };
    }
    const plan = (w: number, h: number): Geometry => {
      if (t.type === 'eval') {
        const g = evalGeometry(w, h, size, t.resizeRatio);
        return { resize: { width: g.resizeWidth, height: g.resizeHeight }, extractAfter: g.crop };
      }
      const rng = new Rng(seed, epoch, index, STREAM.geometry);
      const { attempt: _attempt, ...box } = randomResizedCrop(w, h, rng, t);
      return { extract: box, resize: { width: size, height: size }, flip: rng.chance(t.flip) };
    };
    if (this.options.cache) {
      const full = await this.cached(index, source, () => ({}));
      return decodeImage({ kind: 'pixels', data: full.data, width: full.width, height: full.height, channels: 3 }, plan, decode, this.stats);
    }
    return decodeImage(source, plan, decode, this.stats);
  }

  private async cached(index: number, source: ImageSource, plan: (w: number, h: number) => Geometry): Promise<Decoded> {
    const hit = this.cache.get(index);
    if (hit) return hit;
    // Kept images are colour-managed by libvips, once: they are reused every epoch.
    const d = await decodeImage(source, plan, { ...this.options.decode, deferIcc: false }, this.stats);
    if (!this.cache.has(index)) {
      this.cache.set(index, d);
      this.stats.cacheBytes += d.data.byteLength;
    }
    return d;
  }

  private colourParams(index: number, epoch: number) {
    const t = this.options.transform;
    return hasJitter(t) ? sampleColour(new Rng(this.options.seed, epoch, index, STREAM.colour), t) : null;
  }
}

/** The short side resized to `size`, then the centre square: the base image of 'padcrop'. */
function centreSquare(w: number, h: number, size: number): Geometry {
  if (w === size && h === size) return {};
  const g = evalGeometry(w, h, size, 1);
  return { resize: { width: g.resizeWidth, height: g.resizeHeight }, extractAfter: g.crop };
}

/** One decoded image of an epoch: size×size×3 bytes, and its profile when it still needs converting. */
interface Produced {
  data: Uint8Array;
  profile?: RgbProfile;
}

interface LoaderHooks {
  produce(index: number, epoch: number): Promise<Produced>;
  colour(index: number, epoch: number): ReturnType<typeof sampleColour> | null;
  reportSkip(s: SkippedImage): void;
}

type Slot = { ok: Produced } | { error: Error };

/** A batch being filled, in epoch order. */
interface Pending {
  images: Uint8Array;
  count: number;
  indices: number[];
  labels: number[];
  paths: string[];
  colour: BatchColour | null;
  profiles: (RgbProfile | undefined)[];
  skipped: SkippedImage[];
}

/** One pass over the data set: the producer, the in-order assembler and the consumer's iterator. */
class EpochRun implements AsyncIterableIterator<Batch> {
  private readonly order: Int32Array;
  private readonly o: Readonly<ResolvedLoaderOptions>;
  private issued = 0; // next position to start decoding
  private inflight = 0;
  private assembled = 0; // next position to fold into a batch
  private handed = 0; // positions covered by the batches the consumer took
  private readonly slots = new Map<number, Slot>();
  private pending: Pending | null = null;
  private readonly ready: { batch: Promise<Batch>; end: number }[] = [];
  private batchNo = 0;
  private finished = false;
  private closed = false;
  private fatal: Error | null = null;
  private wake: (() => void) | null = null;
  private readonly delivered: number[];
  private readonly attempted: number[];
  private readonly pixelsPerImage: number;
  private readonly paths: boolean;

  constructor(private readonly loader: DataLoader, private readonly epochNo: number, private readonly hooks: LoaderHooks) {
    this.o = loader.options;
    const n = loader.dataset.length;
    const order = this.o.shuffle ? permutation(n, new Rng(this.o.seed, epochNo, STREAM.order)) : Int32Array.from({ length: n }, (_, i) => i);
    this.order = this.o.shard ? shardOrder(order, this.o.batchSize, this.o.shard, this.o.dropLast) : order;
    this.delivered = new Array<number>(loader.dataset.classes.length).fill(0);
    this.attempted = new Array<number>(loader.dataset.classes.length).fill(0);
    this.pixelsPerImage = this.o.size * this.o.size * 3;
    this.paths = n > 0 && loader.dataset.source(0).kind === 'file';
    if (this.order.length === 0) this.finished = true;
    this.pump();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Batch> {
    return this;
  }

  async next(): Promise<IteratorResult<Batch>> {
    const t0 = performance.now();
    for (;;) {
      if (this.fatal) {
        this.close();
        throw this.fatal;
      }
      if (this.closed) return { done: true, value: undefined };
      const head = this.ready.shift();
      if (head) {
        this.handed = head.end;
        this.pump();
        let batch: Batch;
        try {
          batch = await head.batch;
        } catch (e) {
          this.close(); // a failed colour pass ends the epoch
          throw e;
        }
        this.loader.stats.waitMs += performance.now() - t0;
        this.loader.stats.batches++;
        this.loader.stats.images += batch.labels.length;
        return { done: false, value: batch };
      }
      if (this.finished) {
        this.close();
        this.checkClasses();
        return { done: true, value: undefined };
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async return(): Promise<IteratorResult<Batch>> {
    this.close();
    return { done: true, value: undefined };
  }

  private close(): void {
    this.closed = true;
    this.ready.length = 0;
    this.slots.clear();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Starts decodes while there are workers free and the window allows. */
  private pump(): void {
    const window = this.o.prefetch * this.o.batchSize;
    while (!this.closed && !this.fatal && this.issued < this.order.length && this.inflight < this.o.workers && this.issued - this.handed < window) {
      const pos = this.issued++;
      this.inflight++;
      const index = this.order[pos];
      this.hooks.produce(index, this.epochNo).then(
        (ok) => this.settle(pos, { ok }),
        (e) => this.settle(pos, { error: e instanceof Error ? e : new Error(String(e)) }),
      );
    }
  }

  private settle(pos: number, slot: Slot): void {
    this.inflight--;
    if (this.closed || this.fatal) return;
    this.slots.set(pos, slot);
    try {
      this.assemble();
    } catch (e) {
      this.fatal = e as Error;
    }
    this.pump();
    this.notify();
  }

  /** Folds decoded images into batches, strictly in epoch order. */
  private assemble(): void {
    const B = this.o.batchSize;
    for (;;) {
      const slot = this.slots.get(this.assembled);
      if (!slot) break;
      this.slots.delete(this.assembled);
      const index = this.order[this.assembled];
      this.assembled++;
      this.attempted[this.loader.dataset.label(index)]++;
      const p = (this.pending ??= this.newPending());
      if ('error' in slot) {
        const e = slot.error;
        // Only a file that cannot be decoded is skipped; anything else is a bug and fails.
        if (this.o.onError === 'throw' || !(e instanceof DataError) || !e.path) throw e;
        const s: SkippedImage = { path: e.path, reason: e.reason ?? 'corrupt', message: e.message };
        p.skipped.push(s);
        this.hooks.reportSkip(s);
      } else {
        this.add(p, index, slot.ok);
        if (!this.o.shard && p.count === B) this.emit();
      }
      // Sharded: batches are cut by position, so every rank has the same number of them.
      if (this.o.shard && (this.assembled % B === 0 || this.assembled === this.order.length)) {
        if (p.count === 0) {
          throw datasetError(`every image of batch ${this.batchNo} of rank ${this.o.shard.rank} failed to decode (see loader.skipped): the ranks would take different numbers of steps`);
        }
        this.emit();
      }
    }
    if (this.assembled === this.order.length && !this.finished) {
      const p = this.pending;
      if (p && p.count > 0 && !(this.o.dropLast && p.count < B)) this.emit();
      this.pending = null;
      this.finished = true;
    }
  }

  private newPending(): Pending {
    const B = this.o.batchSize;
    const jitter = this.o.transform.type !== 'eval' && hasJitter(this.o.transform);
    return {
      images: this.loader.take('uint8'),
      count: 0,
      indices: [],
      labels: [],
      paths: [],
      profiles: [],
      colour: jitter ? { brightness: new Float32Array(B), saturation: new Float32Array(B), hue: new Float32Array(B), alpha: new Float32Array(3 * B) } : null,
      skipped: [],
    };
  }

  private add(p: Pending, index: number, image: Produced): void {
    const k = p.count++;
    p.images.set(image.data, k * this.pixelsPerImage);
    recycleImage(image.data); // copied: the decoder may reuse the array
    p.profiles.push(image.profile);
    const label = this.loader.dataset.label(index);
    p.indices.push(index);
    p.labels.push(label);
    this.delivered[label]++;
    if (this.paths) p.paths.push(this.loader.dataset.name(index));
    const c = p.colour && this.hooks.colour(index, this.epochNo);
    if (p.colour && c) {
      p.colour.brightness[k] = c.brightness;
      p.colour.saturation[k] = c.saturation;
      p.colour.hue[k] = c.hue;
      p.colour.alpha.set(c.alpha, 3 * k);
    }
  }

  private emit(): void {
    const p = this.pending!;
    this.pending = null;
    const n = p.count;
    const size = this.o.size;
    const shape: [number, number, number, 3] = [n, size, size, 3];
    const full = n === this.o.batchSize;
    const cut = (a: Float32Array, k = 1) => (full ? a : a.slice(0, k * n));
    const colour = p.colour ? { brightness: cut(p.colour.brightness), saturation: cut(p.colour.saturation), hue: cut(p.colour.hue), alpha: cut(p.colour.alpha, 3) } : undefined;
    const loader = this.loader;
    const base = {
      labels: Int32Array.from(p.labels),
      indices: Int32Array.from(p.indices),
      ...(this.paths ? { paths: p.paths } : {}),
      skipped: p.skipped,
      epoch: this.epochNo,
      index: this.batchNo++,
    };
    const finish = (data: Uint8Array | Float32Array | Uint16Array, dtype: OutputType): Batch => {
      let released = false;
      return {
        images: { data, shape, dtype },
        ...base,
        release: () => {
          if (!released) loader.give(data);
          released = true;
        },
      };
    };
    const staging = p.images;
    const x = { data: full ? staging : staging.subarray(0, n * this.pixelsPerImage), shape };
    const profiles = profileParams(p.profiles);
    const output = this.o.output;
    const batch = (async (): Promise<Batch> => {
      const t0 = performance.now();
      // Step 0 first: images whose colour profile the decoder left to the core.
      if (profiles) await srgbFromProfileInPlace(x, profiles, { threads: 'caller' });
      if (output === 'uint8') {
        loader.stats.colourMs += performance.now() - t0;
        const data = full ? staging : staging.slice(0, n * this.pixelsPerImage);
        if (!full) loader.give(staging);
        return { ...finish(data, 'uint8'), ...(colour ? { colour } : {}) };
      }
      const out = full ? loader.take(output) : output === 'f32' ? new Float32Array(n * this.pixelsPerImage) : new Uint16Array(n * this.pixelsPerImage);
      try {
        const y = await augmentInto(x, colour ?? {}, out, { ...loader.augmentOptions, threads: 'caller' });
        loader.stats.colourMs += performance.now() - t0;
        return finish(y.data, output);
      } finally {
        loader.give(staging);
      }
    })();
    batch.catch(() => undefined); // the consumer sees the failure when it reaches this batch
    this.ready.push({ batch, end: this.assembled });
  }

    /** After a full epoch: a class with images that delivered none is an error. */
  private checkClasses(): void {
    const ds = this.loader.dataset;
    const lost = ds.classes.filter((_, c) => this.attempted[c] > 0 && this.delivered[c] === 0);
    if (lost.length) {
      throw datasetError(`every image of class${lost.length > 1 ? 'es' : ''} ${lost.map((c) => JSON.stringify(c)).join(', ')} failed to decode (see loader.skipped)`);
    }
  }
}

/** Step 0's arrays for a batch, or null when no image needs converting. */
function profileParams(profiles: (RgbProfile | undefined)[]) {
  if (!profiles.some((q) => q)) return null;
  const n = profiles.length;
  const convert = new Uint8Array(n);
  const lut = new Float32Array(n * 768);
  const matrix = new Float32Array(n * 9);
  profiles.forEach((q, i) => {
    if (!q) return;
    convert[i] = 1;
    lut.set(q.lut, i * 768);
    matrix.set(q.matrix, i * 9);
  });
  return { convert, lut, matrix };
}
