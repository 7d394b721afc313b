/**
 * Trainer: composes the tricks of lib/train/ around a compiled Net. It owns no maths of
 * its own; each trick is a named piece:
 *   recipe (resolveRecipe)         every hyper-parameter, baseline or tricks, overridable
 *   schedule (recipeSchedule)      warmup + step or cosine decay, a pure function of the step
 *   noBiasDecay                    the parameters exempt from weight decay
 *   zero-γ                         applied when the model is created from the recipe
 *   label smoothing                the Net's hard-label loss with ε, or smoothLabels for soft targets
 *   mixup (sampleMixup, mixTargets, mixupActive)  λ and the pairing drawn here, the blend in the core
 *   distillation                   a teacher Net's eval-mode logits passed to the step
 *   LossScaler                     dynamic loss scaling in FP16; non-finite FP32 steps are fatal
 *
 *     const trainer = new Trainer('resnet18d', { recipe: 'tricks', inputSize: 32, numClasses: 10, classes });
 *     await trainer.fit(trainLoader, { validation: valLoader, epochs: 5, callbacks: { onEpochEnd } });
 *     const { top1, top5 } = await trainer.evaluate(valLoader);
 *
 * Checkpoints (save/load) hold the weights in PyTorch/timm layout and names, the momentum
 * buffers, and in the metadata the model config, class names, recipe, step, epoch, loss
 * scaler and RNG state, so that a resumed run continues bit-identically.
 */
import { BagOfTricksError } from '../errors';
import { createModel } from '../models';
import type { ModelName } from '../models';
import type { Model } from '../models/model';
import { Net, StepResult } from '../net';
import { augmentAsync, AugmentOptions, AugmentParams } from '../ops/augment';
import { softmaxCrossEntropy } from '../ops/crossEntropy';
import type { Tensor } from '../tensor';
import { expectInt, expectKeys, expectObject, fail } from '../validate';
import { loadCheckpoint, saveCheckpoint } from './checkpoint';
import { expectSavedConfig, topK } from '../load';
import { expectFiniteWeights } from '../finite';
import { LossScaler } from './lossScaler';
import { mixImages, mixTargets, mixupActive, sampleMixup } from './mixup';
import { noBiasDecay } from './noBiasDecay';
import { Recipe, RecipeName, RecipeOverrides, recipeSchedule, resolveRecipe } from './recipes';
import { TrainRng } from './rng';
import type { Schedule } from './schedule';
import { smoothLabels } from './smoothing';
import { disposeSymbol } from '../dispose';
import { Distributed, launchedGroup } from '../dist';

/** What the trainer reads from a batch (a DataLoader batch with output 'f32' fits). */
export interface TrainBatchLike {
  /**
   * The images, (N, H, W, C) NHWC: normalised Float32 (output 'f32'), or raw 0–255 RGB bytes
   * (output 'uint8'), whose colour pass then runs inside the training step on the Net's device.
   */
  images: { data: Float32Array | Uint8Array | Uint16Array; shape: number[] };
  /** With raw images: the colour pass's per-image coefficients (the loader's batch.colour). */
  colour?: AugmentParams;
  /** N class indices in [0, numClasses). */
  labels: Int32Array;
  /** Called once the trainer no longer needs the batch's arrays (the DataLoader reuses them). */
  release?(): void;
}

/** A source of batches per epoch (lib/data's DataLoader). */
export interface BatchSource {
  /**
   * The batches of epoch e; the same e must give the same batches (a resume skips those already trained on).
   */
  epoch(e: number): AsyncIterable<TrainBatchLike>;
  /** Batches per epoch (the schedule's steps per epoch), at least 1. */
  readonly length: number;
  /** The colour pass's constants for raw batches (the loader's; default the paper's). */
  readonly augmentOptions?: Omit<AugmentOptions, 'dtype' | 'threads'>;
}

