/**
 * Loading trained weights for inference and fine-tuning.
 *
 * `load(path, { model })` reads a safetensors file that is either a bagoftricks checkpoint
 * (its metadata names the model, the classes and the input size) or a plain state dict in
 * timm's or torchvision's key layout (`conv1.weight`, `layer1.0.bn1.running_mean`,
 * `fc.weight`, ...; the D variants' `conv1.0`…`conv1.6` and `downsample.1`/`.2`; timm's
 * `conv_stem`, `blocks.{s}.{i}.conv_dw`/`conv_pw` and `classifier` for MobileNetV1). Those
 * layouts are the ones our models use, so a state dict maps onto a model key by key; the
 * only rewrites are a leading `module.` (DataParallel) and dropping BN's
 * `num_batches_tracked` counters. Anything else that does not fit is an ERR_WEIGHTS_MISMATCH
 * listing the missing keys, the unexpected keys and the shape conflicts.
 *
 * The result, a Classifier, runs the model in eval mode (BN with its running statistics):
 * `forward` on NCHW float input like PyTorch, `predict` on image files or encoded bytes with
 * the eval transform (resize, centre crop, normalise).
 */
import * as fs from 'fs';
import { BagOfTricksError } from './errors';
import { expectFiniteWeights } from './finite';
import { BaseDataset, DataLoader, ImageSource, TransformSpec } from './data';
import { createModel, ModelName, ModelOptions, ZooModel } from './models';
import { Net } from './net';
import { nchwToNhwc } from './ops/convert';
import { cudaInfo } from './runtime';
import { Tensor } from './tensor';
import { MOMENTUM_PREFIX, loadCheckpoint } from './train/checkpoint';
import { readSafetensorsHeader } from './train/safetensors';
import type { Prediction } from './train/trainer';
import { expectBool, expectInt, expectKeys, expectObject, fail } from './validate';
import { imageError } from './data/errors';
import { disposeSymbol } from './dispose';

function expectList(name: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) fail('ERR_ARGUMENT', 'array', name, v);
  return v as unknown[];
}

export type { Prediction };

/** The model of a plain state dict: a name (checked by TypeScript), or a name with model options (checked when loading). */
export type ModelSpec = ModelName | ({ name: ModelName } & ModelOptions);

/** Options of load(). Unknown keys throw ERR_ARGUMENT. */
export interface LoadOptions {
  /**
   * The architecture, required for a plain state dict (a bagoftricks checkpoint names its
   * own; given anyway, it must agree). `numClasses` defaults to the rows of the
   * classifier's weight (`fc.weight`, or `classifier.weight` for MobileNetV1).
   */
  model?: ModelSpec;
  /** Class names for predict(), one per output (default: the checkpoint's, else "0", "1", ...). */
  classes?: string[];
  /** Side of the square input predict() feeds the model (default: the checkpoint's, else 224, or 32 with the CIFAR stem). */
  inputSize?: number;
  /** predict()'s transform (default: the checkpoint run's eval transform, else 'eval'). */
  transform?: TransformSpec;
  /**
   * Largest batch of one native forward call; larger inputs run in chunks (default 8). The
   * Net is inference-only (activations shared by liveness): resnet50d at 224² holds about
   * 205 MiB at batch 8 and 530 MiB at batch 32, plus the folded weights.
   */
  batchSize?: number;
  /** Where the forward passes run: 'cpu' (default), 'cuda' or 'auto' (see NetOptions.backend). */
  backend?: 'cpu' | 'cuda' | 'auto';
  /**
   * Load weights holding NaN or ±Inf (default false: such a file is refused with
   * ERR_NON_FINITE listing the tensors and their counts).
   */
  allowNonFinite?: boolean;
}

/** Keys that did not fit, as load() reports them. */
export interface WeightsMismatch {
  /** Tensors the model needs that the file lacks. */
  missing: string[];
  /** Tensors of the file the model does not have. */
  unexpected: string[];
  /** Keys present on both sides with different shapes. */
  conflicts: { key: string; expected: number[]; found: number[] }[];
}

