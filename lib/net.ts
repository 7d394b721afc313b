/**
 * Net: a model compiled by the core. Every buffer is allocated when the Net is created;
 * a training step is one asynchronous native call (forward, loss, backward, SGD update)
 * that runs off the JS thread. Steps and forwards on one Net run in the order they were
 * called; their inputs are copied when the call is made, so the caller may reuse its
 * arrays at once. A Net frees its memory on dispose() or when it is garbage-collected.
 */
import { BagOfTricksError, callNative, callNativeAsync } from './errors';
import { expectFiniteWeights } from './finite';
import { GraphDesc } from './models/graph';
import type { Model } from './models/model';
import { native } from './native';
import { augmentConstants, AugmentOptions, AugmentParams, augmentParamArrays } from './ops/augment';
import { Tensor } from './tensor';
import { disposeSymbol } from './dispose';
import { Distributed } from './dist';
import {
  expectArray, expectBool, expectInt, expectKeys, expectNumber, expectObject, expectShape, expectTensor, fail, numel,
} from './validate';

/**
 * Options of `new Net(graph, options)`: the buffer sizes and the optimizer's per-parameter
 * settings. Unknown keys throw ERR_ARGUMENT.
 */
export interface NetOptions {
  /** Largest batch a step or forward may take; buffers are sized for it. */
  batchSize: number;
  /** Input height and width (NHWC images of this size). */
  height: number;
  /** Input width in pixels. */
  width: number;
  /** Parameter keys exempt from weight decay (biases and BN γ/β for "no bias decay"). */
  noDecay?: string[];
  /** Initial values in PyTorch layout, by state-dict key. */
  parameters?: Map<string, Float32Array> | Record<string, Float32Array>;
  /**
   * 'fp16': mixed precision — FP32 master weights and momentum, FP16 copies of the
   * conv/linear weights for compute, activations and gradients rounded to FP16 (on the
   * CPU the values are FP16, the arithmetic FP32), BN in FP32. Default 'fp32'.
   */
  precision?: 'fp32' | 'fp16';
  /**
   * Where the buffers live and the kernels run: 'cpu' (the default), 'cuda' (the GPU; throws
   * ERR_CUDA_UNAVAILABLE with the reason where no usable device exists), or 'auto' (the GPU
   * when runtime.cudaInfo().available, else the CPU; `net.backend` says which). The
   * schedule, fusions and numerics are the same on both; results differ by summation order.
   */
  backend?: 'cpu' | 'cuda' | 'auto';
  /**
   * false builds an inference-only Net: forward only (trainStep, forwardBackward and the
   * gradient and momentum accessors throw ERR_ARGUMENT), no gradients or optimizer state,
   * and activations that share buffers by liveness, a fraction of a training Net's memory.
   * Default true.
   */
  training?: boolean;
  /**
   * Learning-rate multipliers by parameter key (fine-tuning: e.g. 0.1 for the backbone).
   * Keys not listed train at the step's rate; 0 freezes a parameter (its weight and
   * momentum stay as they are; BN running statistics still follow the batches).
   */
  lrScale?: Record<string, number>;
  /**
   * Training-mode BN computes its statistics over each of `bnGroups` equal slices of the
   * batch instead of the whole batch ("ghost" batches): the statistics a data-parallel run
   * on `bnGroups` ranks computes, each rank over its slice. Every batch must divide into the
   * groups (ERR_SHAPE otherwise); the running statistics take the groups' updates in turn.
   * Default 1.
   */
  bnGroups?: number;
}

/**
 * One training step's batch and hyper-parameters for Net.trainStep and Net.forwardBackward.
 * Exactly one of `labels` and `targets`; shapes that do not fit throw ERR_SHAPE, bad values
 * ERR_ARGUMENT. The update is SGD with (by default Nesterov) momentum and L2 weight decay.
 */
