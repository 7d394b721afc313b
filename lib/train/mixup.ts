/**
 * Mixup (§5.4 of the paper; Zhang et al. 2018): each step trains on convex combinations of
 * pairs of examples,
 *   x̂ = λ x_i + (1 − λ) x_j,   ŷ = λ y_i + (1 − λ) y_j,   λ ~ Beta(α, α),
 * one λ per batch (as gluon-cv and Zhang et al.'s code draw it), α = 0.2 in the paper,
 * which trains mixup runs for 200 epochs instead of 120 because the mixed examples need
 * longer to converge.
 *
 * Pairing. The paper says the two examples are sampled at random. gluon-cv's
 * train_imagenet.py pairs example i with example N − 1 − i of the (shuffled) batch, a
 * fixed involution; Zhang et al.'s reference code pairs it with a random permutation
 * (`torch.randperm`). We default to the random permutation (pairing 'random'), the literal
 * reading of the paper: a fresh pairing every step, independent of the loader's order. It
 * may pair an example with itself (one fixed point per batch on average, whatever N), which
 * only leaves that example unmixed. pairing 'reverse' reproduces gluon-cv.
 *
 * Beta sampling. λ = X / (X + Y) with X, Y ~ Gamma(α, 1) independent. Gamma draws use
 * Marsaglia & Tsang (2000), "A simple method for generating gamma variables": for a ≥ 1,
 * d = a − 1/3, c = 1/√(9d); draw x ~ N(0, 1), v = (1 + c x)³, u ~ U(0, 1); accept d·v when
 * v > 0 and log u < x²/2 + d − d v + d log v (the squeeze u < 1 − 0.0331 x⁴ first). For
 * a < 1 (α = 0.2 is one) the boost Gamma(a) = Gamma(a + 1) · U^(1/a). With α = 0.2, U^5 is
 * often tiny, so everything is done in log space (log X = log Gamma(a + 1) + log U / a) and
 * λ = 1 / (1 + exp(log Y − log X)), which never divides 0 by 0. Normals come from
 * Box–Muller, two uniforms each (the second value is dropped so no state is kept outside
 * the generator). Every draw comes from the generator passed in, so a seed (and a saved
 * TrainRng state) reproduces the sequence exactly.
 */
import { Tensor } from '../tensor';
import { expectArray, expectInt, expectKeys, expectNumber, expectObject, expectTensor, fail } from '../validate';
import { UniformSource } from './rng';

function expectSource(rng: unknown): UniformSource {
  if (typeof rng !== 'object' || rng === null || typeof (rng as UniformSource).uniform !== 'function') {
    fail('ERR_ARGUMENT', 'generator with uniform() (a TrainRng)', 'rng', rng);
  }
  return rng as UniformSource;
}

/** Standard normal by Box–Muller (two uniforms per value). */
function normal(rng: UniformSource): number {
  const u = 1 - rng.uniform(); // (0, 1]: log is finite
  const v = rng.uniform();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** log of a Gamma(a, 1) draw (Marsaglia–Tsang, with the U^(1/a) boost for a < 1). */
function logGamma(rng: UniformSource, a: number): number {
  if (a < 1) {
    const u = 1 - rng.uniform(); // (0, 1]
    return logGamma(rng, a + 1) + Math.log(u) / a;
  }
  const d = a - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normal(rng);
    const t = 1 + c * x;
    if (t <= 0) continue;
    const v = t * t * t;
    const u = rng.uniform();
    if (u < 1 - 0.0331 * x * x * x * x) return Math.log(d * v); // squeeze: accepts ~98% without a log
    if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return Math.log(d * v);
  }
}

/** A Gamma(shape, 1) draw (Marsaglia–Tsang). May underflow to 0 for very small shapes; sampleBeta does not. */
export function sampleGamma(rng: UniformSource, shape: number): number {
  const a = expectNumber('shape', shape, Number.MIN_VALUE, 1e12);
  return Math.exp(logGamma(expectSource(rng), a));
}

/** A Beta(a, b) draw: X/(X + Y), X ~ Gamma(a), Y ~ Gamma(b), computed from log X and log Y. */
export function sampleBeta(rng: UniformSource, a: number, b: number): number {
  const src = expectSource(rng);
  const pa = expectNumber('a', a, Number.MIN_VALUE, 1e12);
  const pb = expectNumber('b', b, Number.MIN_VALUE, 1e12);
  const lx = logGamma(src, pa);
  const ly = logGamma(src, pb);
  return 1 / (1 + Math.exp(ly - lx));
}

/**
 * How sampleMixup pairs the examples of a batch: 'random', a uniform permutation; 'reverse', example i with N − 1 − i (gluon-cv's).
 */