/** ERR_WEIGHTS_MISMATCH, with the lists in `details`. */
export class WeightsMismatchError extends BagOfTricksError {
  /**
   * Makes the error; its message summarises `details` for `what`.
   * @param details - The missing keys, the unexpected keys and the shape conflicts.
   * @param what - The file (or part of it) named in the message.
   */
  constructor(
    /** Everything that did not fit: the missing keys, the unexpected keys and the shape conflicts. */
    readonly details: WeightsMismatch,
    what: string,
  ) {
    super('ERR_WEIGHTS_MISMATCH', `${what} does not fit the model: ${describeMismatch(details)}`);
    this.name = 'BagOfTricksError';
  }
}

const MAX_LISTED = 8;

function list(keys: string[]): string {
  const shown = keys.slice(0, MAX_LISTED).join(', ');
  return keys.length > MAX_LISTED ? `${shown} and ${keys.length - MAX_LISTED} more` : shown;
}

function describeMismatch(m: WeightsMismatch): string {
  const parts: string[] = [];
  if (m.missing.length) parts.push(`${m.missing.length} missing (${list(m.missing)})`);
  if (m.unexpected.length) parts.push(`${m.unexpected.length} unexpected (${list(m.unexpected)})`);
  if (m.conflicts.length) {
    const c = m.conflicts.map((x) => `${x.key}: model [${x.expected}] vs file [${x.found}]`);
    parts.push(`${m.conflicts.length} of another shape (${list(c)})`);
  }
  return parts.join('; ');
}

/** A state dict's keys in our naming: `module.` prefixes stripped, `num_batches_tracked` dropped. */
export function normalizeStateDict(tensors: Record<string, Tensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(tensors)) {
    if (k.startsWith(MOMENTUM_PREFIX) || k.endsWith('.num_batches_tracked')) continue;
    const key = k.startsWith('module.') ? k.slice('module.'.length) : k;
    Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * Compares a state dict (already normalised) with a model's tensors. `skip` names model keys
 * to leave out of the comparison (a classifier being replaced).
 */
export function compareWeights(model: ZooModel, tensors: Record<string, Tensor>, skip: ReadonlySet<string> = new Set()): WeightsMismatch & { matched: string[] } {
  const specs = model.parameters();
  const known = new Set(specs.map((p) => p.name));
  const missing: string[] = [];
  const conflicts: WeightsMismatch['conflicts'] = [];
  const matched: string[] = [];
  for (const p of specs) {
    if (skip.has(p.name)) continue;
    const t = Object.prototype.hasOwnProperty.call(tensors, p.name) ? tensors[p.name] : undefined;
    if (!t) missing.push(p.name);
    else if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) conflicts.push({ key: p.name, expected: p.shape, found: t.shape.slice() });
    else matched.push(p.name);
  }
  const unexpected = Object.keys(tensors).filter((k) => !known.has(k) && !skip.has(k));
  return { missing, unexpected, conflicts, matched };
}

/** What load() resolved a file to. */
export interface ResolvedWeights {
  model: ZooModel;
  /** Every tensor of the model (PyTorch layout), by key. */
  parameters: Record<string, Tensor>;
  /** 'checkpoint': written by bagoftricks (metadata present); 'state-dict': a plain timm/torchvision state dict. */
  source: 'checkpoint' | 'state-dict';
  /** The checkpoint's classes, if it has them. */
  classes?: string[];
  /** The checkpoint's input size, if it has one. */
  inputSize?: number;
  /** The checkpoint run's eval transform, if it has one. */
  evalTransform?: TransformSpec;
  /** The file's metadata as stored. */
  metadata: Record<string, string>;
}

/**
 * Checks a checkpoint's saved model config against the model built from it: every field the
 * file states (layers, block, stem type, ...) must be the model's, or the metadata was
 * changed after the tensors were written (ERR_CHECKPOINT_FORMAT naming the field).
 */