export interface TrainBatch {
  /** (N, H, W, C) with N ≤ batchSize. */
  images: Tensor | Tensor<Uint8Array>;
  /**
   * With Uint8Array images (raw RGB, 0–255, 3 channels): the colour pass's per-image
   * coefficients (ops.augment's params), run in the step on the Net's device, so the host
   * only decodes and crops. Omitted: normalisation only.
   */
  colour?: AugmentParams;
  /** With Uint8Array images: the colour pass's constants (mean, std, eigval, eigvec; default the paper's). */
  augment?: Omit<AugmentOptions, 'dtype' | 'threads'>;
  /** N hard labels in [0, classes). */
  labels?: Int32Array;
  /** (N, classes) soft targets (mixup, distillation); instead of labels. */
  targets?: Tensor;
  /** Label smoothing ε for hard labels (the paper's: 1 − ε on the label, ε/(K−1) elsewhere). Default 0. */
  smoothing?: number;
  /** Learning rate of this step. */
  lr: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 1e-4; not applied to the noDecay parameters. */
  weightDecay?: number;
  /** Default true. */
  nesterov?: boolean;
  /** Loss scale S (mixed precision): gradients are computed for S·loss and unscaled in the update. Default 1. */
  lossScale?: number;
  /** Mixup: the core blends images[i] with images[perm[i]] by lambda (pass blended soft targets). */
  mixup?: { perm: Int32Array; lambda: number };
  /** Knowledge distillation: teacher logits (N, classes); adds T²·CE(softmax(r/T), softmax(z/T)). */
  teacherLogits?: Tensor;
  /** Distillation temperature T. Default 20 (the paper's). */
  temperature?: number;
}

/** What one training step measured, before the update it applied. */
export interface StepResult {
  /** Mean loss of the batch. */
  loss: number;
  /** Rows whose arg-max logit is the label (or the arg-max of the soft target). */
  correct: number;
  /** Rows in the batch. */
  n: number;
  /** Loss and every gradient finite. When false, no update was applied (weights and momentum unchanged). */
  finite: boolean;
  /**
   * Data-parallel (net.distribute()): the rows of every rank's batch; loss, correct and
   * finite are then over every rank. Otherwise n.
   */
  images: number;
  /** Data-parallel: some rank asked to stop (net.requestStop()); every rank stops after this step. */
  stop: boolean;
}

/** What gradient averaging cost since the last reset (net.distStats()). */
export interface DistStats {
  /** Steps that averaged gradients. */
  steps: number;
  /** Buckets reduced (over every step). */
  buckets: number;
  /** Gradient bytes reduced by this rank. */
  bytes: number;
  /** Seconds the steps waited after their backward pass for buckets still in flight. */
  exposedSeconds: number;
  /** Seconds from each bucket's launch until its completion was seen (overlapped or not). */
  commSeconds: number;
  /** Seconds copying gradients into and out of the buckets. */
  packSeconds: number;
  /** The bucket size asked for, in bytes. */
  bucketBytes: number;
  /** Floats in each bucket of the plan (empty before the first step). */
  bucketNumel: number[];
}

/** One tensor of a Net or model: a learnable parameter or a BN running statistic. */
export interface ParameterInfo {
  /** The state-dict key, as PyTorch and timm name it (`layer1.0.conv1.weight`). */
  name: string;
  /** PyTorch layout (OIHW for conv weights). */
  shape: number[];
  /** What the tensor is: a conv/linear weight or bias, a BN scale γ or shift β, or a BN running statistic. */
  kind: 'weight' | 'bias' | 'gamma' | 'beta' | 'running_mean' | 'running_var';
  /** Updated by SGD (false for the BN running statistics, which follow the batches instead). */
  trainable: boolean;
  /** Weight decay applies to it (false for biases and BN γ/β under "no bias decay"). */
  decay: boolean;
  /** Multiplier of the step's learning rate (options.lrScale); 0 when frozen. */
  lrScale: number;
}

