/**
 * The paper's two training recipes as plain typed objects (He et al. 2019), and
 * `resolveRecipe` to start from one and override any field.
 *
 * ImageNet top-1 / top-5 accuracies the paper reports for ResNet-50 (224², single crop):
 * - 75.3 / 92.2: ResNet-50 as published by He et al. 2016, the "reference" the paper
 *   compares with (intro Table 1, Table 2's reference column; the abstract's "from 75.3%").
 * - 75.87 / 92.70: the paper's own reimplementation of that baseline with `baseline`'s
 *   recipe (Table 2's "baseline" column; Table 3/4's starting point).
 * - 76.21 / 92.97: efficient training (batch 1024, FP16, warmup, zero-γ, no bias decay;
 *   Tables 3 and 4), the same ResNet-50.
 * - 77.16 / 93.52: ResNet-50-D with efficient training (Table 5).
 * - 77.91, +cosine; 78.31, +label smoothing; 78.67, +distillation without mixup;
 *   79.15 / 94.58, +mixup without distillation; 79.29 / 94.63, +distillation with mixup:
 *   every trick (Table 6; the last row of the intro's Table 1, "tricks (ours)").
 * `tricks` without a teacher is the 79.15 row; with `distillation` set, the 79.29 row.
 */
import { listModels } from '../models';
import type { ModelName } from '../models';
import { expectBool, expectInt, expectKeys, expectNumber, expectObject, fail } from '../validate';
import { DistillationConfig, resolveDistillation } from './distillation';
import { linearScaling, Schedule, scheduleFromEpochs } from './schedule';

/**
 * Arithmetic of training: 'fp32', or 'fp16' mixed precision (FP32 master weights, FP16 compute, dynamic loss scaling).
 */
export type Precision = 'fp32' | 'fp16';

/**
 * Every hyper-parameter of a training run. The two of the paper are in `recipes`: 'baseline'
 * (§2.1: step decay, FP32, no tricks) and 'tricks' (§3–5: cosine, warmup, FP16, zero-γ,
 * no bias decay, label smoothing, mixup); resolveRecipe applies overrides and checks them.
 */
export interface Recipe {
  /** The recipe's name ('baseline', 'tricks', or the caller's). */
  name: string;
  /** A model of the zoo (createModel's names). */
  model: ModelName;
  /** Epochs of the run, warmup included. */
  epochs: number;
  /** Total batch size of one step. */
  batchSize: number;
  /** Peak learning rate (after warmup): the linear scaling rule 0.1 × batchSize/256 in both recipes. */
  lr: number;
  /** SGD momentum. */
  momentum: number;
  /** Nesterov accelerated gradient (the paper's NAG). */
  nesterov: boolean;
  /** L2 weight decay. */
  weightDecay: number;
  /** Learning-rate decay after the warmup. */
  schedule: 'step' | 'cosine';
  /** 'step' only (ignored by 'cosine'): epochs at which the rate is multiplied by decayFactor. */
  milestones: number[];
  /** 'step' only: multiplier at each milestone. */
  decayFactor: number;
  /** Epochs of linear warmup from 0 to lr (fractions allowed: 0.5 is half an epoch). */
  warmupEpochs: number;
  /** 'fp16': FP16 convolutions with FP32 master weights and dynamic loss scaling. */
  precision: Precision;
  /** γ = 0 on the last BN of every residual block (§3.1). */
  zeroGamma: boolean;
  /** No weight decay on biases and BN γ/β (§3.1). */
  noBiasDecay: boolean;
  /** Label smoothing ε (0: off). */
  labelSmoothing: number;
  /** Mixup α (0: off). */
  mixupAlpha: number;
  /** Last epochs trained without mixup (gluon-cv's --mixup-off-epoch; the paper does not use it). */
  mixupOffEpochs: number;
  /** Knowledge distillation from a teacher checkpoint; null: off. */
  distillation: Required<DistillationConfig> | null;
  /**
   * Fine-tuning (§5 of the paper): learning-rate multiplier of every parameter but the
   * classifier's (`fc.*`). 1 (the default): one rate for all; 0: the backbone is frozen.
   */
  backboneLrScale: number;
}

/** The names of the built-in recipes. */
export type RecipeName = 'baseline' | 'tricks';

/** Overrides: any field of a recipe; `distillation` takes a partial config (defaults T = 20, w = 1) or null. */
export type RecipeOverrides = Partial<Omit<Recipe, 'distillation'>> & { distillation?: DistillationConfig | null };