export function expectSavedConfig(file: string, saved: Record<string, unknown>, model: { name: string; config: object }): void {
  const actual = model.config as Record<string, unknown>;
  for (const [key, value] of Object.entries(saved)) {
    if (!Object.prototype.hasOwnProperty.call(actual, key)) {
      throw new BagOfTricksError('ERR_CHECKPOINT_FORMAT', `${file}: Expected a field of a ${model.name}'s config for metadata "model".config.${key} but received ${JSON.stringify(value)}`);
    }
    if (JSON.stringify(actual[key]) !== JSON.stringify(value)) {
      throw new BagOfTricksError('ERR_CHECKPOINT_FORMAT', `${file}: Expected ${JSON.stringify(actual[key])} (a ${model.name}) for metadata "model".config.${key} but received ${JSON.stringify(value)}`);
    }
  }
}

function parseMeta<T>(file: string, metadata: Record<string, string>, key: string): T | undefined {
  const v = metadata[key];
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v) as T;
  } catch {
    throw new BagOfTricksError('ERR_CHECKPOINT_FORMAT', `${file}: metadata "${key}" is not valid JSON`);
  }
}

function modelSpec(spec: ModelSpec): { name: string; options: ModelOptions } {
  if (typeof spec === 'string') return { name: spec, options: {} };
  const o = expectObject('options.model', spec) as { name?: unknown } & ModelOptions;
  if (typeof o.name !== 'string') fail('ERR_ARGUMENT', 'a model name', 'options.model.name', o.name);
  const { name, ...options } = o;
  return { name: name as string, options };
}

/**
 * Reads a checkpoint or state dict and builds its model: the model from the checkpoint's
 * metadata or `options.model`, with every tensor checked against the model's (ERR_WEIGHTS_MISMATCH).
 */
export async function resolveWeights(file: string, options: Pick<LoadOptions, 'model' | 'allowNonFinite'> = {}): Promise<ResolvedWeights> {
  if (typeof file !== 'string' || file.length === 0) fail('ERR_ARGUMENT', 'file path', 'path', file);
  if (!fs.existsSync(file)) throw new BagOfTricksError('ERR_ARGUMENT', `no file at ${JSON.stringify(file)}`);
  const { tensors: raw, metadata } = await loadCheckpoint(file, { int64: 'skip' });
  const tensors = normalizeStateDict(raw);
  const saved = parseMeta<{ name: string; config: ModelOptions & Record<string, unknown> }>(file, metadata, 'model');
  let model: ZooModel;
  if (saved) {
    if (typeof saved.name !== 'string' || typeof saved.config !== 'object' || saved.config === null) {
      throw new BagOfTricksError('ERR_CHECKPOINT_FORMAT', `${file}: metadata "model" has no name and config`);
    }
    if (options.model !== undefined && modelSpec(options.model).name !== saved.name) {
      throw new BagOfTricksError('ERR_ARGUMENT', `options.model is ${modelSpec(options.model).name} but ${file} holds a ${saved.name}`);
    }
    const c = saved.config;
    model = createModel(saved.name as ModelName, { numClasses: c.numClasses, width: c.width, stem: c.stem, zeroGamma: c.zeroGamma, seed: c.seed, inputChannels: c.inputChannels });
    expectSavedConfig(file, c, model);
  } else {
    if (options.model === undefined) {
      throw new BagOfTricksError('ERR_ARGUMENT', `${file} is a plain state dict (no bagoftricks metadata): say which architecture it is with options.model (e.g. 'resnet50d')`);
    }
    const { name, options: o } = modelSpec(options.model);
    const fc = tensors[`${classifierOf(createModel(name as ModelName, o))}.weight`];
    const numClasses = o.numClasses ?? (fc && fc.shape.length === 2 ? fc.shape[0] : undefined);
    model = createModel(name as ModelName, { ...o, ...(numClasses === undefined ? {} : { numClasses }) });
  }
  const m = compareWeights(model, tensors);
  if (m.missing.length || m.unexpected.length || m.conflicts.length) throw new WeightsMismatchError(m, file);
  const parameters: Record<string, Tensor> = {};
  for (const k of m.matched) parameters[k] = tensors[k];
  if (options.allowNonFinite !== true) expectFiniteWeights(file, Object.entries(parameters));
  const run = parseMeta<{ evalTransform?: TransformSpec }>(file, metadata, 'run');
  const classes = parseMeta<string[]>(file, metadata, 'classes');
  const inputSize = metadata.inputSize === undefined ? undefined : Number(metadata.inputSize);
  return {
    model,
    parameters,
    source: saved ? 'checkpoint' : 'state-dict',
    metadata,
    ...(Array.isArray(classes) ? { classes } : {}),
    ...(inputSize !== undefined && Number.isInteger(inputSize) && inputSize > 0 ? { inputSize } : {}),
    ...(run?.evalTransform ? { evalTransform: run.evalTransform } : {}),
  };
}