interface NativeNet {
  trainStep(...a: unknown[]): Promise<{ loss: number; correct: number; finite: boolean; images: number; stop: boolean }>;
  forwardBackward(...a: unknown[]): Promise<{ loss: number; correct: number; finite: boolean; images: number; stop: boolean }>;
  setDistributed(bucketBytes: number | null): void;
  requestStop(stop: boolean): void;
  broadcastState(root: number): Promise<void>;
  distStats(reset?: boolean): DistStats | null;
  forward(images: Float32Array | Uint8Array, n: number, ...colour: unknown[]): Promise<Float32Array>;
  parameters(): ParameterInfo[];
  getParameter(name: string): Float32Array;
  setParameter(name: string, data: Float32Array): void;
  getGradient(name: string): Float32Array;
  getMomentum(name: string): Float32Array;
  setMomentum(name: string, data: Float32Array): void;
  numClasses(): number;
  memoryBytes(): number;
  backend(): 'cpu' | 'cuda';
  dispose(): void;
  setProfiling(on: boolean): void;
  profile(): ProfileEntry[];
}

/** Time spent per op kind and phase since profiling was turned on. */
export interface ProfileEntry {
  /** The op kind (`conv2d`, `batchnorm`, `relu`, ...). */
  op: string;
  /** Where in the step the time was spent. */
  phase: 'forward' | 'backward' | 'loss' | 'update' | 'other';
  /** Wall-clock seconds, summed over calls. */
  seconds: number;
  /** How many times the op ran. */
  calls: number;
}

const OPTION_KEYS = ['batchSize', 'height', 'width', 'noDecay', 'parameters', 'precision', 'lrScale', 'backend', 'training', 'bnGroups'] as const;
const BATCH_KEYS = [
  'images', 'labels', 'targets', 'smoothing', 'lr', 'momentum', 'weightDecay', 'nesterov', 'lossScale', 'mixup', 'teacherLogits', 'temperature',
  'colour', 'augment',
] as const;

/**
 * A model compiled by the native core, for training and inference. Every buffer is
 * allocated up front for `batchSize` images of `height` × `width`; a training step
 * (forward, softmax cross-entropy, backward, SGD update) is one asynchronous native call
 * that runs off the JS thread. Calls on one Net run in the order they were made, and their
 * inputs are copied at once, so the caller may reuse its arrays. Images are NHWC float32;
 * parameters are exchanged in PyTorch layout (OIHW conv weights; the core keeps KRSC).
 * The Net frees its memory on dispose() or when it is garbage-collected.
 *
 * Errors: ERR_ARGUMENT and ERR_SHAPE for bad inputs, ERR_DISPOSED after dispose(), ERR_BUSY
 * when parameters are read or written while a step is in flight.
 *
 * @example
 * ```js
 * const { createModel, Net } = require('bagoftricks');
 * const model = createModel('resnet18d', { numClasses: 10, stem: 'cifar', width: 0.25 });
 * const net = Net.fromModel(model, { batchSize: 32, inputSize: 32 });
 * const images = { data: new Float32Array(32 * 32 * 32 * 3), shape: [32, 32, 32, 3] }; // NHWC
 * const { loss, correct } = await net.trainStep({ images, labels: new Int32Array(32), lr: 0.1 });
 * const logits = await net.forward(images);                                          // (32, 10)
 * net.dispose();
 * ```
 */
export class Net {
  /** Largest batch one step or forward takes (buffers are sized for it). */
  readonly batchSize: number;
  /** Input height in pixels. */
  readonly height: number;
  /** Input width in pixels. */
  readonly width: number;
  /** Channels C of the input images (3 for RGB, 1 for MNIST). */
  readonly inputChannels: number;
  /** Outputs of the classifier: the columns of the logits. */
  readonly numClasses: number;
  /** 'fp32', or 'fp16' for mixed precision (see NetOptions.precision). */
  readonly precision: 'fp32' | 'fp16';
  /** Where the Net runs: 'cpu' or 'cuda' ('auto' resolved). */
  readonly backend: 'cpu' | 'cuda';
  /** false for an inference-only Net (see NetOptions.training). */
  readonly training: boolean;
  /** BN statistics groups of a training batch (see NetOptions.bnGroups). */
  readonly bnGroups: number;
  /** The process group whose ranks this Net averages gradients with (net.distribute()), if any. */
  distributed: Distributed | null = null;
  private handle: NativeNet | null;
  private chain: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private readonly specs: ParameterInfo[];