/** Options of `new Trainer(model, options)`. Unknown keys and bad values throw ERR_ARGUMENT. */
export interface TrainerOptions {
  /** 'baseline', 'tricks' or a complete Recipe. Default 'tricks'. */
  recipe?: RecipeName | Recipe;
  /** Any recipe field (epochs, batchSize, lr, precision, labelSmoothing, mixupAlpha, ...). */
  overrides?: RecipeOverrides;
  /** Input height and width. */
  inputSize: number;
  /** Classifier outputs, when the model is given by name. */
  numClasses?: number;
  /** Class names, saved in checkpoints and used by predict(). */
  classes?: string[];
  /** Model options when the model is given by name. */
  width?: number;
  /** Stem when the model is given by name: 'imagenet' (default) or 'cifar' for 32² inputs. */
  stem?: 'imagenet' | 'cifar';
  /** Seed of the model's initialisation and of the trainer's draws (mixup). Default 0. */
  seed?: number;
  /** A teacher for knowledge distillation (evaluated in eval mode), when the recipe asks for it. */
  teacher?: Net;
  /** Where the Net trains: 'cpu' (default), 'cuda' or 'auto' (see NetOptions.backend). */
  backend?: 'cpu' | 'cuda' | 'auto';
  /**
   * Data-parallel training over the ranks of this process group (initDistributed()). The
   * recipe's batchSize is then the global batch (the linear-scaling rule and warmup apply to
   * it): each rank trains on batchSize / size images per step (give each rank a DataLoader
   * with that batch size and `shard: { rank, count: size }`), the gradients are averaged
   * inside the step, and BN statistics are per rank, over its own images, as in the paper's
   * multi-GPU training. fit() checks that every rank has the same settings (ERR_DIST_CONFIG)
   * and starts every rank from rank 0's weights; a signal on any rank stops every rank after
   * the same step; evaluate() sums its counts over the ranks. 'auto': the group of the MPI
   * launcher that started this process (rank and size from its environment), none when it
   * was started alone.
   */
  distributed?: Distributed | 'auto';
  /** Data-parallel: the gradient bucket size in bytes (default 25 MiB). */
  bucketBytes?: number;
}

/** What fit() measured over one epoch, passed to onEpochEnd and kept in FitResult.history. */
export interface EpochLogs {
  /** The epoch, counted from 1 (as the CLI counts them): after it, Trainer.epoch is this number. */
  epoch: number;
  /** Mean training loss per image over the epoch. */
  loss: number;
  /** Training accuracy of the epoch (against the arg-max of mixed targets under mixup). */
  acc: number;
  /** Learning rate of the epoch's last step. */
  lr: number;
  /** Training throughput, images per second (wall time of the epoch, data loading included). */
  imgPerSec: number;
  /** Wall time of the epoch in seconds (validation excluded). */
  seconds: number;
  /** Steps skipped because of FP16 overflow (the loss scale was halved each time). */
  skippedSteps: number;
  /** Loss scale at the end of the epoch (1 in FP32). */
  lossScale: number;
  /** Top-1 accuracy on the validation source, in [0, 1], when one was given. */
  valTop1?: number;
  /** Top-5 accuracy on the validation source, in [0, 1], when one was given. */
  valTop5?: number;
  /** Mean validation loss (plain cross-entropy, no smoothing), when a validation source was given. */
  valLoss?: number;
}

/** What one training step measured, passed to onBatchEnd. */
export interface BatchLogs {
  /** Optimizer steps taken so far, this one included (a skipped step does not count). */
  step: number;
  /** The epoch, counted from 1 (as the CLI counts them): after it, Trainer.epoch is this number. */
  epoch: number;
  /** The batch's index within the epoch. */
  batch: number;
  /** Mean loss of the batch. */
  loss: number;
  /** Training accuracy of the batch, in [0, 1]. */
  acc: number;
  /** Learning rate of the step. */
  lr: number;
  /** Loss scale after the step (1 in FP32). */
  lossScale: number;
  /** True when the step overflowed in FP16 and was not applied. */
  skipped: boolean;
  /** Images per second so far in this epoch. */
  imgPerSec: number;
}

/** Hooks fit() awaits during training (each may return a Promise). */
export interface Callbacks {
  /** Before the first batch of an epoch (epochs counted from 1, as in the logs and the CLI). */
  onEpochBegin?(epoch: number): void | Promise<void>;
  /** After a complete epoch and its validation (the epoch counted from 1: Trainer.epoch after it). */
  onEpochEnd?(epoch: number, logs: EpochLogs): void | Promise<void>;
  /** After every training step. */
  onBatchEnd?(step: number, logs: BatchLogs): void | Promise<void>;
}