/** An image for predict(): a file path, encoded bytes (JPEG, PNG, ...), or raw 8-bit pixels. */
export type ImageInput = string | Uint8Array | { data: Uint8Array; width: number; height: number; channels: 1 | 3 };

class Sources extends BaseDataset {
  readonly classes = ['images'];
  constructor(private readonly items: ImageSource[]) {
    super();
  }
  get length(): number {
    return this.items.length;
  }
  label(): number {
    return 0;
  }
  source(i: number): ImageSource {
    return this.items[i];
  }
  name(i: number): string {
    const s = this.items[i];
    return s.kind === 'file' ? s.path : s.kind === 'bytes' ? s.name : `pixels[${i}]`;
  }
}

function toSource(x: unknown, i: number): ImageSource {
  if (typeof x === 'string') {
    if (x.length === 0) fail('ERR_ARGUMENT', 'a file path', `images[${i}]`, x);
    return { kind: 'file', path: x };
  }
  if (x instanceof Uint8Array) return { kind: 'bytes', data: x, name: `image ${i} (${x.length} bytes)` };
  if (x !== null && typeof x === 'object' && (x as { data?: unknown }).data instanceof Uint8Array) {
    const p = x as { data: Uint8Array; width: unknown; height: unknown; channels: unknown };
    const width = expectInt(`images[${i}].width`, p.width, 1, 1 << 16);
    const height = expectInt(`images[${i}].height`, p.height, 1, 1 << 16);
    if (p.channels !== 1 && p.channels !== 3) fail('ERR_ARGUMENT', '1 or 3', `images[${i}].channels`, p.channels);
    if (p.data.length !== width * height * (p.channels as number)) fail('ERR_SHAPE', `${width * height * (p.channels as number)} bytes (height × width × channels)`, `images[${i}].data.length`, p.data.length);
    return { kind: 'pixels', data: p.data, width, height, channels: p.channels as 1 | 3 };
  }
  return fail('ERR_ARGUMENT', 'a file path, a Buffer/Uint8Array of an encoded image, or { data, width, height, channels }', `images[${i}]`, x);
}

/** Options of Classifier.predict(). */
export interface PredictOptions {
  /** Classes per image, best first (default: 5, or every class when there are fewer). */
  topk?: number;
  /** Per-image results: an image that fails gives `{ error }` instead of rejecting the call (default false). */
  settle?: boolean;
}

/** One image's result under `settle: true`: its predictions, or why it failed. */
export type Settled = Prediction[] | { error: BagOfTricksError };

/** A trained model ready for inference. Create with load(); free with dispose(). */
export class Classifier {
  /** Class names, one per output. */
  readonly classes: readonly string[];
  /** Side of predict()'s square input. */
  readonly inputSize: number;
  /** predict()'s transform. */
  readonly transform: TransformSpec;
  /** Where the weights came from. */
  readonly source: 'checkpoint' | 'state-dict';
  private readonly weights: Record<string, Tensor>;
  private net: Net | null = null;
  private disposed = false;
  private chain: Promise<unknown> = Promise.resolve();