  /**
   * Compiles a graph description (models.GraphDesc, usually `model.graph()`); Net.fromModel
   * also sets the model's initial parameters and no-decay list.
   * @param graph - The network: nodes in topological order, NHWC, with parameter shapes.
   * @param options - Batch and input size, precision, initial parameters, per-parameter settings.
   * @throws BagOfTricksError ERR_ARGUMENT for bad or unknown options or an invalid graph,
   * ERR_SHAPE for parameters of the wrong size, ERR_OUT_OF_MEMORY when the buffers do not fit.
   */
  constructor(graph: GraphDesc, options: NetOptions) {
    const g = expectObject('graph', graph) as unknown as GraphDesc;
    const o = expectObject('options', options);
    expectKeys('options', o, OPTION_KEYS);
    this.batchSize = expectInt('options.batchSize', o.batchSize, 1, 2 ** 20);
    this.height = expectInt('options.height', o.height, 1, 65536);
    this.width = expectInt('options.width', o.width, 1, 65536);
    this.inputChannels = expectInt('graph.inputChannels', g.inputChannels, 1, 65536);
    const noDecay = o.noDecay === undefined ? [] : (o.noDecay as unknown[]);
    if (!Array.isArray(noDecay) || !noDecay.every((k) => typeof k === 'string')) {
      fail('ERR_ARGUMENT', 'array of parameter names', 'options.noDecay', o.noDecay);
    }
    if (o.precision !== undefined && o.precision !== 'fp32' && o.precision !== 'fp16') fail('ERR_ARGUMENT', '"fp32" or "fp16"', 'options.precision', o.precision);
    this.precision = (o.precision as 'fp32' | 'fp16' | undefined) ?? 'fp32';
    this.backend = resolveNetBackend(o.backend);
    this.training = o.training === undefined ? true : expectBool('options.training', o.training);
    const lrScale: Record<string, number> = {};
    if (o.lrScale !== undefined) {
      for (const [k, v] of Object.entries(expectObject('options.lrScale', o.lrScale))) {
        lrScale[k] = expectNumber(`options.lrScale[${JSON.stringify(k)}]`, v, 0);
      }
    }
    const NetCtor = native().Net as unknown as new (g: unknown, o: unknown) => NativeNet;
    this.bnGroups = o.bnGroups === undefined ? 1 : expectInt('options.bnGroups', o.bnGroups, 1, this.batchSize);
    this.handle = callNative(() => new NetCtor(g, {
      maxBatch: this.batchSize, height: this.height, width: this.width, noDecay, precision: this.precision, lrScale, backend: this.backend, training: this.training, bnGroups: this.bnGroups,
    }));
    this.numClasses = this.handle.numClasses();
    this.specs = this.handle.parameters();
    if (o.parameters !== undefined) this.setParameters(o.parameters as NetOptions['parameters'] & object, { strict: true });
  }

  /**
   * Compiles a model: its graph, its seeded initial parameters, and weight decay off for
   * the parameters the model marks (biases and BN γ/β).
   */
  static fromModel(
    model: Model,
    options: {
      batchSize: number; inputSize: number | [number, number]; precision?: 'fp32' | 'fp16'; noDecay?: string[]; lrScale?: Record<string, number>;
      backend?: 'cpu' | 'cuda' | 'auto'; training?: boolean; bnGroups?: number;
    },
  ): Net {
    const o = expectObject('options', options);
    expectKeys('options', o, ['batchSize', 'inputSize', 'precision', 'noDecay', 'lrScale', 'backend', 'training', 'bnGroups']);
    const [height, width] = typeof o.inputSize === 'number' ? [o.inputSize, o.inputSize] : (o.inputSize as [number, number]);
    const noDecay = (o.noDecay as string[] | undefined) ?? model.parameters().filter((p) => p.trainable && !p.decay).map((p) => p.name);
    return new Net(model.graph(), {
      batchSize: o.batchSize as number, height, width, noDecay, parameters: model.initialParameters(), precision: o.precision as 'fp32' | 'fp16' | undefined,
      lrScale: o.lrScale as Record<string, number> | undefined, backend: o.backend as NetOptions['backend'], training: o.training as boolean | undefined,
      bnGroups: o.bnGroups as number | undefined,
    });
  }

