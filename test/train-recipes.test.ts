/**
 * Recipes: the paper's two columns field by field, overrides (every field, batch size and
 * learning rate scaling together), validation of overrides, and the schedules they build.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expectCode } from './helpers/compare';
import { bot } from './helpers/lib';

const { recipes, resolveRecipe, recipeSchedule } = bot.train;

test('baseline: ResNet-50 (A), batch 256, FP32, step 30/60/90 of 120, lr 0.1, NAG 0.9, wd 1e-4 on everything', () => {
  assert.equal({ ...recipes.baseline }, {
    name: 'baseline', model: 'resnet50a', epochs: 120, batchSize: 256, lr: 0.1, momentum: 0.9, nesterov: true,
    weightDecay: 1e-4, schedule: 'step', milestones: [30, 60, 90], decayFactor: 0.1, warmupEpochs: 0, precision: 'fp32',
    zeroGamma: false, noBiasDecay: false, labelSmoothing: 0, mixupAlpha: 0, mixupOffEpochs: 0, distillation: null,
    backboneLrScale: 1,
  });
});

test('tricks: ResNet-50-D, batch 1024, lr 0.4, FP16, warmup 5, zero-γ, no bias decay, cosine, ε 0.1, mixup 0.2 for 200 epochs', () => {
  assert.equal({ ...recipes.tricks }, {
    name: 'tricks', model: 'resnet50d', epochs: 200, batchSize: 1024, lr: 0.4, momentum: 0.9, nesterov: true,
    weightDecay: 1e-4, schedule: 'cosine', milestones: [], decayFactor: 0.1, warmupEpochs: 5, precision: 'fp16',
    zeroGamma: true, noBiasDecay: true, labelSmoothing: 0.1, mixupAlpha: 0.2, mixupOffEpochs: 0, distillation: null,
    backboneLrScale: 1,
  });
  // Every model name exists in the zoo.
  assert.ok(bot.listModels().includes(recipes.tricks.model) && bot.listModels().includes(recipes.baseline.model));
});

test('the recipes are frozen; resolveRecipe returns fresh copies', () => {
  assert.ok(Object.isFrozen(recipes.baseline) && Object.isFrozen(recipes.baseline.milestones));
  assert.throws(() => {
    (recipes.baseline as { lr: number }).lr = 1;
  });
  const r = resolveRecipe('baseline');
  r.milestones.push(100);
  assert.equal(recipes.baseline.milestones, [30, 60, 90]);
  assert.equal(resolveRecipe('baseline'), { ...recipes.baseline, milestones: [30, 60, 90] });
});

test('batch size and lr scale together unless lr is given', () => {
  assert.is(resolveRecipe('tricks', { batchSize: 256 }).lr, 0.1);
  assert.is(resolveRecipe('tricks', { batchSize: 2048 }).lr, 0.8);
  assert.is(resolveRecipe('baseline', { batchSize: 32 }).lr, 0.0125);
  assert.is(resolveRecipe('tricks', { batchSize: 256, lr: 0.3 }).lr, 0.3);
  assert.is(resolveRecipe('tricks', { lr: 0.3 }).batchSize, 1024);
  // A custom recipe object scales from its own pair.
  const custom = { ...resolveRecipe('baseline'), name: 'mine', batchSize: 100, lr: 0.05 };
  assert.is(resolveRecipe(custom, { batchSize: 400 }).lr, 0.2);
});

test('every field can be overridden', () => {
  const r = resolveRecipe('baseline', {
    name: 'b2', model: 'resnet50', epochs: 90, momentum: 0.8, nesterov: false, weightDecay: 5e-5, schedule: 'cosine',
    milestones: [10], decayFactor: 0.2, warmupEpochs: 2, precision: 'fp16', zeroGamma: true, noBiasDecay: true,
    labelSmoothing: 0.2, mixupAlpha: 1, mixupOffEpochs: 5, distillation: { teacher: 'resnet152d.safetensors' }, backboneLrScale: 0.1,
  });
  assert.equal(r, {
    name: 'b2', model: 'resnet50', epochs: 90, batchSize: 256, lr: 0.1, momentum: 0.8, nesterov: false, weightDecay: 5e-5,
    schedule: 'cosine', milestones: [10], decayFactor: 0.2, warmupEpochs: 2, precision: 'fp16', zeroGamma: true,
    noBiasDecay: true, labelSmoothing: 0.2, mixupAlpha: 1, mixupOffEpochs: 5,
    distillation: { teacher: 'resnet152d.safetensors', temperature: 20, weight: 1 }, backboneLrScale: 0.1,
  });
  // A complete recipe written before backboneLrScale existed still resolves (to 1).
  const { backboneLrScale: _, ...older } = r;
  assert.is(resolveRecipe(older as never).backboneLrScale, 1);
  assert.is(resolveRecipe('tricks', { distillation: { teacher: 't', temperature: 10 } }).distillation!.temperature, 10);
  assert.is(resolveRecipe(r, { distillation: null }).distillation, null);
});

test('overrides are validated (unknown keys, types, ranges, relations): ERR_ARGUMENT', () => {
  const bad: [object, string][] = [
    [{ batchsize: 512 }, 'unknown key'],
    [{ model: 'resnet51' }, 'unknown model'],
    [{ epochs: 0 }, 'epochs 0'],
    [{ batchSize: 1.5 }, 'fractional batch'],
    [{ lr: -0.1 }, 'negative lr'],
    [{ lr: NaN }, 'NaN lr'],
    [{ momentum: 1 }, 'momentum 1'],
    [{ nesterov: 'yes' }, 'string boolean'],
    [{ schedule: 'poly' }, 'unknown schedule'],
    [{ milestones: [60, 30] }, 'descending milestones'],
    [{ milestones: 30 }, 'milestones not an array'],
    [{ precision: 'bf16' }, 'unknown precision'],
    [{ backboneLrScale: -0.5 }, 'negative backbone scale'],
    [{ labelSmoothing: 1 }, 'ε = 1'],
    [{ mixupAlpha: -1 }, 'negative α'],
    [{ warmupEpochs: 120 }, 'warmup ≥ epochs'],
    [{ warmupEpochs: 40 }, 'milestone inside the warmup'],
    [{ mixupOffEpochs: 121 }, 'offEpochs > epochs'],
    [{ distillation: { temperature: 20 } }, 'distillation without a teacher'],
    [{ distillation: { teacher: 't', T: 20 } }, 'distillation unknown key'],
  ];
  for (const [o, what] of bad) expectCode(() => resolveRecipe('baseline', o as never), 'ERR_ARGUMENT', what);
  expectCode(() => resolveRecipe('fast' as never), 'ERR_ARGUMENT', 'unknown recipe');
  const { lr: _lr, ...incomplete } = resolveRecipe('baseline');
  expectCode(() => resolveRecipe(incomplete as never), 'ERR_ARGUMENT', 'incomplete recipe object');
  expectCode(() => resolveRecipe('baseline', null as never), 'ERR_ARGUMENT', 'null overrides');
});

test('recipeSchedule builds the paper schedules from the recipe', () => {
  const b = recipeSchedule(recipes.baseline, 100);
  assert.equal([0, 2999, 3000, 6000, 9000, 11999].map(b), [0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1 * 0.1, 0.1 * 0.1 * 0.1 * 0.1, 0.1 * 0.1 * 0.1 * 0.1]);
  const t = recipeSchedule(recipes.tricks, 10);
  assert.is(t(0), 0);
  assert.is(t(25), 0.2); // halfway through 5 warmup epochs of 10 steps
  assert.is(t(50), 0.4);
  assert.ok(Math.abs(t(50 + 975) - 0.2) < 1e-15); // halfway through the 195 cosine epochs
  assert.is(t(2000), 0);
  // Switching the baseline to cosine ignores its milestones.
  const c = recipeSchedule(resolveRecipe('baseline', { schedule: 'cosine' }), 1);
  assert.equal([0, 60, 120].map((s) => Math.round(c(s) * 1e12) / 1e12), [0.1, 0.05, 0]);
});

test.run();