/** Options of Trainer.fit(). Unknown keys throw ERR_ARGUMENT. */
export interface FitOptions {
  /** Evaluated after each complete epoch (valTop1, valTop5, valLoss in the logs). */
  validation?: BatchSource;
  /** Epochs to train, counted from the current epoch (default: the recipe's, minus those done). */
  epochs?: number;
  /** Hooks called before and after epochs and after each step. */
  callbacks?: Callbacks;
  /** Aborting stops after the current step; fit resolves with `aborted: true`. */
  signal?: AbortSignal;
  /** Stop after this many steps in total (for tests and resumes). */
  maxSteps?: number;
}

/** What fit() resolves to. */
export interface FitResult {
  /** One entry per epoch trained in this call (a last, interrupted epoch included). */
  history: EpochLogs[];
  /** True when the signal stopped the run. */
  aborted: boolean;
  /** Optimizer steps taken in total (Trainer.step). */
  step: number;
  /** Epochs completed in total (Trainer.epoch). */
  epoch: number;
}

/** What Trainer.evaluate() measured over every batch of a source. */
export interface EvalResult {
  /** Top-1 accuracy in [0, 1]. */
  top1: number;
  /** Top-5 accuracy in [0, 1]. */
  top5: number;
  /** Mean cross-entropy (no smoothing). */
  loss: number;
  /** Images evaluated. */
  n: number;
}

/** One class of a top-k prediction. */
export interface Prediction {
  /** The class name. */
  label: string;
  /** The class index (the logit's column). */
  index: number;
  /** Softmax probability, in [0, 1]. */
  score: number;
}

const OPTION_KEYS = ['recipe', 'overrides', 'inputSize', 'numClasses', 'classes', 'width', 'stem', 'seed', 'teacher', 'backend', 'distributed', 'bucketBytes'] as const;

/**
 * Trains a model with a recipe of He et al. 2019 ('baseline' or 'tricks'), composing the
 * separately tested tricks of `train` around a compiled Net: learning-rate warmup and
 * cosine (or step) decay, label smoothing, mixup, knowledge distillation, no bias decay,
 * zero-γ, and mixed precision with dynamic loss scaling. Checkpoints resume bit-identically.
 * Images are NHWC; parameters are saved in PyTorch/timm layout and names.
 *
 * Errors: ERR_ARGUMENT for bad options, ERR_NON_FINITE when an FP32 run diverges,
 * ERR_DISPOSED after dispose().
 *
 * @example
 * ```js
 * const { Trainer, data } = require('bagoftricks');
 * const trainer = new Trainer('resnet18d', { recipe: 'tricks', inputSize: 32, stem: 'cifar', classes });
 * const { history } = await trainer.fit(trainLoader, {
 *   validation: valLoader,
 *   callbacks: { onEpochEnd: (e, logs) => console.log(e, logs.loss, logs.valTop1) },
 * });
 * await trainer.save('run.safetensors');
 * trainer.dispose();
 * ```
 */
export class Trainer {
  /** The model trained (built from the name and options, or the one given). */
  readonly model: Model;
  /** The resolved recipe: every hyper-parameter, overrides applied. */
  readonly recipe: Recipe;
  /** The compiled network (its parameters: `trainer.net.getParameters()`). */
  readonly net: Net;
  /** Class names, one per output. */
  readonly classes: string[];
  /** Input height and width in pixels. */
  readonly inputSize: number;
  /** Optimizer steps taken (the schedule's position). */
  step = 0;
  /** Epochs completed. */
  epoch = 0;
  /**
   * Batches consumed in the current epoch (steps skipped by the loss scaler included), where
   * a resumed fit() picks up; undefined for a checkpoint that did not record it.
   */
  batchInEpoch: number | undefined = 0;
  private scaler: LossScaler;
  private rng: TrainRng;
  private readonly teacher?: Net;
  private readonly seed: number;
  /** The process group of a data-parallel run, or null. */
  readonly distributed: Distributed | null;
  /** Data-parallel: every rank agreed to stop (a signal on some rank). */
  private stopAgreed = false;