  /** Every tensor of the Net, in graph order, with PyTorch shapes. */
  parameterInfo(): ParameterInfo[] {
    return this.specs.map((s) => ({ ...s, shape: s.shape.slice() }));
  }

  /** Bytes of memory the Net holds (activations, gradients, parameters, optimizer state). */
  memoryBytes(): number {
    return this.handle ? this.handle.memoryBytes() : 0;
  }

  /**
   * Data-parallel training: every later trainStep averages the gradients over the ranks of
   * `group` during its backward pass, in buckets of about `bucketBytes` (default 25 MiB)
   * launched as soon as their gradients are final, and agrees on the step's loss, accuracy,
   * finiteness (an FP16 overflow on one rank skips the step on every rank) and stopping
   * (StepResult.images, .stop). A CPU Net only: ERR_DIST_UNAVAILABLE on CUDA. Every rank must
   * call it on the same model, then take the same number of steps.
   */
  distribute(group: Distributed, options: { bucketBytes?: number } = {}): void {
    const o = expectObject('options', options);
    expectKeys('options', o, ['bucketBytes']);
    if (!(group instanceof Distributed)) fail('ERR_ARGUMENT', 'a process group (initDistributed())', 'group', group);
    this.requireTraining('distribute');
    const bytes = o.bucketBytes === undefined ? 25 * 2 ** 20 : expectInt('options.bucketBytes', o.bucketBytes, 4, 2 ** 31);
    const h = this.idle();
    callNative(() => h.setDistributed(bytes));
    this.distributed = group;
  }

  /** Data-parallel: ask every rank to stop after the next step (its StepResult.stop is then true everywhere). */
  requestStop(stop = true): void {
    const h = this.live();
    callNative(() => h.requestStop(expectBool('stop', stop)));
  }

  /** Data-parallel: every parameter, BN statistic and momentum buffer copied from rank `root` to every rank. */
  broadcastState(root = 0): Promise<void> {
    if (!this.distributed) fail('ERR_ARGUMENT', 'a distributed Net (net.distribute())', 'net', 'not distributed');
    const r = expectInt('root', root, 0, this.distributed.size - 1);
    const h = this.live();
    return this.enqueue(() => callNativeAsync(() => h.broadcastState(r)));
  }

  /** Data-parallel: what averaging the gradients cost since the last reset (null when not distributed). */
  distStats(options: { reset?: boolean } = {}): DistStats | null {
    const h = this.idle();
    return callNative(() => h.distStats(Boolean(options.reset)));
  }

  /** One training step: forward, softmax cross-entropy, backward and the SGD update. */
  trainStep(batch: TrainBatch): Promise<StepResult> {
    return this.step('trainStep', batch);
  }

  /** Forward and backward in training mode without the update; read gradients after. */
  forwardBackward(batch: TrainBatch): Promise<StepResult> {
    return this.step('forwardBackward', batch);
  }

  /** Logits (N, classes) in eval mode (BN with running statistics). */
  forward(images: Tensor | Tensor<Uint8Array>, options: { augment?: Omit<AugmentOptions, 'dtype' | 'threads'> } = {}): Promise<Tensor> {
    const h = this.live();
    const o = expectObject('options', options);
    expectKeys('options', o, ['augment']);
    const x = this.images(images);
    const n = x.shape[0];
    const raw = this.rawArgs(x, n, undefined, o.augment, 'options');
    const data = this.pending > 0 ? x.data.slice() : x.data;
    return this.enqueue(async () => ({ data: await callNativeAsync(() => h.forward(data, n, ...raw)), shape: [n, this.numClasses] }));
  }

  /** Every parameter and BN statistic in PyTorch layout, by state-dict key. */
  getParameters(): Record<string, Tensor> {
    const h = this.idle();
    const out: Record<string, Tensor> = {};
    for (const s of this.specs) out[s.name] = { data: callNative(() => h.getParameter(s.name)), shape: s.shape.slice() };
    return out;
  }

