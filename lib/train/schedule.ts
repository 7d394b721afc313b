/**
 * Learning-rate schedules as pure functions `(step) => lr` that compose (gluon-cv's
 * `LRScheduler` + `LRSequential`, the paper's own code). `step` counts iterations (one
 * optimizer step each) from 0; schedules hold no state, so resuming a run is calling the
 * same function at the saved step.
 *
 * The paper's two schedules (He et al. 2019):
 * - baseline (§2.1): lr 0.1 for batch 256, ×0.1 at epochs 30, 60 and 90 of 120;
 * - tricks (§3.1 linear scaling, §3.1 warmup, §5.1 cosine): lr 0.1·b/256, linear warmup
 *   from 0 over 5 epochs, then cosine decay to 0 over the remaining epochs:
 *   `sequence([[linearWarmup(w, lr), w], [cosine({ base: lr, total: T − w }), T − w]])`.
 *   The cosine's T excludes the warmup, as in the paper ("ignoring the warmup stage").
 */
import { expectInt, expectKeys, expectNumber, expectObject, fail } from '../validate';

/** The learning rate at iteration `step` (an integer ≥ 0; fractional steps are accepted). */
export type Schedule = (step: number) => number;

/** A schedule and the number of iterations it runs inside a sequence. */
export type Segment = readonly [schedule: Schedule, steps: number];

function expectStep(step: unknown): number {
  return expectNumber('step', step, 0);
}

/** The paper's linear scaling rule (§3.1, Goyal et al. 2017): lr = baseLr · batchSize / baseBatch, 0.1 × b/256 by default. */
export function linearScaling(batchSize: number, baseLr = 0.1, baseBatch = 256): number {
  expectInt('batchSize', batchSize, 1);
  expectNumber('baseLr', baseLr, 0);
  expectInt('baseBatch', baseBatch, 1);
  return (baseLr * batchSize) / baseBatch;
}

/** Constant: lr(t) = value. */
export function constant(value: number): Schedule {
  expectNumber('value', value, 0);
  return (step) => {
    expectStep(step);
    return value;
  };
}

/**
 * Linear warmup from 0 (§3.1 "Learning rate warmup"), per iteration:
 *   lr(t) = target · t / steps   for t < steps,
 *   lr(t) = target               for t ≥ steps.
 * gluon-cv's `LRScheduler('linear', base_lr=0, target_lr=lr, niters=steps)`.
 */
export function linearWarmup(steps: number, target: number): Schedule {
  expectInt('steps', steps, 1);
  expectNumber('target', target, 0);
  return (step) => {
    const t = expectStep(step);
    return t < steps ? (target * t) / steps : target;
  };
}

/** Options of stepDecay: lr(t) = base · factor^k, k = the milestones ≤ t. */
export interface StepDecayOptions {
  /** Learning rate before the first milestone. */
  base: number;
  /** Iterations at which the rate is multiplied by `factor`, ascending. */
  milestones: number[];
  /** Multiplier applied at each milestone. Default 0.1. */
  factor?: number;
}

/**
 * Step decay (§2.1 baseline: ÷10 at epochs 30, 60, 90):
 *   lr(t) = base · factor^k,   k = #{ m ∈ milestones : m ≤ t }.
 * gluon-cv's `LRScheduler('step', step_iter=milestones, step_factor=factor)`.
 */
export function stepDecay(options: StepDecayOptions): Schedule {
  const o = expectObject('options', options);
  expectKeys('options', o, ['base', 'milestones', 'factor']);
  const base = expectNumber('options.base', o.base, 0);
  const factor = o.factor === undefined ? 0.1 : expectNumber('options.factor', o.factor, 0);
  if (!Array.isArray(o.milestones)) fail('ERR_ARGUMENT', 'array of ascending integers ≥ 0', 'options.milestones', o.milestones);
  const milestones = (o.milestones as unknown[]).map((m, i) => expectInt(`options.milestones[${i}]`, m, 0));
  for (let i = 1; i < milestones.length; i++) {
    if (milestones[i] <= milestones[i - 1]) fail('ERR_ARGUMENT', 'strictly ascending milestones', 'options.milestones', o.milestones);
  }
  return (step) => {
    const t = expectStep(step);
    let lr = base;
    for (const m of milestones) if (m <= t) lr *= factor;
    return lr;
  };
}