  /**
   * Builds the model (by name, with the recipe's zero-γ) or takes a given one, and compiles it
   * with the recipe's batch size, precision and no-bias-decay list.
   * @param model - A name of listModels() or a Model.
   * @param options - Recipe and overrides, input size, classes, model options, seed, teacher.
   * @throws BagOfTricksError ERR_ARGUMENT for bad options (a distilling recipe without a
   * teacher too), ERR_SHAPE for a teacher with another number of classes.
   */
  constructor(model: ModelName | Model, options: TrainerOptions) {
    const o = expectObject('options', options);
    expectKeys('options', o, OPTION_KEYS);
    this.recipe = resolveRecipe((o.recipe as RecipeName | Recipe | undefined) ?? 'tricks', (o.overrides as RecipeOverrides | undefined) ?? {});
    this.inputSize = expectInt('options.inputSize', o.inputSize, 1, 65536);
    this.seed = o.seed === undefined ? 0 : expectInt('options.seed', o.seed, 0, 2 ** 32 - 1);
    if (typeof model === 'string') {
      this.model = createModel(model, {
        numClasses: o.numClasses === undefined ? (o.classes as string[] | undefined)?.length ?? 1000 : expectInt('options.numClasses', o.numClasses, 2, 2 ** 20),
        width: o.width as number | undefined,
        stem: o.stem as 'imagenet' | 'cifar' | undefined,
        zeroGamma: this.recipe.zeroGamma,
        seed: this.seed,
      });
    } else {
      if (typeof model !== 'object' || model === null || typeof (model as Model).graph !== 'function') fail('ERR_ARGUMENT', 'model name or Model', 'model', model);
      this.model = model;
    }
    const noDecay = noBiasDecay(this.model.parameters(), { enabled: this.recipe.noBiasDecay });
    if (o.distributed !== undefined && o.distributed !== 'auto' && !(o.distributed instanceof Distributed)) {
      fail('ERR_ARGUMENT', "a process group (initDistributed()) or 'auto'", 'options.distributed', o.distributed);
    }
    this.distributed = o.distributed === 'auto' ? launchedGroup() : (o.distributed as Distributed | undefined) ?? null;
    const ranks = this.distributed?.size ?? 1;
    if (this.recipe.batchSize % ranks !== 0) {
      fail('ERR_ARGUMENT', `a batch size divisible by the ${ranks} ranks (the global batch is split evenly)`, 'recipe.batchSize', this.recipe.batchSize);
    }
    this.net = Net.fromModel(this.model, {
      batchSize: this.recipe.batchSize / ranks, inputSize: this.inputSize, precision: this.recipe.precision, noDecay, lrScale: backboneLrScale(this.model, this.recipe.backboneLrScale),
      backend: o.backend as TrainerOptions['backend'],
    });
    const classes = o.classes === undefined ? Array.from({ length: this.net.numClasses }, (_, i) => String(i)) : (o.classes as string[]);
    if (!Array.isArray(classes) || classes.length !== this.net.numClasses || !classes.every((c) => typeof c === 'string')) {
      fail('ERR_ARGUMENT', `${this.net.numClasses} class names`, 'options.classes', o.classes);
    }
    this.classes = classes.slice();
    if (this.distributed) {
      const bucketBytes = o.bucketBytes === undefined ? undefined : expectInt('options.bucketBytes', o.bucketBytes, 4, 2 ** 31);
      this.net.distribute(this.distributed, { bucketBytes });
    }
    this.scaler = this.recipe.precision === 'fp16' ? new LossScaler() : LossScaler.disabled();
    this.rng = new TrainRng(this.seed);
    if (this.recipe.distillation) {
      if (!(o.teacher instanceof Net)) fail('ERR_ARGUMENT', 'a teacher Net (the recipe distils)', 'options.teacher', o.teacher);
      if (o.teacher.numClasses !== this.net.numClasses) fail('ERR_SHAPE', `a teacher with ${this.net.numClasses} classes`, 'options.teacher.numClasses', o.teacher.numClasses);
      this.teacher = o.teacher;
    }
  }

  /** The current loss scale (1 in FP32). */
  get lossScale(): number {
    return this.scaler.scale;
  }

  /** The learning-rate schedule for `stepsPerEpoch` steps per epoch. */
  schedule(stepsPerEpoch: number): Schedule {
    return recipeSchedule(this.recipe, stepsPerEpoch);
  }