  /**
   * Made by load(), which checks the file first; call it directly only with weights that
   * already fit `model`.
   * @param model - The architecture the weights belong to.
   * @param parameters - Every tensor of the model, PyTorch layout, by state-dict key.
   * @param options - Class names (default "0", "1", ...; one per output, else ERR_ARGUMENT),
   *   predict()'s input size and transform, the largest native batch, and where the weights came from.
   */
  constructor(
    /** The architecture, with its configuration (`model.name`, `model.config`). */
    readonly model: ZooModel,
    parameters: Record<string, Tensor>,
    options: {
      classes?: string[]; inputSize: number; transform: TransformSpec; batchSize: number; source: 'checkpoint' | 'state-dict';
      backend?: 'cpu' | 'cuda' | 'auto'; allowNonFinite?: boolean;
    },
  ) {
    this.allowNonFinite = options.allowNonFinite === true;
    this.weights = parameters;
    const k = model.config.numClasses;
    const classes = options.classes ?? Array.from({ length: k }, (_, i) => String(i));
    if (classes.length !== k) fail('ERR_ARGUMENT', `${k} class names (one per output)`, 'classes.length', classes.length);
    this.classes = classes.slice();
    this.inputSize = options.inputSize;
    this.transform = options.transform;
    this.batchSize = options.batchSize;
    this.source = options.source;
    this.backend = options.backend ?? 'cpu';
  }

  /** Whether weights with NaN or ±Inf were accepted (load's allowNonFinite). */
  private readonly allowNonFinite: boolean;

  /** Where the forward passes run, as asked ('auto' is resolved by each Net). */
  private readonly backend: 'cpu' | 'cuda' | 'auto';

  /** Largest batch of one native forward call. */
  readonly batchSize: number;

