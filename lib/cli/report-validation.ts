/**
 * The report's validation details: every validation image's prediction with the run's final
 * weights, summed into a confusion matrix and per-class accuracy, and the most confident
 * mistakes with small thumbnails.
 *
 * Cost: one forward pass over the validation set (as one more validation would), once, at
 * the end of training; thumbnails are decoded for the gallery's images only (at most
 * GALLERY_CAP), each a GALLERY_THUMB_PX-pixel PNG or JPEG of a few kB as a data: URI.
 */
import type { BaseDataset, DataLoader } from '../data';
import { loadSharp } from '../data/decode';
import type { Net } from '../net';

/** Mistakes shown in the gallery: enough to see a pattern, few enough to stay a small page. */
export const GALLERY_CAP = 12;
/** Thumbnail side in px: large enough to recognise a digit or an object, a few kB each. */
export const GALLERY_THUMB_PX = 56;

/** Predictions over the validation set, and the most confident mistakes. */
export interface ValidationDetails {
  /** What the predictions were made with, e.g. "weights at the end of training (epoch 2)". */
  weights: string;
  classes: readonly string[];
  /** confusion[t][p]: validation images of true class t predicted as p. */
  confusion: number[][];
  /** The most confident mistakes, highest score first (at most GALLERY_CAP). */
  mistakes: Mistake[];
}

export interface Mistake {
  /** How the data set names the image (its file path for files). */
  name: string;
  /** True and predicted class indices. */
  label: number;
  pred: number;
  /** Softmax probability of the predicted class. */
  score: number;
  /** The thumbnail as a data: URI ('' when the image could not be read again). */
  thumbnail: string;
}

/**
 * Runs `net` (eval mode) over every batch of `loader` (epoch `epoch`'s batches; eval
 * transforms give the same images every epoch) and collects the confusion matrix and the
 * `cap` most confident mistakes, with thumbnails read from `dataset` (the loader's data set).
 */
export async function validationDetails(net: Net, loader: DataLoader, dataset: BaseDataset, weights: string, cap = GALLERY_CAP, epoch = 0): Promise<ValidationDetails> {
  const k = net.numClasses;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let wrong: { index: number; label: number; pred: number; score: number }[] = [];
  for await (const batch of loader.epoch(epoch)) {
    const raw = batch.images.data instanceof Uint8Array;
    const logits = raw
      ? await net.forward({ data: batch.images.data as Uint8Array, shape: batch.images.shape.slice() }, { augment: loader.augmentOptions })
      : await net.forward({ data: batch.images.data as Float32Array, shape: batch.images.shape.slice() });
    const { labels, indices } = batch;
    batch.release();
    for (let i = 0; i < labels.length; i++) {
      const row = logits.data.subarray(i * k, (i + 1) * k);
      let pred = 0;
      for (let j = 1; j < k; j++) if (row[j] > row[pred]) pred = j;
      confusion[labels[i]][pred]++;
      if (pred === labels[i]) continue;
      let sum = 0; // softmax of the predicted class, stable: exp(x_j − x_pred)
      for (let j = 0; j < k; j++) sum += Math.exp(row[j] - row[pred]);
      wrong.push({ index: indices[i], label: labels[i], pred, score: 1 / sum });
      if (wrong.length > 4 * cap) wrong = topByScore(wrong, cap); // bounded memory
    }
  }
  const mistakes: Mistake[] = [];
  for (const w of topByScore(wrong, cap)) {
    mistakes.push({ name: dataset.name(w.index), label: w.label, pred: w.pred, score: w.score, thumbnail: await thumbnail(dataset, w.index) });
  }
  return { weights, classes: dataset.classes, confusion, mistakes };
}

/** The `cap` highest scores, highest first (ties: the lower data set index first, for a stable order). */
function topByScore<T extends { index: number; score: number }>(items: T[], cap: number): T[] {
  return items.slice().sort((a, b) => b.score - a.score || a.index - b.index).slice(0, cap);
}

/** Image i of a data set as a small data: URI (PNG for pixels in memory, JPEG for files); '' when it cannot be read. */
export async function thumbnail(dataset: BaseDataset, i: number, px = GALLERY_THUMB_PX): Promise<string> {
  const sharp = loadSharp();
  const src = dataset.source(i);
  try {
    if (src.kind === 'pixels') {
      const png = await sharp(Buffer.from(src.data.buffer, src.data.byteOffset, src.data.byteLength), { raw: { width: src.width, height: src.height, channels: src.channels } })
        .resize(px, px, { fit: 'contain', background: '#ffffff', kernel: src.width < px ? 'nearest' : 'lanczos3' }) // nearest: sharp pixels when enlarging tiny images
        .png()
        .toBuffer();
      return `data:image/png;base64,${png.toString('base64')}`;
    }
    const input = src.kind === 'file' ? src.path : Buffer.from(src.data.buffer, src.data.byteOffset, src.data.byteLength);
    const jpeg = await sharp(input, { failOn: 'none' }).rotate().resize(px, px, { fit: 'cover' }).flatten({ background: '#ffffff' }).jpeg({ quality: 80 }).toBuffer();
    return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
  } catch {
    return '';
  }
}