  /**
   * Trains for `epochs` epochs from the current epoch. A step whose gradients overflow in
   * FP16 is skipped and the loss scale halved; a non-finite FP32 step stops the run with
   * ERR_NON_FINITE before anything is saved.
   */
  async fit(train: BatchSource, options: FitOptions = {}): Promise<FitResult> {
    const o = expectObject('options', options);
    expectKeys('options', o, ['validation', 'epochs', 'callbacks', 'signal', 'maxSteps']);
    const epochs = o.epochs === undefined ? Math.max(0, this.recipe.epochs - this.epoch) : expectInt('options.epochs', o.epochs, 0);
    const cb = (o.callbacks ?? {}) as Callbacks;
    const signal = o.signal as AbortSignal | undefined;
    const maxSteps = o.maxSteps === undefined ? Infinity : expectInt('options.maxSteps', o.maxSteps, 0);
    const stepsPerEpoch = train.length;
    if (!(stepsPerEpoch >= 1)) fail('ERR_ARGUMENT', 'a data source with at least one batch per epoch', 'train.length', stepsPerEpoch);
    const lr = this.schedule(stepsPerEpoch);
    const history: EpochLogs[] = [];
    const last = this.epoch + epochs;
    let aborted = false;
    // Data-parallel: a local signal never stops this rank alone (the others would wait for
    // it); it is sent with the next step, and every rank stops on the agreed answer.
    const stopNow = (): boolean => (this.distributed ? this.stopAgreed : Boolean(signal?.aborted));
    const onAbort = () => this.net.requestStop(true);
    if (this.distributed) {
      this.stopAgreed = false;
      this.net.requestStop(false);
      await this.joinRanks(stepsPerEpoch);
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort);
    }
    try {
      while (this.epoch < last && this.step < maxSteps) {
        // Checked before any work: a signal that came during the last epoch's validation or
        // its callbacks stops the run here, before another step.
        if (stopNow()) {
          aborted = true;
          break;
        }
        const e = this.epoch;
        // Callbacks and logs count epochs from 1; `e` (0-based) indexes the data's epochs.
        await cb.onEpochBegin?.(e + 1);
        const t0 = performance.now();
        let lossSum = 0;
        let correct = 0;
        let seen = 0;
        let skipped = 0;
        let lrNow = lr(this.step);
        // Resume mid-epoch: the loader's draws depend on (seed, epoch, index) only, so
        // skipping the batches already trained on gives the same remaining batches. Checkpoints
        // record the batches consumed (older ones only the step: then steps of full epochs).
        const done = this.batchInEpoch ?? Math.max(0, this.step - e * stepsPerEpoch);
        let b = 0;
        // The epoch is complete when its batches run out, however many there were: files that
        // fail to decode make an epoch shorter, never the run.
        let exhausted = true;
        for await (const batch of train.epoch(e)) {
          if (b < done) {
            b++;
            batch.release?.();
            continue;
          }
          if (stopNow()) {
            batch.release?.();
            aborted = true;
            exhausted = false;
            break;
          }
          lrNow = lr(this.step);
          const r = await this.trainBatch(batch, lrNow, e, train.augmentOptions);
          batch.release?.();
          const update = this.scaler.update(r.finite);
          if (update.fatal) {
            throw new BagOfTricksError('ERR_NON_FINITE', `training stopped at step ${this.step} (epoch ${e + 1}): ${update.reason ?? 'the loss or a gradient is not finite'}; no checkpoint was written for this step`);
          }
          if (update.skipped) skipped++;
          else this.step++;
          b++;
          this.batchInEpoch = b;
          // Data-parallel: loss, correct and images are over every rank.
          if (r.stop && this.distributed) this.stopAgreed = true;
          lossSum += r.loss * r.images;
          correct += r.correct;
          seen += r.images;
          const seconds = (performance.now() - t0) / 1000;
          await cb.onBatchEnd?.(this.step, {
            step: this.step, epoch: e + 1, batch: b - 1, loss: r.loss, acc: r.correct / r.images, lr: lrNow, lossScale: update.scale,
            skipped: update.skipped, imgPerSec: seen / seconds,
          });
          if (stopNow() || this.step >= maxSteps) {
            aborted = stopNow();
            exhausted = false;
            break;
          }
        }
        this.batchInEpoch = Math.max(b, done);
        const seconds = (performance.now() - t0) / 1000;
        const logs: EpochLogs = {
          epoch: e + 1, loss: seen ? lossSum / seen : NaN, acc: seen ? correct / seen : NaN, lr: lrNow, imgPerSec: seen / seconds, seconds,
          skippedSteps: skipped, lossScale: this.scaler.scale,
        };
        // Stopped inside the epoch, or at its end by a signal: no validation (a resume runs it).
        if (!exhausted || stopNow()) {
          aborted = aborted || stopNow();
          history.push(logs);
          break;
        }
        if (o.validation) {
          const v = await this.evaluateUntil(o.validation as BatchSource, this.distributed ? undefined : signal, 0, signal);
          if (!v) {
            aborted = true;
            history.push(logs);
            break;
          }
          logs.valTop1 = v.top1;
          logs.valTop5 = v.top5;
          logs.valLoss = v.loss;
        }
        this.epoch++;
        this.batchInEpoch = 0;
        history.push(logs);
        await cb.onEpochEnd?.(e + 1, logs);
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return { history, aborted, step: this.step, epoch: this.epoch };
  }

  /**
   * Data-parallel: refuses ranks started with different settings (ERR_DIST_CONFIG), then
   * starts every rank from rank 0's weights, statistics and momentum.
   */
  private async joinRanks(stepsPerEpoch: number): Promise<void> {
    const group = this.distributed!;
    await group.expectSame({
      model: { name: this.model.name, config: this.model.config }, recipe: this.recipe, inputSize: this.inputSize, classes: this.classes, seed: this.seed,
      step: this.step, epoch: this.epoch, batchInEpoch: this.batchInEpoch ?? null, stepsPerEpoch, backend: this.net.backend, lossScale: this.scaler.scale,
    });
    await this.net.broadcastState(0);
  }

  private async trainBatch(batch: TrainBatchLike, lr: number, epoch: number, constants?: BatchSource['augmentOptions']): Promise<StepResult> {
    // Raw batches take the colour pass in the step; with a teacher, which must see the same
    // images, it runs here on the CPU first.
    const raw = batch.images.data instanceof Uint8Array && !this.teacher;
    const images: Tensor = raw ? (batch.images as Tensor) : await floatImages(batch, constants);
    const n = images.shape[0];
    const r = this.recipe;
    const pass = raw ? { colour: batch.colour ?? {}, augment: constants ?? {} } : {};
    const common = { images, lr, momentum: r.momentum, weightDecay: r.weightDecay, nesterov: r.nesterov, lossScale: this.scaler.scale, ...pass };
    const mix = r.mixupAlpha > 0 && mixupActive(epoch, { epochs: r.epochs, offEpochs: r.mixupOffEpochs }) && n > 1;
    let teacherLogits: Tensor | undefined;
    let mixup: { perm: Int32Array; lambda: number } | undefined;
    if (mix) mixup = sampleMixup(this.rng, n, r.mixupAlpha);
    if (this.teacher) {
      // The teacher sees what the student sees: the blended images under mixup.
      teacherLogits = await this.teacher.forward(mixup ? mixImages(images, mixup.perm, mixup.lambda) : images);
    }
    const distill = teacherLogits ? { teacherLogits, temperature: r.distillation!.temperature } : {};
    if (mixup) {
      const targets = mixTargets(smoothLabels(batch.labels, this.net.numClasses, r.labelSmoothing), mixup.perm, mixup.lambda);
      return this.net.trainStep({ ...common, targets, mixup, ...distill });
    }
    return this.net.trainStep({ ...common, labels: batch.labels, smoothing: r.labelSmoothing, ...distill });
  }

  /** Top-1, top-5 and mean loss (no smoothing) of the Net in eval mode over every batch. */
  async evaluate(data: BatchSource, epoch = 0): Promise<EvalResult> {
    return (await this.evaluateUntil(data, undefined, epoch))!;
  }

  /**
   * evaluate(), stopped between batches by `signal` (then null). Data-parallel: the counts are
   * summed over the ranks (each evaluates its own shard), and `stopSignal` is this rank's
   * request to stop, answered for every rank (then null on every rank).
   */
  private async evaluateUntil(data: BatchSource, signal: AbortSignal | undefined, epoch = 0, stopSignal?: AbortSignal): Promise<EvalResult | null> {
    let n = 0;
    let top1 = 0;
    let top5 = 0;
    let loss = 0;
    for await (const batch of data.epoch(epoch)) {
      if (signal?.aborted) {
        batch.release?.();
        return null;
      }
      const raw = batch.images.data instanceof Uint8Array;
      const total = batch.images.shape[0];
      const sample = batch.images.data.length / total;
      // Batches larger than the Net's are evaluated in chunks of its batch size.
      for (let start = 0; start < total; start += this.net.batchSize) {
        const rows = Math.min(this.net.batchSize, total - start);
        const shape = [rows, ...batch.images.shape.slice(1)];
        const pixels = batch.images.data.subarray(start * sample, (start + rows) * sample);
        const logits = raw
          ? await this.net.forward({ data: pixels, shape } as Tensor<Uint8Array>, { augment: data.augmentOptions ?? {} })
          : await this.net.forward(asF32({ data: pixels, shape }));
        const labels = batch.labels.subarray(start, start + rows);
        const k = this.net.numClasses;
        loss += softmaxCrossEntropy(logits, { labels }).loss * rows;
        for (let i = 0; i < rows; i++) {
          const row = logits.data.subarray(i * k, (i + 1) * k);
          const y = labels[i];
          let above = 0; // classes scored strictly higher than the label
          for (let j = 0; j < k; j++) if (row[j] > row[y]) above++;
          if (above === 0) top1++;
          if (above < 5) top5++;
        }
        n += rows;
      }
      batch.release?.();
    }
    if (this.distributed) {
      const sums = await this.distributed.allreduce([n, top1, top5, loss, stopSignal?.aborted ? 1 : 0], 'sum');
      [n, top1, top5, loss] = [sums[0], sums[1], sums[2], sums[3]];
      if (sums[4] > 0) {
        this.stopAgreed = true;
        return null;
      }
    }
    if (n === 0) fail('ERR_ARGUMENT', 'a data source with at least one image', 'data', data);
    return { top1: top1 / n, top5: top5 / n, loss: loss / n, n };
  }

  /** Top-k classes with softmax scores for each image of a batch (N, H, W, 3), normalised like training. */
  async predict(images: Tensor, topk = 5): Promise<Prediction[][]> {
    expectInt('topk', topk, 1, this.net.numClasses);
    const out: Prediction[][] = [];
    for (let start = 0; start < images.shape[0]; start += this.net.batchSize) {
      const n = Math.min(this.net.batchSize, images.shape[0] - start);
      const sample = images.data.length / images.shape[0];
      const chunk = { data: images.data.subarray(start * sample, (start + n) * sample), shape: [n, ...images.shape.slice(1)] };
      const logits = await this.net.forward(chunk);
      const k = this.net.numClasses;
      for (let i = 0; i < n; i++) out.push(topK(logits.data.subarray(i * k, (i + 1) * k) as Float32Array, this.classes, topk));
    }
    return out;
  }

  /** Writes a checkpoint atomically (weights, momentum, and the run's state in the metadata). */
  async save(path: string, extra: Record<string, string> = {}): Promise<void> {
    const tensors: Record<string, Tensor> = { ...this.net.getParameters() };
    for (const [k, v] of Object.entries(this.net.getMomentum())) tensors[`optimizer.momentum.${k}`] = v;
    await saveCheckpoint(path, {
      tensors,
      metadata: {
        format: 'pt',
        bagoftricks: '1',
        model: JSON.stringify({ name: this.model.name, config: this.model.config }),
        classes: JSON.stringify(this.classes),
        recipe: JSON.stringify(this.recipe),
        inputSize: String(this.inputSize),
        seed: String(this.seed),
        step: String(this.step),
        epoch: String(this.epoch),
        ...(this.batchInEpoch === undefined ? {} : { batch: String(this.batchInEpoch) }),
        lossScaler: JSON.stringify(this.scaler.state()),
        rng: JSON.stringify(this.rng.state()),
        ...extra,
      },
    });
  }

  /**
   * A trainer restored from a checkpoint written by save(): the same model, recipe (with
   * `overrides` applied on top), weights, momentum, step, epoch, loss scale and RNG.
   */
  static async load(
    path: string,
    options: { overrides?: RecipeOverrides; teacher?: Net; backend?: 'cpu' | 'cuda' | 'auto'; distributed?: Distributed | 'auto'; bucketBytes?: number } = {},
  ): Promise<Trainer> {
    const { tensors, metadata } = await loadCheckpoint(path);
    const meta = (key: string): string => {
      const v = metadata[key];
      if (typeof v !== 'string') throw new BagOfTricksError('ERR_CHECKPOINT_FORMAT', `${path}: metadata has no "${key}" (not a bagoftricks training checkpoint)`);
      return v;
    };
    const parse = (key: string): unknown => {
      try {
        return JSON.parse(meta(key));
      } catch {
        throw new BagOfTricksError('ERR_CHECKPOINT_FORMAT', `${path}: metadata "${key}" is not valid JSON`);
      }
    };
    const model = parse('model') as { name: string; config: { numClasses: number; width: number; stem: 'imagenet' | 'cifar'; zeroGamma: boolean; seed: number } };
    if (typeof model !== 'object' || model === null || typeof model.name !== 'string' || typeof model.config !== 'object' || model.config === null) {
      throw new BagOfTricksError('ERR_CHECKPOINT_FORMAT', `${path}: metadata "model" has no name and config`);
    }
    const recipe = parse('recipe') as Recipe;
    const created = createModel(model.name as ModelName, { numClasses: model.config.numClasses, width: model.config.width, stem: model.config.stem, zeroGamma: model.config.zeroGamma, seed: model.config.seed });
    expectSavedConfig(path, model.config, created);
    expectFiniteWeights(path, Object.entries(tensors));
    const trainer = new Trainer(created, {
      recipe,
      overrides: options.overrides ?? {},
      inputSize: Number(meta('inputSize')),
      classes: parse('classes') as string[],
      seed: Number(meta('seed')),
      teacher: options.teacher,
      backend: options.backend,
      distributed: options.distributed,
      bucketBytes: options.bucketBytes,
    });
    const weights: Record<string, Tensor> = {};
    const momentum: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(tensors)) {
      if (k.startsWith('optimizer.momentum.')) momentum[k.slice('optimizer.momentum.'.length)] = v as Tensor;
      else weights[k] = v as Tensor;
    }
    trainer.net.setParameters(weights);
    trainer.net.setMomentum(momentum);
    const count = (key: string): number => {
      const v = Number(meta(key));
      if (!Number.isSafeInteger(v) || v < 0) throw new BagOfTricksError('ERR_CHECKPOINT_FORMAT', `${path}: Expected an integer ≥ 0 for metadata "${key}" but received ${JSON.stringify(metadata[key])}`);
      return v;
    };
    trainer.step = count('step');
    trainer.epoch = count('epoch');
    trainer.batchInEpoch = metadata.batch === undefined ? undefined : count('batch');
    trainer.scaler = LossScaler.fromState(parse('lossScaler') as never);
    trainer.rng = TrainRng.fromState(parse('rng'));
    return trainer;
  }

