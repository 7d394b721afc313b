/**
 * Data sets: what the DataLoader reads. A data set is a list of labelled images, each either
 * an encoded file (decoded with sharp) or pixels already in memory (MNIST, CIFAR-10 binary).
 */
import { expectInt, expectKeys, expectNumber, expectObject, fail } from '../validate';
import { datasetError } from './errors';
import { Rng, STREAM, permutation } from './rng';

/** Where an image's pixels come from. */
export type ImageSource =
  | { kind: 'file'; path: string }
  /** An encoded image (JPEG, PNG, WebP, ...) in memory; `name` labels it in errors. */
  | { kind: 'bytes'; data: Uint8Array; name: string }
  /** Pixels in memory: (height, width, channels) row-major, 8-bit, 1 (grey) or 3 (RGB) channels. */
  | { kind: 'pixels'; data: Uint8Array; width: number; height: number; channels: 1 | 3 };

/**
 * The interface the DataLoader and the trainer consume.
 *
 * `classes[c]` names class c; `counts[c]` is the number of images of class c; `label(i)` is
 * image i's class index in [0, classes.length); `source(i)` says where its pixels are;
 * `name(i)` is how errors and reports name it (the file path for files).
 */
export interface Dataset {
  /** Number of images. */
  readonly length: number;
  /** Class names: `classes[c]` names class c. */
  readonly classes: readonly string[];
  /** Images per class: `counts[c]` images have label c. */
  readonly counts: readonly number[];
  /** Image i's class index, in [0, classes.length). */
  label(i: number): number;
  /** Where image i's pixels are: a file, encoded bytes, or raw pixels. */
  source(i: number): ImageSource;
  /** How errors and reports name image i (the file path for files). */
  name(i: number): string;
}

/** Options of split(): `val` is a fraction in (0, 1) or a number of images. */
export interface SplitOptions {
  /** Fraction of each class (0 < val < 1), or a total count (an integer ≥ 1) spread over the classes in proportion. */
  val: number;
  /** Seed of the draw (default 0). The same seed gives the same split. */
  seed?: number;
}

/** Shared behaviour of the data sets in this package: counts, a summary, split and subset. */
export abstract class BaseDataset implements Dataset {
  /** Number of images. */
  abstract readonly length: number;
  /** Class names: `classes[c]` names class c. */
  abstract readonly classes: readonly string[];
  /** Image i's class index, in [0, classes.length). */
  abstract label(i: number): number;
  /** Where image i's pixels are: a file, encoded bytes, or raw pixels. */
  abstract source(i: number): ImageSource;
  /** How errors and reports name image i (the file path for files). */
  abstract name(i: number): string;

  private countsCache?: number[];

  /** Images per class: counts[c] for classes[c]. */
  get counts(): readonly number[] {
    if (!this.countsCache) {
      const c = new Array<number>(this.classes.length).fill(0);
      for (let i = 0; i < this.length; i++) c[this.label(i)]++;
      this.countsCache = c;
    }
    return this.countsCache;
  }

  /** One line per data set: size, classes and per-class counts. */
  summary(): string {
    const parts = this.classes.map((c, i) => `${c} ${this.counts[i]}`);
    return `${this.length} images in ${this.classes.length} classes (${parts.join(', ')})`;
  }

  /** The images at `indices` (in that order), with the same classes. */
  subset(indices: ArrayLike<number>): Subset {
    return new Subset(this, indices);
  }

  /** A stratified, seeded split into train and val subsets (see split()). */
  split(options: SplitOptions): { train: Subset; val: Subset } {
    return split(this, options);
  }
}

/** A view of some images of another data set, by index. */
export class Subset extends BaseDataset {
  /** The parent's indices of this subset's images, in this subset's order. */
  readonly indices: Int32Array;
  /**
   * A view of `parent`'s images at `indices`, in that order (repeats allowed); the parent is
   * not copied.
   * @param parent - The data set viewed.
   * @param indices - Indices into `parent`.
   * @throws BagOfTricksError ERR_ARGUMENT for an index outside [0, parent.length).
   */
  constructor(
    /** The data set this is a view of. */
    readonly parent: Dataset,
    indices: ArrayLike<number>,
  ) {
    super();
    this.indices = Int32Array.from(indices);
    for (const i of this.indices) {
      if (i < 0 || i >= parent.length) fail('ERR_ARGUMENT', `indices in [0, ${parent.length})`, 'indices', i);
    }
  }
  get length(): number {
    return this.indices.length;
  }
  get classes(): readonly string[] {
    return this.parent.classes;
  }
  label(i: number): number {
    return this.parent.label(this.indices[i]);
  }
  source(i: number): ImageSource {
    return this.parent.source(this.indices[i]);
  }
  name(i: number): string {
    return this.parent.name(this.indices[i]);
  }
}