const RECIPE_KEYS: readonly (keyof Recipe)[] = [
  'name', 'model', 'epochs', 'batchSize', 'lr', 'momentum', 'nesterov', 'weightDecay', 'schedule', 'milestones',
  'decayFactor', 'warmupEpochs', 'precision', 'zeroGamma', 'noBiasDecay', 'labelSmoothing', 'mixupAlpha',
  'mixupOffEpochs', 'distillation', 'backboneLrScale',
];

/** Fields a complete recipe object may leave out (added after checkpoints were first written), with their values. */
const OPTIONAL_FIELDS: Partial<Record<keyof Recipe, unknown>> = { backboneLrScale: 1 };

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * The paper's baseline (§2.1, Table 2): ResNet-50, batch 256, FP32, NAG with momentum
 * 0.9, weight decay 1e-4 on every parameter, lr 0.1 (= 0.1 × 256/256), ÷10 at epochs 30,
 * 60 and 90 of 120, no warmup and none of the tricks. The paper's "ResNet-50" is the
 * original architecture of He et al. 2016 (its Figure 1: stride 2 on the bottleneck's first
 * 1×1 conv), which is `resnet50a` in our zoo; `resnet50` is ResNet-B (torchvision's and
 * timm's "v1.5"), the paper's first tweak. Override `model: 'resnet50'` to compare with a
 * torchvision/timm baseline.
 */
const baseline: Recipe = deepFreeze({
  name: 'baseline',
  model: 'resnet50a',
  epochs: 120,
  batchSize: 256,
  lr: linearScaling(256),
  momentum: 0.9,
  nesterov: true,
  weightDecay: 1e-4,
  schedule: 'step',
  milestones: [30, 60, 90],
  decayFactor: 0.1,
  warmupEpochs: 0,
  precision: 'fp32',
  zeroGamma: false,
  noBiasDecay: false,
  labelSmoothing: 0,
  mixupAlpha: 0,
  mixupOffEpochs: 0,
  distillation: null,
  backboneLrScale: 1,
});

/**
 * Every trick (Tables 4–6): ResNet-50-D, batch 1024 with lr 0.4 (= 0.1 × 1024/256), FP16,
 * 5 warmup epochs, zero-γ, no bias decay, cosine decay, label smoothing 0.1 and mixup
 * α = 0.2. Mixup runs train longer: 200 epochs instead of 120 (§5.4) — set
 * `{ mixupAlpha: 0, epochs: 120 }` for the paper's runs without mixup. Distillation is
 * off until a teacher is given: `resolveRecipe('tricks', { distillation: { teacher: path } })`
 * (T = 20, w = 1; the paper's teacher is a ResNet-152-D with cosine decay and label smoothing).
 */
const tricks: Recipe = deepFreeze({
  name: 'tricks',
  model: 'resnet50d',
  epochs: 200,
  batchSize: 1024,
  lr: linearScaling(1024),
  momentum: 0.9,
  nesterov: true,
  weightDecay: 1e-4,
  schedule: 'cosine',
  milestones: [],
  decayFactor: 0.1,
  warmupEpochs: 5,
  precision: 'fp16',
  zeroGamma: true,
  noBiasDecay: true,
  labelSmoothing: 0.1,
  mixupAlpha: 0.2,
  mixupOffEpochs: 0,
  distillation: null,
  backboneLrScale: 1,
});

/** The paper's two columns; frozen (resolveRecipe returns a fresh, mutable copy). */
export const recipes: Readonly<Record<RecipeName, Readonly<Recipe>>> = Object.freeze({ baseline, tricks });

function clone(r: Recipe): Recipe {
  return { ...r, milestones: r.milestones.slice(), distillation: r.distillation ? { ...r.distillation } : null };
}

/** Checks one field; `name` is used in messages (e.g. "overrides.lr"). */
function checkField(key: keyof Recipe, v: unknown, name: string): unknown {
  switch (key) {
    case 'name':
      if (typeof v !== 'string' || v.length === 0) fail('ERR_ARGUMENT', 'non-empty string', name, v);
      return v;
    case 'model':
      if (typeof v !== 'string' || !(listModels() as string[]).includes(v)) fail('ERR_ARGUMENT', `one of ${listModels().join(', ')}`, name, v);
      return v;
    case 'epochs':
      return expectInt(name, v, 1, 1e6);
    case 'batchSize':
      return expectInt(name, v, 1, 2 ** 20);
    case 'lr':
      return expectNumber(name, v, 0, 1e3);
    case 'momentum':
      return expectNumber(name, v, 0, 0.999999);
    case 'nesterov':
    case 'zeroGamma':
    case 'noBiasDecay':
      return expectBool(name, v);
    case 'weightDecay':
      return expectNumber(name, v, 0, 1);
    case 'schedule':
      if (v !== 'step' && v !== 'cosine') fail('ERR_ARGUMENT', `'step' or 'cosine'`, name, v);
      return v;
    case 'milestones': {
      if (!Array.isArray(v)) fail('ERR_ARGUMENT', 'array of ascending epochs', name, v);
      const m = v.map((e, i) => expectInt(`${name}[${i}]`, e, 0, 1e6));
      for (let i = 1; i < m.length; i++) if (m[i] <= m[i - 1]) fail('ERR_ARGUMENT', 'strictly ascending epochs', name, v);
      return m;
    }
    case 'decayFactor':
      return expectNumber(name, v, 0, 1);
    case 'warmupEpochs':
      return expectNumber(name, v, 0, 1e6);
    case 'mixupOffEpochs':
      return expectInt(name, v, 0, 1e6);
    case 'precision':
      if (v !== 'fp32' && v !== 'fp16') fail('ERR_ARGUMENT', `'fp32' or 'fp16'`, name, v);
      return v;
    case 'labelSmoothing':
      return expectNumber(name, v, 0, 0.999999);
    case 'mixupAlpha':
      return expectNumber(name, v, 0, 1e6);
    case 'distillation':
      return v === null ? null : resolveDistillation(v, name);
    case 'backboneLrScale':
      return expectNumber(name, v, 0, 1e3);
  }
}

/** Checks the relations between fields. */
function checkRecipe(r: Recipe, name: string): Recipe {
  if (r.warmupEpochs >= r.epochs) fail('ERR_ARGUMENT', `warmupEpochs < epochs (${r.epochs})`, `${name}.warmupEpochs`, r.warmupEpochs);
  if (r.mixupOffEpochs > r.epochs) fail('ERR_ARGUMENT', `mixupOffEpochs ≤ epochs (${r.epochs})`, `${name}.mixupOffEpochs`, r.mixupOffEpochs);
  if (r.schedule === 'step' && r.milestones.length > 0 && r.milestones[0] < r.warmupEpochs) {
    fail('ERR_ARGUMENT', `milestones ≥ warmupEpochs (${r.warmupEpochs})`, `${name}.milestones`, r.milestones);
  }
  return r;
}

/**
 * A recipe by name (or a complete Recipe object) with `overrides` applied; every field can
 * be overridden and every value is checked (unknown keys and bad values are ERR_ARGUMENT).
 * Batch size and learning rate scale together (the linear scaling rule): overriding
 * `batchSize` without `lr` sets lr = recipe.lr × batchSize / recipe.batchSize; an explicit
 * `lr` is kept as given. Returns a fresh object.
 */
export function resolveRecipe(recipe: RecipeName | Recipe, overrides: RecipeOverrides = {}): Recipe {
  let base: Recipe;
  if (typeof recipe === 'string') {
    if (!Object.prototype.hasOwnProperty.call(recipes, recipe)) fail('ERR_ARGUMENT', `one of ${Object.keys(recipes).join(', ')} or a recipe object`, 'recipe', recipe);
    base = clone(recipes[recipe as RecipeName]);
  } else {
    const o = expectObject('recipe', recipe);
    expectKeys('recipe', o, RECIPE_KEYS);
    const checked: Record<string, unknown> = {};
    for (const k of RECIPE_KEYS) {
      if (!(k in o) && !(k in OPTIONAL_FIELDS)) fail('ERR_ARGUMENT', `a value for ${k} (a complete recipe)`, `recipe.${k}`, undefined);
      checked[k] = checkField(k, k in o ? o[k] : OPTIONAL_FIELDS[k], `recipe.${k}`);
    }
    base = checkRecipe(clone(checked as unknown as Recipe), 'recipe');
  }
  const ov = expectObject('overrides', overrides);
  expectKeys('overrides', ov, RECIPE_KEYS);
  const out = clone(base);
  for (const k of RECIPE_KEYS) {
    if (ov[k] === undefined) continue;
    (out as unknown as Record<string, unknown>)[k] = checkField(k, ov[k], `overrides.${k}`);
  }
  if (ov.batchSize !== undefined && ov.lr === undefined) out.lr = (base.lr * out.batchSize) / base.batchSize;
  return checkRecipe(out, 'recipe');
}

/** The recipe's learning-rate schedule for a loader with `stepsPerEpoch` iterations per epoch. */
export function recipeSchedule(recipe: Recipe, stepsPerEpoch: number): Schedule {
  const r = resolveRecipe(recipe);
  return scheduleFromEpochs({
    kind: r.schedule,
    epochs: r.epochs,
    stepsPerEpoch,
    warmupEpochs: r.warmupEpochs,
    baseLr: r.lr,
    ...(r.schedule === 'step' ? { milestones: r.milestones, factor: r.decayFactor } : {}),
  });
}