/** Options of cosineDecay: lr(t) = final + (base − final) · ½ (1 + cos(π t / T)), then final. */
export interface CosineOptions {
  /** η: the rate at t = 0. */
  base: number;
  /** T: iterations of the decay (warmup excluded). */
  total: number;
  /** Rate at t ≥ T. Default 0. */
  final?: number;
}

/**
 * Cosine decay (§5.1, Loshchilov & Hutter 2017):
 *   lr(t) = final + (base − final) · ½ (1 + cos(π t / T))   for t < T,
 *   lr(t) = final                                          for t ≥ T;
 * with final = 0 the paper's η_t = ½ (1 + cos(tπ/T)) η. gluon-cv's `LRScheduler('cosine')`.
 */
export function cosine(options: CosineOptions): Schedule {
  const o = expectObject('options', options);
  expectKeys('options', o, ['base', 'total', 'final']);
  const base = expectNumber('options.base', o.base, 0);
  const total = expectInt('options.total', o.total, 1);
  const final = o.final === undefined ? 0 : expectNumber('options.final', o.final, 0);
  return (step) => {
    const t = expectStep(step);
    return t < total ? final + ((base - final) * (1 + Math.cos((Math.PI * t) / total))) / 2 : final;
  };
}

/**
 * Schedules one after the other (gluon-cv's `LRSequential`). Segment i runs for its
 * `steps` iterations and sees its own step count from 0:
 *   lr(t) = s_i(t − o_i),   o_i = steps_0 + … + steps_{i−1},  for o_i ≤ t < o_i + steps_i.
 * Past the end the last schedule goes on with its own count (t − o_last). Segments of
 * 0 steps are skipped (a warmup of 0 epochs), except the last, which always runs on.
 */
export function sequence(segments: readonly Segment[]): Schedule {
  if (!Array.isArray(segments) || segments.length === 0) fail('ERR_ARGUMENT', 'non-empty array of [schedule, steps] pairs', 'segments', segments);
  const parts: { schedule: Schedule; start: number; end: number }[] = [];
  let start = 0;
  segments.forEach((seg, i) => {
    if (!Array.isArray(seg) || seg.length !== 2 || typeof seg[0] !== 'function') {
      fail('ERR_ARGUMENT', '[schedule function, steps] pair', `segments[${i}]`, seg);
    }
    const steps = expectInt(`segments[${i}][1]`, seg[1], 0);
    if (steps > 0 || i === segments.length - 1) parts.push({ schedule: seg[0], start, end: start + steps });
    start += steps;
  });
  return (step) => {
    const t = expectStep(step);
    for (let i = 0; i < parts.length - 1; i++) {
      if (t < parts[i].end) return parts[i].schedule(t - parts[i].start);
    }
    const last = parts[parts.length - 1];
    return last.schedule(t - last.start);
  };
}

/**
 * Options of scheduleFromEpochs: a whole run's schedule given in epochs (warmup, then step
 * or cosine decay), converted to iterations with `stepsPerEpoch`.
 */
export interface EpochScheduleOptions {
  /** The decay after warmup: 'step' (the baseline) or 'cosine' (§5.1 of the paper). */
  kind: 'step' | 'cosine';
  /** Epochs of the whole run, warmup included. */
  epochs: number;
  /** Iterations per epoch (⌈samples / batch⌉ or ⌊samples / batch⌋, as the loader drops the last batch or not). */
  stepsPerEpoch: number;
  /** Epochs of linear warmup from 0 (the paper: 5 with large batches; fractions allowed). Default 0. */
  warmupEpochs?: number;
  /** Peak learning rate (after warmup), e.g. linearScaling(batchSize). */
  baseLr: number;
  /**
   * 'step' only: epochs (counted from the start of the run, warmup included) at which the
   * rate is multiplied by `factor`. Default: ¼, ½ and ¾ of `epochs` (rounded; those not
   * after the warmup dropped), which is the paper's 30, 60, 90 for 120 epochs.
   */
  milestones?: number[];
  /** 'step' only: default 0.1. */
  factor?: number;
  /** 'cosine' only: the rate at the end. Default 0. */
  final?: number;
}