/**
 * Stratified, deterministic split. Within each class the images are shuffled with a stream
 * keyed by (seed, class) and the first k go to `val`: k = round(val · count) for a fraction,
 * kept in [1, count − 1] for classes of two or more images so that neither side loses the
 * class; for a count, the total is spread over the classes in proportion (largest
 * remainder). Both subsets list their images in the parent's order.
 */
export function split(dataset: Dataset, options: SplitOptions): { train: Subset; val: Subset } {
  const o = expectObject('options', options);
  expectKeys('options', o, ['val', 'seed']);
  const val = expectNumber('options.val', options.val, 0, dataset.length, 'fraction in (0, 1) or an image count ≥ 1');
  const seed = expectInt('options.seed', options.seed ?? 0, 0);
  const isFraction = val > 0 && val < 1;
  if (!isFraction && !(Number.isInteger(val) && val >= 1)) fail('ERR_ARGUMENT', 'fraction in (0, 1) or an image count ≥ 1', 'options.val', val);

  const byClass: number[][] = dataset.classes.map(() => []);
  for (let i = 0; i < dataset.length; i++) byClass[dataset.label(i)].push(i);
  const counts = byClass.map((b) => b.length);
  let take: number[];
  if (isFraction) {
    take = counts.map((c) => (c >= 2 ? Math.min(c - 1, Math.max(1, Math.round(val * c))) : 0));
  } else {
    const exact = counts.map((c) => (val * c) / dataset.length);
    take = exact.map(Math.floor);
    const order = exact.map((e, c) => [e - Math.floor(e), c]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    let left = val - take.reduce((a, b) => a + b, 0);
    for (const [, c] of order) {
      if (left <= 0) break;
      if (take[c] < counts[c]) {
        take[c]++;
        left--;
      }
    }
  }
  const isVal = new Uint8Array(dataset.length);
  byClass.forEach((items, c) => {
    const perm = permutation(items.length, new Rng(seed, STREAM.split, c));
    for (let k = 0; k < take[c]; k++) isVal[items[perm[k]]] = 1;
  });
  const trainIdx: number[] = [];
  const valIdx: number[] = [];
  for (let i = 0; i < dataset.length; i++) (isVal[i] ? valIdx : trainIdx).push(i);
  return { train: new Subset(dataset, trainIdx), val: new Subset(dataset, valIdx) };
}

/** Image files with labels: the data set behind ImageFolder, usable on its own for file lists. */
export class ImageList extends BaseDataset {
  /** The image files, in order: image i is `files[i]`. */
  readonly files: readonly string[];
  readonly classes: readonly string[];
  private readonly labels: Int32Array;

  /**
   * `files[i]` has class `labels[i]` (an index into `classes`). Without labels every file is
   * class 0 of a single class named "images".
   */
  constructor(files: readonly string[], labels?: ArrayLike<number>, classes?: readonly string[]) {
    super();
    if (!Array.isArray(files) || files.some((f) => typeof f !== 'string')) fail('ERR_ARGUMENT', 'array of file paths', 'files', files);
    this.files = files.slice();
    this.classes = classes ? classes.slice() : ['images'];
    this.labels = labels ? Int32Array.from(labels) : new Int32Array(files.length);
    if (this.labels.length !== files.length) fail('ERR_ARGUMENT', `${files.length} labels`, 'labels', labels);
    for (const l of this.labels) {
      if (l < 0 || l >= this.classes.length) fail('ERR_ARGUMENT', `labels in [0, ${this.classes.length})`, 'labels', l);
    }
  }
  get length(): number {
    return this.files.length;
  }
  label(i: number): number {
    return this.labels[i];
  }
  source(i: number): ImageSource {
    return { kind: 'file', path: this.files[i] };
  }
  name(i: number): string {
    return this.files[i];
  }
}

/** Throws ERR_DATASET naming every class with no image. */
export function expectNoEmptyClass(what: string, classes: readonly string[], counts: readonly number[]): void {
  const empty = classes.filter((_, c) => counts[c] === 0);
  if (empty.length) {
    throw datasetError(`${what}: class${empty.length > 1 ? 'es' : ''} ${empty.map((e) => JSON.stringify(e)).join(', ')} ha${empty.length > 1 ? 've' : 's'} no images`);
  }
}