  /** The model's tensors (PyTorch layout), by state-dict key. */
  parameters(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(this.weights)) out[k] = { data: Float32Array.from(v.data as Float32Array), shape: v.shape.slice() };
    return out;
  }

  private netFor(height: number, width: number, n: number): Net {
    const want = Math.min(this.batchSize, n);
    const cur = this.net;
    if (cur && cur.height === height && cur.width === width && cur.batchSize >= want) return cur;
    cur?.dispose();
    this.net = null;
    const batchSize = Math.max(want, cur && cur.height === height && cur.width === width ? cur.batchSize : 1);
    const net = new Net(this.model.graph(), { batchSize, height, width, backend: this.backend, training: false });
    try {
      net.setParameters(this.weights, { allowNonFinite: this.allowNonFinite });
    } catch (e) {
      net.dispose();
      throw e;
    }
    this.net = net;
    return net;
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private expectLive(): void {
    if (this.disposed) throw new BagOfTricksError('ERR_DISPOSED', 'this Classifier was disposed');
  }

  /**
   * Logits of a batch in PyTorch's layout: `x` holds N images of C×H×W (NCHW, normalised as
   * the model was trained), the result N rows of `classes.length` logits. Any H and W the
   * network accepts; BN uses its running statistics.
   */
  forward(x: Float32Array, shape: [number, number, number, number] | number[]): Promise<Float32Array> {
    this.expectLive();
    if (!(x instanceof Float32Array)) fail('ERR_DTYPE', 'Float32Array', 'x', x);
    const s = expectList('shape', shape);
    if (s.length !== 4) fail('ERR_SHAPE', '[N, C, H, W]', 'shape', shape);
    const [n, c, h, w] = s.map((d, i) => expectInt(`shape[${i}]`, d, 1, 1 << 20));
    const channels = this.model.config.inputChannels;
    if (c !== channels) fail('ERR_SHAPE', `${channels} channels`, 'shape[1]', c);
    if (x.length !== n * c * h * w) fail('ERR_SHAPE', `${n * c * h * w} values (N·C·H·W)`, 'x.length', x.length);
    return this.enqueue(async () => {
      this.expectLive();
      const net = this.netFor(h, w, n);
      const k = this.classes.length;
      const out = new Float32Array(n * k);
      const plane = h * w;
      for (let start = 0; start < n; start += net.batchSize) {
        const m = Math.min(net.batchSize, n - start);
        const nhwc = nchwToNhwc(x.subarray(start * c * plane, (start + m) * c * plane), [m, c, h, w]);
        const logits = await net.forward(nhwc);
        out.set(logits.data as Float32Array, start * k);
      }
      return out;
    });
  }

  /** Logits of NHWC images (the core's layout, as the DataLoader gives them). */
  forwardNHWC(images: Tensor): Promise<Tensor> {
    this.expectLive();
    const t = expectObject('images', images) as unknown as Tensor;
    if (!(t.data instanceof Float32Array)) fail('ERR_DTYPE', 'Float32Array', 'images.data', t.data);
    const s = expectList('images.shape', t.shape) as number[];
    if (s.length !== 4) fail('ERR_SHAPE', '[N, H, W, C]', 'images.shape', t.shape);
    const [n, h, w] = s as number[];
    return this.enqueue(async () => {
      this.expectLive();
      const net = this.netFor(h, w, n);
      const k = this.classes.length;
      const out = new Float32Array(n * k);
      const sample = t.data.length / n;
      for (let start = 0; start < n; start += net.batchSize) {
        const m = Math.min(net.batchSize, n - start);
        const logits = await net.forward({ data: (t.data as Float32Array).subarray(start * sample, (start + m) * sample), shape: [m, ...s.slice(1)] as number[] });
        out.set(logits.data as Float32Array, start * k);
      }
      return { data: out, shape: [n, k] };
    });
  }

  /**
   * Top-k classes with softmax scores. One image (a path, encoded bytes, or raw pixels)
   * gives one list; an array of images gives one list per image, in order. An image that
   * cannot be decoded rejects with ERR_IMAGE_DECODE (or ERR_IMAGE_TOO_LARGE) naming it;
   * with `settle: true` it gives `{ error }` in that image's place instead, and the others
   * their predictions (as Promise.allSettled does).
   */
  predict(image: ImageInput, options: PredictOptions & { settle: true }): Promise<Settled>;
  predict(images: ImageInput[], options: PredictOptions & { settle: true }): Promise<Settled[]>;
  predict(image: ImageInput, options?: PredictOptions & { settle?: false }): Promise<Prediction[]>;
  predict(images: ImageInput[], options?: PredictOptions & { settle?: false }): Promise<Prediction[][]>;
  async predict(images: ImageInput | ImageInput[], options: PredictOptions = {}): Promise<Settled | Settled[]> {
    this.expectLive();
    const o = expectObject('options', options);
    expectKeys('options', o, ['topk', 'settle']);
    const settle = o.settle === undefined ? false : expectBool('options.settle', o.settle);
    const topk = o.topk === undefined ? Math.min(5, this.classes.length) : expectInt('options.topk', o.topk, 1, this.classes.length);
    const single = !Array.isArray(images);
    const items = (single ? [images] : images) as unknown[];
    if (items.length === 0) return [];
    const sources = items.map(toSource);
    const loader = new DataLoader(new Sources(sources), {
      batchSize: Math.min(this.batchSize, items.length),
      transform: this.transform,
      size: this.inputSize,
      shuffle: false,
      onError: settle ? 'skip' : 'throw',
    });
    const out: Settled[] = new Array(items.length);
    // A bad image fails the loop with the loader's DataError (ERR_IMAGE_DECODE or ERR_IMAGE_TOO_LARGE);
    // settling, the loader skips it, and stops with ERR_DATASET when no image at all decodes.
    try {
      for await (const batch of loader.epoch(0)) {
        const logits = await this.forwardNHWC({ data: batch.images.data as Float32Array, shape: batch.images.shape.slice() });
        const k = this.classes.length;
        batch.indices.forEach((idx, i) => (out[idx] = topK(logits.data.subarray(i * k, (i + 1) * k) as Float32Array, this.classes, topk)));
        batch.release();
      }
    } catch (e) {
      if (!(settle && e instanceof BagOfTricksError && e.code === 'ERR_DATASET' && loader.skipped.length > 0)) throw e;
    }
    if (settle) {
      // The images the loader skipped: each given its own error (one entry per file, by name).
      const sources = loader.dataset as Sources;
      for (let i = 0; i < out.length; i++) {
        if (out[i] !== undefined) continue;
        const skip = loader.skipped.find((f) => f.path === sources.name(i));
        out[i] = { error: skip ? imageError(skip) : new BagOfTricksError('ERR_IMAGE_DECODE', `${sources.name(i)}: could not be decoded`) };
      }
    }
    return single ? out[0] : out;
  }

  /** Frees the native memory; later calls reject with ERR_DISPOSED. */
  dispose(): void {
    this.disposed = true;
    this.net?.dispose();
    this.net = null;
  }

  /** `using model = await load(...)` disposes at the end of the block. */
  [disposeSymbol](): void {
    this.dispose();
  }
}

