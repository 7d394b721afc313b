/**
 * Batch normalisation over the channel (last) dimension of NHWC activations: x is
 * (N, H, W, C) or (N, C), treated as (M, C) with M = N·H·W. PyTorch semantics: training
 * normalises with the batch statistics (biased variance) and moves the running mean and
 * the *unbiased* running variance by `momentum`; inference uses the running statistics.
 */
import { callNative } from '../errors';
import { opName } from '../backend';
import { native } from '../native';
import { Tensor } from '../tensor';
import { expectArray, expectBool, expectKeys, expectNumber, expectObject, expectTensor, fail, numel } from '../validate';

/**
 * Parameters, running statistics and mode of batchNorm; every array has C values (the
 * channel, last, dimension of x). A length that is not C throws ERR_SHAPE, a bad
 * momentum or eps ERR_ARGUMENT.
 */
export interface BatchNormOptions {
  /** Scale γ, C values. */
  gamma: Float32Array;
  /** Shift β, C values. */
  beta: Float32Array;
  /** Running mean, C values. Training mode updates this array IN PLACE. */
  runningMean: Float32Array;
  /** Running (unbiased) variance, C values. Training mode updates this array IN PLACE. */
  runningVar: Float32Array;
  /** true: batch statistics, running statistics updated; false: running statistics. */
  training: boolean;
  /** Weight of the new batch statistics in the running ones, in [0, 1]. Default 0.1. */
  momentum?: number;
  /** Added to the variance, > 0. Default 1e-5. */
  eps?: number;
}

/** What batchNorm returns: the output, and the statistics batchNormBackward needs. */
export interface BatchNormResult {
  /** Same shape as x. */
  y: Tensor;
  /** The mean that was subtracted: the batch mean (training) or a copy of runningMean. */
  saveMean: Float32Array;
  /** 1/√(var + eps) that was applied: batch (biased) variance or runningVar. */
  saveInvstd: Float32Array;
}

/** The forward's γ, saved statistics and mode, as batchNormBackward needs them. */
export interface BatchNormBackwardOptions {
  /** Scale γ of the forward, C values. */
  gamma: Float32Array;
  /** `saveMean` of the forward call. */
  saveMean: Float32Array;
  /** `saveInvstd` of the forward call. */
  saveInvstd: Float32Array;
  /** The forward's mode: true differentiates through the batch statistics too. */
  training: boolean;
}

/** The gradients batchNormBackward returns. */
export interface BatchNormGradients {
  /** d loss / d x, the shape of x. */
  dx: Tensor;
  /** d loss / d γ = Σ dy·x̂ over N·H·W, C values. */
  dgamma: Float32Array;
  /** d loss / d β = Σ dy over N·H·W, C values. */
  dbeta: Float32Array;
}

const KEYS = ['gamma', 'beta', 'runningMean', 'runningVar', 'training', 'momentum', 'eps'] as const;
const BACKWARD_KEYS = ['gamma', 'saveMean', 'saveInvstd', 'training'] as const;

/** x as (M, C): rank 2 or 4, channels last. */
function activations(name: string, v: unknown): { data: Float32Array; shape: number[]; m: number; c: number } {
  const t = expectTensor(name, v);
  if (t.shape.length !== 2 && t.shape.length !== 4) {
    fail('ERR_SHAPE', 'shape of rank 2 (N, C) or rank 4 (N, H, W, C)', `${name}.shape`, t.shape);
  }
  const c = t.shape[t.shape.length - 1];
  return { ...t, m: numel(t.shape) / c, c };
}

function channels(name: string, v: unknown, c: number): Float32Array {
  return expectArray<Float32Array>(name, v, 'Float32Array', c);
}

function requireBatch(shape: number[], m: number): void {
  if (m < 2) fail('ERR_ARGUMENT', 'at least 2 values per channel (N·H·W ≥ 2) in training mode', 'x.shape', shape);
}