export type MixupPairing = 'random' | 'reverse';

/** One step's mixup draw: the weight λ and each example's partner. */
export interface MixupSample {
  /** λ ~ Beta(α, α): the weight of example i (1 − λ goes to its partner). */
  lambda: number;
  /** perm[i]: the partner of example i. */
  perm: Int32Array;
}

/**
 * One step's mixup draw: λ ~ Beta(α, α), then the pairing ('random': a uniform
 * permutation by Fisher–Yates; 'reverse': i ↔ N − 1 − i, gluon-cv's). Draw order (λ, then
 * the permutation) is part of the contract: it makes runs reproducible.
 */
export function sampleMixup(rng: UniformSource, batchSize: number, alpha: number, options: { pairing?: MixupPairing } = {}): MixupSample {
  const src = expectSource(rng);
  const n = expectInt('batchSize', batchSize, 1, 2 ** 31 - 1);
  const a = expectNumber('alpha', alpha, Number.MIN_VALUE, 1e6, 'number > 0');
  const o = expectObject('options', options);
  expectKeys('options', o, ['pairing']);
  const pairing = o.pairing === undefined ? 'random' : o.pairing;
  if (pairing !== 'random' && pairing !== 'reverse') fail('ERR_ARGUMENT', `'random' or 'reverse'`, 'options.pairing', pairing);
  const lambda = sampleBeta(src, a, a);
  const perm = new Int32Array(n);
  if (pairing === 'reverse') {
    for (let i = 0; i < n; i++) perm[i] = n - 1 - i;
  } else {
    for (let i = 0; i < n; i++) perm[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(src.uniform() * (i + 1));
      const t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
  }
  return { lambda, perm };
}

function expectPerm(perm: unknown, n: number): Int32Array {
  const p = expectArray<Int32Array>('perm', perm, 'Int32Array', n);
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const j = p[i];
    if (j < 0 || j >= n || seen[j]) fail('ERR_ARGUMENT', `permutation of [0, ${n})`, 'perm', perm);
    seen[j] = 1;
  }
  return p;
}

/** ŷ_i = λ·y_i + (1 − λ)·y_perm(i) for soft targets (N, K) (one-hot or smoothed labels); rows keep summing to 1. */
export function mixTargets(targets: Tensor, perm: Int32Array, lambda: number): Tensor {
  const t = expectTensor('targets', targets, 2);
  const [n, k] = t.shape;
  const p = expectPerm(perm, n);
  const lam = expectNumber('lambda', lambda, 0, 1);
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    const a = i * k;
    const b = p[i] * k;
    for (let c = 0; c < k; c++) out[a + c] = lam * t.data[a + c] + (1 - lam) * t.data[b + c];
  }
  return { data: out, shape: [n, k] };
}

/**
 * x̂_i = λ·x_i + (1 − λ)·x_perm(i) for a batch of images (N, …): the host-side reference of
 * the blend (the Net blends on the device when training there).
 */
export function mixImages(images: Tensor, perm: Int32Array, lambda: number): Tensor {
  const x = expectTensor('images', images);
  const n = x.shape[0];
  const p = expectPerm(perm, n);
  const lam = expectNumber('lambda', lambda, 0, 1);
  const row = x.data.length / n;
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < n; i++) {
    const a = i * row;
    const b = p[i] * row;
    for (let c = 0; c < row; c++) out[a + c] = lam * x.data[a + c] + (1 - lam) * x.data[b + c];
  }
  return { data: out, shape: x.shape.slice() };
}

/** When mixup applies during a run (see mixupActive). */
export interface MixupPolicy {
  /** Epochs of the whole run. */
  epochs: number;
  /** Last epochs trained without mixup (gluon-cv's --mixup-off-epoch). Default 0. */
  offEpochs?: number;
}

/**
 * Whether mixup applies in `epoch` (0-based): epoch < epochs − offEpochs. gluon-cv sets
 * λ = 1 from epoch `num_epochs − mixup_off_epoch` on, which is the same thing. (timm's
 * `mixup_off_epoch` is instead the absolute epoch at which mixup stops.)
 */
export function mixupActive(epoch: number, policy: MixupPolicy): boolean {
  const e = expectInt('epoch', epoch, 0);
  const o = expectObject('policy', policy);
  expectKeys('policy', o, ['epochs', 'offEpochs']);
  const epochs = expectInt('policy.epochs', o.epochs, 1);
  const off = o.offEpochs === undefined ? 0 : expectInt('policy.offEpochs', o.offEpochs, 0, epochs);
  return e < epochs - off;
}
