/**
 * The CIFAR-10 binary format, for users who have the official files
 * (cifar-10-batches-bin: data_batch_1.bin … data_batch_5.bin, test_batch.bin,
 * batches.meta.txt). Each record is 1 label byte then 3072 pixel bytes: the red, green and
 * blue 32×32 planes, row-major. Pixels are kept in memory as (N, 32, 32, 3), decoded once.
 */
import * as fs from 'fs';
import * as path from 'path';
import { expectBool, expectKeys, expectObject, fail } from '../validate';
import { BaseDataset, ImageSource, expectNoEmptyClass } from './dataset';
import { datasetError } from './errors';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;

/** The ten CIFAR-10 class names in label order, used when batches.meta.txt is absent. */
export const CIFAR10_CLASSES: readonly string[] = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** Options of `new Cifar10(dir, options)`. Unknown keys throw ERR_ARGUMENT. */
export interface Cifar10Options {
  /** true (default): the five training batches; false: test_batch.bin. */
  train?: boolean;
}

/**
 * CIFAR-10 from the official binary files (cifar-10-batches-bin), decoded once into memory
 * as (N, 32, 32, 3) RGB bytes: 50,000 training or 10,000 test images. Class names come from
 * batches.meta.txt when present, else CIFAR10_CLASSES. Pair it with the 'padcrop' transform
 * and a CIFAR stem (`stem: 'cifar'`).
 */
export class Cifar10 extends BaseDataset {
  readonly classes: readonly string[];
  /** All images, (N, 32, 32, 3) RGB bytes. */
  readonly pixels: Uint8Array;
  /** The batch files read, in order. */
  readonly files: readonly string[];
  private readonly labels: Uint8Array;

  /**
   * Reads the batch files now (synchronously).
   * @param dir - The folder of the binary files (data_batch_1.bin … data_batch_5.bin, test_batch.bin).
   * @param options - Which split to read (default: the training batches).
   * @throws BagOfTricksError ERR_ARGUMENT for a bad `dir` or option; DataError ERR_DATASET when a
   * file is missing, unreadable or not a whole number of 3073-byte records, or a class has no image.
   */
  constructor(dir: string, options: Cifar10Options = {}) {
    super();
    if (typeof dir !== 'string' || dir.length === 0) fail('ERR_ARGUMENT', 'the folder of the CIFAR-10 binary files', 'dir', dir);
    const o = expectObject('options', options);
    expectKeys('options', o, ['train']);
    const train = expectBool('options.train', options.train ?? true);
    const names = train ? [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`) : ['test_batch.bin'];
    this.files = names.map((n) => path.join(dir, n));
    const meta = path.join(dir, 'batches.meta.txt');
    this.classes = fs.existsSync(meta)
      ? fs.readFileSync(meta, 'utf8').split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0)
      : CIFAR10_CLASSES.slice();
    if (this.classes.length < 2) throw datasetError(`${meta}: expected one class name per line`);

    const buffers = this.files.map((f) => {
      let b: Buffer;
      try {
        b = fs.readFileSync(f);
      } catch (e) {
        throw datasetError(`CIFAR-10: cannot read ${f} (${(e as Error).message})`);
      }
      if (b.length === 0 || b.length % RECORD !== 0) {
        throw datasetError(`CIFAR-10: ${f} has ${b.length} bytes, expected a multiple of ${RECORD} (1 label byte + 3072 pixel bytes per image)`);
      }
      return b;
    });
    const total = buffers.reduce((s, b) => s + b.length / RECORD, 0);
    this.pixels = new Uint8Array(total * 3 * PLANE);
    this.labels = new Uint8Array(total);
    let at = 0;
    buffers.forEach((b, fi) => {
      for (let r = 0; r < b.length / RECORD; r++, at++) {
        const rec = r * RECORD;
        const label = b[rec];
        if (label >= this.classes.length) throw datasetError(`CIFAR-10: ${this.files[fi]} record ${r} has label ${label}, expected < ${this.classes.length}`);
        this.labels[at] = label;
        const out = at * 3 * PLANE;
        for (let p = 0; p < PLANE; p++) {
          this.pixels[out + 3 * p] = b[rec + 1 + p];
          this.pixels[out + 3 * p + 1] = b[rec + 1 + PLANE + p];
          this.pixels[out + 3 * p + 2] = b[rec + 1 + 2 * PLANE + p];
        }
      }
    });
    expectNoEmptyClass(`CIFAR-10 ${dir}`, this.classes, this.counts);
  }

  get length(): number {
    return this.labels.length;
  }
  label(i: number): number {
    return this.labels[i];
  }
  source(i: number): ImageSource {
    return { kind: 'pixels', data: this.pixels.subarray(i * 3 * PLANE, (i + 1) * 3 * PLANE), width: SIDE, height: SIDE, channels: 3 };
  }
  name(i: number): string {
    return `cifar10[${i}]`;
  }
}