/** Softmax of one row of logits, the k best classes first. */
export function topK(logits: Float32Array, classes: readonly string[], k: number): Prediction[] {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  const e = Array.from(logits, (v) => {
    const x = Math.exp(v - max);
    sum += x;
    return x;
  });
  return e
    .map((v, index) => ({ label: classes[index], index, score: v / sum }))
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, k);
}

/**
 * Loads a bagoftricks checkpoint or a timm/torchvision safetensors state dict for inference.
 * Keys are matched one to one (a leading `module.` and BN's `num_batches_tracked` are
 * ignored); the Classifier runs the model in eval mode and holds native memory until
 * dispose().
 *
 * @param path - A `.safetensors` file.
 * @param options - The architecture (required for a plain state dict), class names, and
 *   predict()'s input size, transform and batch size (defaults in LoadOptions).
 * @returns The Classifier: forward() on NCHW float input, predict() on images.
 * @throws BagOfTricksError ERR_ARGUMENT for a missing file, a path that is not a regular file
 *   (a folder, a FIFO) or bad options, ERR_IO when the file cannot be read,
 *   ERR_CHECKPOINT_FORMAT for a malformed file or metadata that contradicts the tensors,
 *   ERR_NON_FINITE for NaN/Inf weights (unless `allowNonFinite`), WeightsMismatchError
 *   (ERR_WEIGHTS_MISMATCH) when the tensors do not fit the model.
 *
 * @example
 * ```js
 * const { load } = require('bagoftricks');
 * const model = await load('resnet50d.safetensors', { model: 'resnet50d', classes });
 * const logits = await model.forward(x, [1, 3, 224, 224]);   // NCHW Float32Array, like PyTorch
 * const top5 = await model.predict('cat.jpg');                // [{ label, index, score }, ...]
 * model.dispose();
 * ```
 */
export async function load(path: string, options: LoadOptions = {}): Promise<Classifier> {
  const o = expectObject('options', options);
  expectKeys('options', o, ['model', 'classes', 'inputSize', 'transform', 'batchSize', 'backend', 'allowNonFinite']);
  const allowNonFinite = o.allowNonFinite === undefined ? false : o.allowNonFinite === true ? true : fail('ERR_ARGUMENT', 'true or false', 'options.allowNonFinite', o.allowNonFinite);
  const r = await resolveWeights(path, { model: o.model as ModelSpec | undefined, allowNonFinite });
  const classes = o.classes === undefined ? r.classes : expectList('options.classes', o.classes).map((c, i) => (typeof c === 'string' ? c : fail('ERR_ARGUMENT', 'string', `options.classes[${i}]`, c)));
  const stem = r.model.config.stem;
  const inputSize = o.inputSize === undefined ? (r.inputSize ?? (stem === 'cifar' ? 32 : 224)) : expectInt('options.inputSize', o.inputSize, 1, 1 << 14);
  const transform = (o.transform as TransformSpec | undefined) ?? r.evalTransform ?? (stem === 'cifar' ? { type: 'eval', resizeRatio: 1 } : 'eval');
  const batchSize = o.batchSize === undefined ? 8 : expectInt('options.batchSize', o.batchSize, 1, 1 << 12);
  const backend = o.backend as LoadOptions['backend'];
  if (backend !== undefined && backend !== 'cpu' && backend !== 'cuda' && backend !== 'auto') fail('ERR_ARGUMENT', '"cpu", "cuda" or "auto"', 'options.backend', backend);
  // The Net is built on the first forward; a missing GPU is reported now, not then.
  if (backend === 'cuda' && !cudaInfo().available) throw new BagOfTricksError('ERR_CUDA_UNAVAILABLE', `the CUDA backend is unavailable: ${cudaInfo().reason}`);
  return new Classifier(r.model, r.parameters, { classes, inputSize, transform, batchSize, source: r.source, backend, allowNonFinite });
}