  /** Gradients of the trainable parameters from the last step, PyTorch layout. */
  getGradients(): Record<string, Tensor> {
    this.requireTraining('getGradients');
    const h = this.idle();
    const out: Record<string, Tensor> = {};
    for (const s of this.specs) {
      if (s.trainable) out[s.name] = { data: callNative(() => h.getGradient(s.name)), shape: s.shape.slice() };
    }
    return out;
  }

  /** Momentum buffers of the trainable parameters, PyTorch layout. */
  getMomentum(): Record<string, Tensor> {
    this.requireTraining('getMomentum');
    const h = this.idle();
    const out: Record<string, Tensor> = {};
    for (const s of this.specs) {
      if (s.trainable) out[s.name] = { data: callNative(() => h.getMomentum(s.name)), shape: s.shape.slice() };
    }
    return out;
  }

  /**
   * Sets parameters by state-dict key (PyTorch layout). With `strict` (default), every
   * key must be known and every parameter given; the error lists what is missing or
   * unexpected. Values are checked before any is written: a NaN or ±Inf value is refused
   * with ERR_NON_FINITE listing the tensors and their counts, unless `allowNonFinite`.
   */
  setParameters(values: Map<string, Float32Array | Tensor> | Record<string, Float32Array | Tensor>, options: { strict?: boolean; allowNonFinite?: boolean } = {}): void {
    const h = this.idle();
    expectKeys('options', expectObject('options', options), ['strict', 'allowNonFinite']);
    const strict = options.strict === undefined ? true : expectBool('options.strict', options.strict);
    const allowNonFinite = options.allowNonFinite === undefined ? false : expectBool('options.allowNonFinite', options.allowNonFinite);
    const entries = values instanceof Map ? [...values.entries()] : Object.entries(expectObject('values', values));
    const known = new Map(this.specs.map((s) => [s.name, s]));
    const unexpected = entries.map(([k]) => k).filter((k) => !known.has(k));
    const given = new Set(entries.map(([k]) => k));
    const missing = this.specs.map((s) => s.name).filter((k) => !given.has(k));
    if (unexpected.length || (strict && missing.length)) {
      const parts = [];
      if (missing.length && strict) parts.push(`missing ${missing.length}: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''}`);
      if (unexpected.length) parts.push(`unexpected ${unexpected.length}: ${unexpected.slice(0, 8).join(', ')}${unexpected.length > 8 ? ', …' : ''}`);
      throw new BagOfTricksError('ERR_ARGUMENT', `parameters do not match the model (${parts.join('; ')})`);
    }
    const checked = entries.map(([name, v]) => {
      const spec = known.get(name)!;
      const data = ArrayBuffer.isView(v) ? (v as Float32Array) : expectTensor(`values["${name}"]`, v).data;
      expectArray(`values["${name}"]`, data, 'Float32Array', numel(spec.shape));
      if (!ArrayBuffer.isView(v)) {
        const shape = (v as Tensor).shape;
        if (shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i])) {
          fail('ERR_SHAPE', `shape [${spec.shape.join(', ')}]`, `values["${name}"].shape`, shape);
        }
      }
      return [name, data] as const;
    });
    if (!allowNonFinite) expectFiniteWeights('the parameters given to setParameters', checked);
    for (const [name, data] of checked) callNative(() => h.setParameter(name, data));
  }

  /** Sets momentum buffers (PyTorch layout) by key; for resuming a run. */
  setMomentum(values: Record<string, Float32Array | Tensor>): void {
    this.requireTraining('setMomentum');
    const h = this.idle();
    for (const [name, v] of Object.entries(expectObject('values', values))) {
      const data = ArrayBuffer.isView(v) ? (v as Float32Array) : expectTensor(`values["${name}"]`, v).data;
      callNative(() => h.setMomentum(name, data));
    }
  }

  /** Turns the per-op profiler on (resetting it) or off. It costs two clock reads per layer. */
  setProfiling(on: boolean): void {
    const h = this.idle();
    callNative(() => h.setProfiling(expectBool('on', on)));
  }

  /** Seconds and calls per op kind and phase since setProfiling(true), most expensive first. */
  profile(): ProfileEntry[] {
    return callNative(() => this.idle().profile()).sort((a, b) => b.seconds - a.seconds);
  }

  /** Frees the Net's memory now; later calls throw ERR_DISPOSED. A step in flight finishes first. */
  dispose(): void {
    if (this.handle) this.handle.dispose();
    this.handle = null;
  }

  /** `using net = Net.fromModel(...)` disposes at the end of the block (dispose() does not wait, so no async form). */
  [disposeSymbol](): void {
    this.dispose();
  }

  /** True once dispose() has run; every later call throws ERR_DISPOSED. */
  get disposed(): boolean {
    return this.handle === null;
  }

  // --- internals -------------------------------------------------------------------

  private live(): NativeNet {
    if (!this.handle) throw new BagOfTricksError('ERR_DISPOSED', 'this Net was disposed');
    return this.handle;
  }

  private idle(): NativeNet {
    const h = this.live();
    if (this.pending > 0) throw new BagOfTricksError('ERR_BUSY', 'this Net is running a step; await it before reading or writing parameters');
    return h;
  }

  private requireTraining(what: string): void {
    if (!this.training) throw new BagOfTricksError('ERR_ARGUMENT', `${what}: this Net was built for inference only (training: false)`);
  }

  /** Float32 images (N, H, W, C), or raw Uint8 RGB images (N, H, W, 3) for the colour pass. */
  private images(images: Tensor | Tensor<Uint8Array>): { data: Float32Array | Uint8Array; shape: number[] } {
    const raw = typeof images === 'object' && images !== null && images.data instanceof Uint8Array;
    const x = raw ? { data: images.data as Uint8Array, shape: expectShape('images.shape', images.shape, 4) } : expectTensor('images', images as Tensor, 4);
    if (raw) expectArray<Uint8Array>('images.data', x.data, 'Uint8Array', x.shape.reduce((a, b) => a * b, 1));
    const want = [x.shape[0], this.height, this.width, this.inputChannels];
    if (raw && this.inputChannels !== 3) fail('ERR_SHAPE', `Float32Array images: raw Uint8Array images are RGB, this Net takes ${this.inputChannels} channel(s)`, 'images.data', x.data);
    if (x.shape[0] < 1 || x.shape[0] > this.batchSize || x.shape.some((d, i) => i > 0 && d !== want[i])) {
      fail('ERR_SHAPE', `shape [1 ≤ N ≤ ${this.batchSize}, ${this.height}, ${this.width}, ${this.inputChannels}]`, 'images.shape', x.shape);
    }
    return x;
  }

  /** The native call's trailing colour-pass arguments for raw images; none for float images. */
  private rawArgs(x: { data: Float32Array | Uint8Array }, n: number, colour: unknown, augment: unknown, where: string): unknown[] {
    if (!(x.data instanceof Uint8Array)) {
      if (colour !== undefined) fail('ERR_ARGUMENT', 'colour only with raw Uint8Array images', `${where}.colour`, colour);
      if (augment !== undefined) fail('ERR_ARGUMENT', 'augment only with raw Uint8Array images', `${where}.augment`, augment);
      return [];
    }
    const constants = augmentConstants((augment ?? {}) as AugmentOptions);
    return [...augmentParamArrays(n, (colour ?? {}) as AugmentParams, `${where}.colour`), constants];
  }

  /** Runs now when the Net is idle (so the native call copies its inputs before this returns), else after the calls before it. */
  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    const started = this.pending === 0 ? run() : this.chain.then(run, run);
    this.pending++;
    const p = started.finally(() => this.pending--);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private step(method: 'trainStep' | 'forwardBackward', batch: TrainBatch): Promise<StepResult> {
    this.live();
    this.requireTraining(method);
    const b = expectObject('batch', batch);
    expectKeys('batch', b, BATCH_KEYS);
    const x = this.images(b.images as Tensor);
    const n = x.shape[0];
    const raw = this.rawArgs(x, n, b.colour, b.augment, 'batch');
    let labels: Int32Array | null = null;
    let targets: Float32Array | null = null;
    if ((b.labels === undefined) === (b.targets === undefined)) fail('ERR_ARGUMENT', 'exactly one of labels and targets', 'batch', Object.keys(b));
    if (b.labels !== undefined) {
      labels = expectArray<Int32Array>('batch.labels', b.labels, 'Int32Array', n);
      for (let i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= this.numClasses) fail('ERR_ARGUMENT', `label in [0, ${this.numClasses})`, `batch.labels[${i}]`, labels[i]);
      }
    } else {
      const t = expectTensor('batch.targets', b.targets, 2);
      if (t.shape[0] !== n || t.shape[1] !== this.numClasses) fail('ERR_SHAPE', `shape [${n}, ${this.numClasses}]`, 'batch.targets.shape', t.shape);
      targets = t.data;
    }
    const smoothing = b.smoothing === undefined ? 0 : expectNumber('batch.smoothing', b.smoothing, 0, 0.999999);
    if (smoothing > 0 && targets) fail('ERR_ARGUMENT', 'smoothing only with hard labels (blend it into the targets instead)', 'batch.smoothing', smoothing);
    const lr = expectNumber('batch.lr', b.lr, 0);
    const momentum = b.momentum === undefined ? 0.9 : expectNumber('batch.momentum', b.momentum, 0, 0.999999);
    const weightDecay = b.weightDecay === undefined ? 1e-4 : expectNumber('batch.weightDecay', b.weightDecay, 0);
    const nesterov = b.nesterov === undefined ? true : expectBool('batch.nesterov', b.nesterov);
    if (nesterov && momentum === 0) fail('ERR_ARGUMENT', 'momentum > 0 with Nesterov', 'batch.momentum', momentum);
    const lossScale = b.lossScale === undefined ? 1 : expectNumber('batch.lossScale', b.lossScale, Number.MIN_VALUE, 3.4e38);
    let perm: Int32Array | null = null;
    let lambda = 1;
    if (b.mixup !== undefined) {
      const m = expectObject('batch.mixup', b.mixup);
      expectKeys('batch.mixup', m, ['perm', 'lambda']);
      perm = expectArray<Int32Array>('batch.mixup.perm', m.perm, 'Int32Array', n);
      for (let i = 0; i < n; i++) if (perm[i] < 0 || perm[i] >= n) fail('ERR_ARGUMENT', `index in [0, ${n})`, `batch.mixup.perm[${i}]`, perm[i]);
      lambda = expectNumber('batch.mixup.lambda', m.lambda, 0, 1);
    }
    let teacher: Float32Array | null = null;
    if (b.teacherLogits !== undefined) {
      const t = expectTensor('batch.teacherLogits', b.teacherLogits, 2);
      if (t.shape[0] !== n || t.shape[1] !== this.numClasses) fail('ERR_SHAPE', `shape [${n}, ${this.numClasses}]`, 'batch.teacherLogits.shape', t.shape);
      teacher = t.data;
    }
    const temperature = b.temperature === undefined ? 20 : expectNumber('batch.temperature', b.temperature, Number.MIN_VALUE, 1e6);
    // Copy only when the call has to wait its turn: the native call copies at once.
    const queued = this.pending > 0;
    const copy = <A extends Float32Array | Int32Array | Uint8Array>(a: A | null): A | null => (queued && a ? (a.slice() as A) : a);
    const args = [
      copy(x.data), n, copy(labels), copy(targets), smoothing, lr, momentum, weightDecay, nesterov, lossScale, copy(perm), lambda, copy(teacher), temperature,
      ...raw.map((a) => (a instanceof Float32Array ? copy(a) : a)),
    ];
    const h = this.handle!;
    return this.enqueue(async () => {
      const r = await callNativeAsync(() => h[method](...args));
      return { loss: r.loss, correct: r.correct, n, finite: r.finite, images: r.images, stop: r.stop };
    });
  }
}

/** 'cpu' | 'cuda' for a NetOptions.backend value ('auto': CUDA when a usable device exists). */
function resolveNetBackend(value: unknown): 'cpu' | 'cuda' {
  if (value === undefined || value === 'cpu') return 'cpu';
  if (value === 'cuda') return 'cuda';
  if (value === 'auto') return native().runtime.cudaInfo().available ? 'cuda' : 'cpu';
  return fail('ERR_ARGUMENT', '"cpu", "cuda" or "auto"', 'options.backend', value);
}
