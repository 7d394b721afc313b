/**
 * Knowledge distillation (§5.3 of the paper; Hinton et al. 2015). A teacher's logits r
 * become soft targets softmax(r/T), and the student with logits z minimises
 *
 *   ℓ = CE(p, softmax(z)) + w · T² · CE(softmax(r/T), softmax(z/T)),   CE(q, s) = −Σ q log s,
 *
 * p the (possibly smoothed or mixed) true targets, T = 20 and w = 1 in the paper (the T²
 * keeps the soft term's gradient, which scales as 1/T, comparable to the hard term's).
 * The paper's teacher is a pretrained ResNet-152-D trained with cosine decay and label
 * smoothing. With mixup, the teacher sees the mixed images (gluon-cv computes teacher_prob
 * on the blended batch).
 *
 * gluon-cv's `DistillationSoftmaxCrossEntropyLoss(temperature, hard_weight=0.5)` returns
 * hard_weight·hard + (1 − hard_weight)·T²·soft, i.e. half of ℓ with w = 1: the same
 * gradient direction, at half the step size for the loss part (weight decay unchanged).
 *
 * The Net computes ℓ natively (trainStep's `teacherLogits` and `temperature`); the float64
 * `distillationLoss` here is the reference its tests compare against.
 */
import { Tensor } from '../tensor';
import { expectKeys, expectNumber, expectObject, expectTensor, fail } from '../validate';
import { expectLabels } from './smoothing';

/**
 * Knowledge distillation in a recipe (§5.4 of the paper): the teacher and how its soft targets are weighted.
 */
export interface DistillationConfig {
  /** Path of the teacher's checkpoint (safetensors, timm keys). */
  teacher: string;
  /** Softmax temperature T. Default 20 (the paper's). */
  temperature?: number;
  /** Weight w of the soft term T²·CE(softmax(r/T), softmax(z/T)). Default 1 (the paper's). */
  weight?: number;
}

/** The paper's defaults: temperature T = 20, weight w = 1. */
export const DISTILLATION_DEFAULTS = { temperature: 20, weight: 1 } as const;

/** Checks a distillation config (unknown keys are ERR_ARGUMENT) and fills in the defaults. */
export function resolveDistillation(config: unknown, name = 'distillation'): Required<DistillationConfig> {
  const o = expectObject(name, config);
  expectKeys(name, o, ['teacher', 'temperature', 'weight']);
  if (typeof o.teacher !== 'string' || o.teacher.length === 0) fail('ERR_ARGUMENT', 'path of the teacher checkpoint', `${name}.teacher`, o.teacher);
  const temperature = o.temperature === undefined ? DISTILLATION_DEFAULTS.temperature : expectNumber(`${name}.temperature`, o.temperature, Number.MIN_VALUE, 1e6, 'number > 0');
  const weight = o.weight === undefined ? DISTILLATION_DEFAULTS.weight : expectNumber(`${name}.weight`, o.weight, 0);
  return { teacher: o.teacher, temperature, weight };
}

/** Row-wise log softmax(x/T) of (N, K) values, in float64: x/T − max − log Σ exp(x/T − max). */
function logSoftmax64(x: ArrayLike<number>, n: number, k: number, t: number): Float64Array {
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let c = 0; c < k; c++) m = Math.max(m, x[i * k + c] / t);
    let s = 0;
    for (let c = 0; c < k; c++) s += Math.exp(x[i * k + c] / t - m);
    const lse = m + Math.log(s);
    for (let c = 0; c < k; c++) out[i * k + c] = x[i * k + c] / t - lse;
  }
  return out;
}

/** The teacher's soft targets softmax(r/T), row by row (N, K), computed in float64. */
export function distillationTargets(teacherLogits: Tensor, temperature: number): Tensor {
  const r = expectTensor('teacherLogits', teacherLogits, 2);
  const t = expectNumber('temperature', temperature, Number.MIN_VALUE, 1e6, 'number > 0');
  const [n, k] = r.shape;
  const bad = r.data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) fail('ERR_ARGUMENT', 'finite logits', `teacherLogits.data[${bad}]`, r.data[bad]);
  return { data: Float32Array.from(logSoftmax64(r.data, n, k, t), Math.exp), shape: [n, k] };
}

/** Inputs of the Float64 reference distillationLoss; shapes that disagree throw ERR_SHAPE. */
export interface DistillationLossInput {
  /** Student logits z, (N, K). */
  logits: Tensor;
  /** True targets p: N hard labels, or soft targets (N, K). */
  targets: Int32Array | Tensor;
  /** Teacher logits r, (N, K). */
  teacherLogits: Tensor;
  /** Softmax temperature T. Default 20. */
  temperature?: number;
  /** Weight w of the soft term. Default 1. */
  weight?: number;
}

/**
 * Float64 reference of the paper's distillation loss, averaged over the batch, and its
 * gradient with respect to the student logits:
 *   ℓ = 1/N Σ_i [CE(p_i, softmax(z_i)) + w T² CE(softmax(r_i/T), softmax(z_i/T))],
 *   ∂ℓ/∂z_i = 1/N [softmax(z_i) − p_i + w T (softmax(z_i/T) − softmax(r_i/T))].
 */
export function distillationLoss(input: DistillationLossInput): { loss: number; grad: Float64Array } {
  const o = expectObject('input', input);
  expectKeys('input', o, ['logits', 'targets', 'teacherLogits', 'temperature', 'weight']);
  const z = expectTensor('input.logits', o.logits, 2);
  const r = expectTensor('input.teacherLogits', o.teacherLogits, 2);
  const [n, k] = z.shape;
  if (r.shape[0] !== n || r.shape[1] !== k) fail('ERR_SHAPE', `shape [${n}, ${k}]`, 'input.teacherLogits.shape', r.shape);
  const t = o.temperature === undefined ? DISTILLATION_DEFAULTS.temperature : expectNumber('input.temperature', o.temperature, Number.MIN_VALUE, 1e6, 'number > 0');
  const w = o.weight === undefined ? DISTILLATION_DEFAULTS.weight : expectNumber('input.weight', o.weight, 0);
  let p: Float64Array;
  if (o.targets instanceof Int32Array || Array.isArray(o.targets)) {
    const y = expectLabels('input.targets', o.targets, k);
    if (y.length !== n) fail('ERR_SHAPE', `${n} labels`, 'input.targets', o.targets);
    p = new Float64Array(n * k);
    for (let i = 0; i < n; i++) p[i * k + y[i]] = 1;
  } else {
    const pt = expectTensor('input.targets', o.targets, 2);
    if (pt.shape[0] !== n || pt.shape[1] !== k) fail('ERR_SHAPE', `shape [${n}, ${k}]`, 'input.targets.shape', pt.shape);
    p = Float64Array.from(pt.data);
  }
  const ls = logSoftmax64(z.data, n, k, 1);
  const lsT = logSoftmax64(z.data, n, k, t);
  const lq = logSoftmax64(r.data, n, k, t);
  let loss = 0;
  const grad = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      const j = i * k + c;
      const q = Math.exp(lq[j]);
      loss -= p[j] * ls[j] + w * t * t * q * lsT[j];
      grad[j] = (Math.exp(ls[j]) - p[j] + w * t * (Math.exp(lsT[j]) - q)) / n;
    }
  }
  return { loss: loss / n, grad };
}