  /** Frees the Net. */
  dispose(): void {
    this.net.dispose();
  }

  /** `using trainer = new Trainer(...)` disposes at the end of the block. */
  [disposeSymbol](): void {
    this.dispose();
  }
}

/**
 * The recipe's backbone learning-rate multiplier on every trainable parameter but the
 * classifier's (the graph's output node: `fc.*`, `classifier.*`).
 */
export function backboneLrScale(model: Model, scale: number): Record<string, number> {
  const out: Record<string, number> = {};
  if (scale === 1) return out;
  const head = `${model.graph().output}.`;
  for (const p of model.parameters()) if (p.trainable && !p.name.startsWith(head)) out[p.name] = scale;
  return out;
}

function asF32(images: TrainBatchLike['images']): Tensor {
  if (!(images.data instanceof Float32Array)) fail('ERR_DTYPE', "Float32Array or Uint8Array images (a loader with output 'f32' or 'uint8')", 'batch.images.data', images.data);
  return { data: images.data, shape: images.shape.slice() };
}

/** A batch's images as normalised floats: raw bytes through the colour pass on the CPU. */
async function floatImages(batch: TrainBatchLike, constants?: BatchSource['augmentOptions']): Promise<Tensor> {
  if (!(batch.images.data instanceof Uint8Array)) return asF32(batch.images);
  return augmentAsync(batch.images as Tensor<Uint8Array>, batch.colour ?? {}, { ...(constants ?? {}), dtype: 'f32' });
}