/** What pretrainedWeights() kept and replaced. */
export interface PretrainedReport {
  /** The file read. */
  file: string;
  /**
   * 'checkpoint': written by bagoftricks (it has metadata); 'state-dict': a plain timm/torchvision state dict.
   */
  source: 'checkpoint' | 'state-dict';
  /** The architecture the file's metadata names (checkpoints only). */
  fileModel?: string;
  /** Tensors taken from the file. */
  kept: number;
  /** The classifier's keys left at their fresh initialisation, when the class counts differ. */
  replaced: string[];
  /** Classes of the file's classifier (rows of its classifier weight: `fc.weight`, `classifier.weight`). */
  fileClasses: number;
}

/** The node name of a model's classifier, the linear layer whose output is the graph's (`fc`, `classifier`). */
export function classifierOf(model: { graph(): { output: string } }): string {
  return model.graph().output;
}

/**
 * The tensors of a checkpoint or timm/torchvision state dict to start fine-tuning `model`
 * from: every backbone tensor must be there with the model's shape (ERR_WEIGHTS_MISMATCH
 * otherwise, with the lists); the classifier is kept when its shape fits and otherwise
 * replaced (left out, so the model's fresh initialisation stays), which the report says.
 * A checkpoint naming another architecture is ERR_ARGUMENT.
 */
export async function pretrainedWeights(file: string, model: ZooModel): Promise<{ parameters: Record<string, Tensor>; report: PretrainedReport }> {
  if (typeof file !== 'string' || file.length === 0) fail('ERR_ARGUMENT', 'file path', 'file', file);
  if (!fs.existsSync(file)) throw new BagOfTricksError('ERR_ARGUMENT', `no file at ${JSON.stringify(file)}`);
  const { tensors: raw, metadata } = await loadCheckpoint(file, { int64: 'skip' });
  const tensors = normalizeStateDict(raw);
  const saved = parseMeta<{ name?: string }>(file, metadata, 'model');
  if (saved && saved.name !== model.name) {
    throw new BagOfTricksError('ERR_ARGUMENT', `${file} holds a ${String(saved.name)}, not a ${model.name}: fine-tune the same architecture (its blocks differ even where the keys agree)`);
  }
  const head = classifierOf(model);
  const classifierKeys = [`${head}.weight`, `${head}.bias`];
  const m = compareWeights(model, tensors, new Set(classifierKeys));
  if (m.missing.length || m.unexpected.length || m.conflicts.length) throw new WeightsMismatchError(m, `${file} (its backbone)`);
  const parameters: Record<string, Tensor> = {};
  for (const k of m.matched) parameters[k] = tensors[k];
  const specs = new Map(model.parameters().map((p) => [p.name, p.shape]));
  const fits = classifierKeys.every((k) => {
    const t = tensors[k];
    const want = specs.get(k)!;
    return t && t.shape.length === want.length && t.shape.every((d, i) => d === want[i]);
  });
  if (fits) for (const k of classifierKeys) parameters[k] = tensors[k];
  expectFiniteWeights(file, Object.entries(parameters));
  const fc = tensors[classifierKeys[0]];
  return {
    parameters,
    report: {
      file,
      source: saved ? 'checkpoint' : 'state-dict',
      ...(saved?.name ? { fileModel: saved.name } : {}),
      kept: Object.keys(parameters).length,
      replaced: fits ? [] : classifierKeys.slice(),
      fileClasses: fc && fc.shape.length === 2 ? fc.shape[0] : 0,
    },
  };
}

/** The model options a checkpoint was trained with (name, width, stem), or undefined for a plain state dict. */
export async function checkpointModel(file: string): Promise<{ name: string; width?: number; stem?: 'imagenet' | 'cifar'; inputSize?: number } | undefined> {
  const { metadata } = await readSafetensorsHeader(file);
  const saved = parseMeta<{ name?: unknown; config?: { width?: number; stem?: 'imagenet' | 'cifar' } }>(file, metadata, 'model');
  if (!saved || typeof saved.name !== 'string') return undefined;
  const inputSize = Number(metadata.inputSize);
  return { name: saved.name, width: saved.config?.width, stem: saved.config?.stem, ...(Number.isInteger(inputSize) && inputSize > 0 ? { inputSize } : {}) };
}
