/**
 * Checking a data set's files before it is split: every encoded image is decoded once (at an
 * eighth of its size, which libjpeg and libvips do while reading, so damage anywhere in the
 * file is still found) and the files that fail are left out with their reason. Splitting
 * afterwards keeps the split and the class counts true: a class whose validation images fail
 * to decode cannot be reported as lost while it has good images, and an epoch's length
 * follows the files that decode.
 *
 * Images already in memory as pixels (MNIST, CIFAR-10 binary) are not checked: they cannot
 * fail to decode.
 */
import * as os from 'os';
import { expectInt, expectKeys, expectObject, fail } from '../validate';
import { BaseDataset, Dataset, Subset } from './dataset';
import { DECODE_DEFAULTS, FailOn, decodeImage } from './decode';
import { DataError, SkippedImage } from './errors';

/** Options of verifyImages(). Unknown keys throw ERR_ARGUMENT. */
export interface VerifyOptions {
  /** Files decoded at once (default: twice the cores). */
  workers?: number;
  /** Largest width × height accepted (default 100,000,000, as the DataLoader's). */
  limitInputPixels?: number;
  /** Largest file accepted in bytes (default 256 MiB, as the DataLoader's). */
  maxFileBytes?: number;
  /** Damage that rejects an image: sharp's failOn (default 'warning', as the DataLoader's). */
  failOn?: FailOn;
}

/** What verifyImages() found: the images that decode, and every file left out with its reason. */
export interface Verified {
  /** The images that decode (the data set itself when none failed). */
  dataset: BaseDataset;
  /** Every file that failed, in data-set order, once each. */
  skipped: SkippedImage[];
}

/**
 * Decodes every encoded image of `dataset` once (at 1/8 scale) and returns the ones that
 * decode, with the others listed by path and reason. A failure other than a bad image (a
 * bug, an out-of-memory) is thrown.
 */
export async function verifyImages(dataset: BaseDataset, options: VerifyOptions = {}): Promise<Verified> {
  if (!(dataset instanceof BaseDataset)) fail('ERR_ARGUMENT', 'a data set of bagoftricks (ImageFolder, ImageList, Subset, ...)', 'dataset', dataset);
  const o = expectObject('options', options);
  expectKeys('options', o, ['workers', 'limitInputPixels', 'maxFileBytes', 'failOn']);
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : Math.max(1, os.cpus().length);
  const workers = expectInt('options.workers', o.workers ?? 2 * cores, 1, 1024);
  const failOn = (o.failOn ?? DECODE_DEFAULTS.failOn) as FailOn;
  if (!['none', 'truncated', 'error', 'warning'].includes(failOn)) fail('ERR_ARGUMENT', "'none', 'truncated', 'error' or 'warning'", 'options.failOn', failOn);
  const decode = {
    ...DECODE_DEFAULTS,
    limitInputPixels: expectInt('options.limitInputPixels', o.limitInputPixels ?? DECODE_DEFAULTS.limitInputPixels, 1),
    maxFileBytes: expectInt('options.maxFileBytes', o.maxFileBytes ?? DECODE_DEFAULTS.maxFileBytes, 1),
    failOn,
  };
  const eighth = (w: number, h: number) => ({ resize: { width: Math.max(1, Math.round(w / 8)), height: Math.max(1, Math.round(h / 8)) } });
  const bad = new Map<number, SkippedImage>();
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= dataset.length) return;
      const source = dataset.source(i);
      if (source.kind === 'pixels') continue;
      try {
        await decodeImage(source, eighth, decode);
      } catch (e) {
        if (!(e instanceof DataError) || !e.path) throw e;
        bad.set(i, { path: e.path, reason: e.reason ?? 'corrupt', message: e.message });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, Math.max(1, dataset.length)) }, worker));
  if (bad.size === 0) return { dataset, skipped: [] };
  const keep: number[] = [];
  const skipped: SkippedImage[] = [];
  const paths = new Set<string>();
  for (let i = 0; i < dataset.length; i++) {
    const s = bad.get(i);
    if (!s) keep.push(i);
    else if (!paths.has(s.path)) {
      paths.add(s.path);
      skipped.push(s);
    }
  }
  return { dataset: new Subset(dataset as Dataset, keep), skipped };
}