/**
 * The paper's schedules from epoch counts: optional linear warmup, then step decay at the
 * milestone epochs or cosine decay over the epochs after the warmup. As in gluon-cv's
 * train_imagenet.py, milestones are absolute epochs (the step segment starts after the
 * warmup and its milestones are shifted by it) and the cosine's T is
 * (epochs − warmupEpochs) · stepsPerEpoch.
 */
export function scheduleFromEpochs(options: EpochScheduleOptions): Schedule {
  const o = expectObject('options', options);
  expectKeys('options', o, ['kind', 'epochs', 'stepsPerEpoch', 'warmupEpochs', 'baseLr', 'milestones', 'factor', 'final']);
  if (o.kind !== 'step' && o.kind !== 'cosine') fail('ERR_ARGUMENT', `'step' or 'cosine'`, 'options.kind', o.kind);
  const epochs = expectInt('options.epochs', o.epochs, 1);
  const perEpoch = expectInt('options.stepsPerEpoch', o.stepsPerEpoch, 1);
  // Fractions of an epoch are allowed (0.5: half an epoch), rounded to whole steps; the
  // warmup ends before the run does, so at least one step of the decay remains.
  const warmupEpochs = o.warmupEpochs === undefined ? 0 : expectNumber('options.warmupEpochs', o.warmupEpochs, 0, epochs);
  if (warmupEpochs >= epochs) fail('ERR_ARGUMENT', `warmupEpochs < epochs (${epochs})`, 'options.warmupEpochs', warmupEpochs);
  const baseLr = expectNumber('options.baseLr', o.baseLr, 0);
  const warmupSteps = Math.min(Math.round(warmupEpochs * perEpoch), epochs * perEpoch - 1);
  const mainSteps = epochs * perEpoch - warmupSteps;
  let main: Schedule;
  if (o.kind === 'step') {
    if (o.final !== undefined) fail('ERR_ARGUMENT', `no 'final' with kind 'step'`, 'options.final', o.final);
    let milestones: number[];
    if (o.milestones === undefined) milestones = [1, 2, 3].map((q) => Math.round((epochs * q) / 4)).filter((m) => m > warmupEpochs);
    else if (!Array.isArray(o.milestones)) fail('ERR_ARGUMENT', 'array of epochs', 'options.milestones', o.milestones);
    else milestones = (o.milestones as unknown[]).map((m, i) => expectInt(`options.milestones[${i}]`, m, warmupEpochs));
    if (o.milestones === undefined) milestones = [...new Set(milestones)]; // tiny runs: 2 epochs give [1, 1, 2]
    for (let i = 1; i < milestones.length; i++) {
      if (milestones[i] <= milestones[i - 1]) fail('ERR_ARGUMENT', 'strictly ascending epochs', 'options.milestones', o.milestones);
    }
    main = stepDecay({ base: baseLr, milestones: milestones.map((m) => m * perEpoch - warmupSteps), factor: o.factor as number | undefined });
  } else {
    if (o.milestones !== undefined) fail('ERR_ARGUMENT', `no 'milestones' with kind 'cosine'`, 'options.milestones', o.milestones);
    if (o.factor !== undefined) fail('ERR_ARGUMENT', `no 'factor' with kind 'cosine'`, 'options.factor', o.factor);
    main = cosine({ base: baseLr, total: mainSteps, final: o.final as number | undefined });
  }
  if (warmupSteps === 0) return main;
  return sequence([
    [linearWarmup(warmupSteps, baseLr), warmupSteps],
    [main, mainSteps],
  ]);
}