function prepare(x: Tensor, options: BatchNormOptions, keys: readonly string[]) {
  const o = expectObject('options', options);
  expectKeys('options', o, keys);
  const t = activations('x', x);
  const gamma = channels('options.gamma', o.gamma, t.c);
  const beta = channels('options.beta', o.beta, t.c);
  const runningMean = channels('options.runningMean', o.runningMean, t.c);
  const runningVar = channels('options.runningVar', o.runningVar, t.c);
  const training = keys.includes('training') ? expectBool('options.training', o.training) : true;
  const momentum = o.momentum === undefined ? 0.1 : expectNumber('options.momentum', o.momentum, 0, 1);
  const eps = o.eps === undefined ? 1e-5 : (o.eps as number);
  // The core computes in float32: eps must stay > 0 there too.
  if (typeof eps !== 'number' || !Number.isFinite(eps) || !(Math.fround(eps) > 0)) {
    fail('ERR_ARGUMENT', 'finite number > 0 (and > 0 in float32)', 'options.eps', eps);
  }
  if (training) requireBatch(t.shape, t.m);
  return { t, gamma, beta, runningMean, runningVar, training, momentum, eps };
}

function train(fn: string, a: ReturnType<typeof prepare>): BatchNormResult {
  const r = callNative(() =>
    native().ops[fn](a.t.data, a.t.shape, a.gamma, a.beta, a.runningMean, a.runningVar, a.eps, a.momentum),
  ) as { y: Float32Array; saveMean: Float32Array; saveInvstd: Float32Array };
  return { y: { data: r.y, shape: a.t.shape }, saveMean: r.saveMean, saveInvstd: r.saveInvstd };
}

/**
 * Batch normalisation. Training mode (`training: true`) normalises with the batch mean
 * and biased variance (accumulated in double, deterministic for a given shape) and
 * updates `runningMean` and `runningVar` IN PLACE:
 * running = (1 − momentum)·running + momentum·batch, with the variance made unbiased
 * (×M/(M−1)), so M = N·H·W must be at least 2. Inference mode uses the running statistics
 * and changes nothing.
 */
export function batchNorm(x: Tensor, options: BatchNormOptions): BatchNormResult {
  const a = prepare(x, options, KEYS);
  if (a.training) return train(opName('batchNormTrain'), a);
  const r = callNative(() =>
    native().ops[opName('batchNormInfer')](a.t.data, a.t.shape, a.gamma, a.beta, a.runningMean, a.runningVar, a.eps),
  ) as { y: Float32Array; saveMean: Float32Array; saveInvstd: Float32Array };
  return { y: { data: r.y, shape: a.t.shape }, saveMean: r.saveMean, saveInvstd: r.saveInvstd };
}

/** Training-mode batchNorm on the plain loop nests the fast kernel is tested against. */
export function batchNormTrainReference(x: Tensor, options: Omit<BatchNormOptions, 'training'>): BatchNormResult {
  const keys = KEYS.filter((k) => k !== 'training');
  return train('batchNormTrainReference', prepare(x, options as BatchNormOptions, keys));
}

function backward(fn: string, x: Tensor, dy: Tensor, options: BatchNormBackwardOptions): BatchNormGradients {
  const o = expectObject('options', options);
  expectKeys('options', o, BACKWARD_KEYS);
  const t = activations('x', x);
  const g = expectTensor('dy', dy);
  if (g.shape.length !== t.shape.length || g.shape.some((d, i) => d !== t.shape[i])) {
    fail('ERR_SHAPE', `shape [${t.shape.join(', ')}] (as x)`, 'dy.shape', g.shape);
  }
  const gamma = channels('options.gamma', o.gamma, t.c);
  const mean = channels('options.saveMean', o.saveMean, t.c);
  const invstd = channels('options.saveInvstd', o.saveInvstd, t.c);
  const training = expectBool('options.training', o.training);
  if (training) requireBatch(t.shape, t.m);
  const r = callNative(() => native().ops[fn](t.data, g.data, t.shape, gamma, mean, invstd, training)) as {
    dx: Float32Array;
    dgamma: Float32Array;
    dbeta: Float32Array;
  };
  return { dx: { data: r.dx, shape: t.shape }, dgamma: r.dgamma, dbeta: r.dbeta };
}

/**
 * Gradients of batchNorm: dβ = Σ dy, dγ = Σ dy·x̂ with x̂ = (x − mean)·invstd, and
 * dx = γ·invstd/M·(M·dy − dβ − x̂·dγ) in training mode (through the batch statistics),
 * dx = γ·invstd·dy in inference mode.
 */
export function batchNormBackward(x: Tensor, dy: Tensor, options: BatchNormBackwardOptions): BatchNormGradients {
  return backward(opName('batchNormBackward'), x, dy, options);
}

/** batchNormBackward on the plain loop nests the fast kernel is tested against. */
export function batchNormBackwardReference(x: Tensor, dy: Tensor, options: BatchNormBackwardOptions): BatchNormGradients {
  return backward('batchNormBackwardReference', x, dy, options);
}
