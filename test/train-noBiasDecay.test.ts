/**
 * No bias decay: the exempt list is exactly the biases and BN γ/β the model marks, for a
 * model's specs and a Net's parameter info alike; `enabled: false` (the baseline) exempts
 * nothing; and the Net built with the list decays only the others.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expectCode, Rng } from './helpers/compare';
import { bot } from './helpers/lib';

const { noBiasDecay } = bot.train;

test('resnet50d: every BN γ/β and the fc bias, nothing else', () => {
  const model = bot.createModel('resnet50d');
  const specs = model.parameters();
  const names = noBiasDecay(specs);
  const expected = specs.filter((p) => p.kind === 'bias' || p.kind === 'gamma' || p.kind === 'beta').map((p) => p.name);
  assert.equal(names, expected);
  assert.ok(names.includes('fc.bias'));
  assert.ok(names.includes('bn1.weight') && names.includes('bn1.bias'));
  assert.ok(names.includes('layer4.2.bn3.weight'));
  assert.not.ok(names.some((n) => n.endsWith('running_mean') || n.endsWith('running_var')));
  assert.not.ok(names.includes('fc.weight'));
  assert.not.ok(names.includes('conv1.0.weight'));
  // γ and β of every BN (ResNet-50-D: 2 in the stem + bn1, 3 in each of 16 blocks, 4 shortcuts = 55) and fc.bias.
  assert.is(specs.filter((p) => p.kind === 'gamma').length, 55);
  const bn = specs.filter((p) => p.kind === 'gamma').length;
  assert.is(names.length, 2 * bn + 1);
});

test('enabled: false (the baseline recipe) exempts nothing', () => {
  const specs = bot.createModel('resnet18').parameters();
  assert.equal(noBiasDecay(specs, { enabled: false }), []);
  assert.equal(noBiasDecay(specs, { enabled: true }), noBiasDecay(specs));
});

test("a Net's parameterInfo gives the same list, and the Net applies it", async () => {
  const model = bot.createModel('resnet18', { numClasses: 3, width: 0.125, stem: 'cifar', zeroGamma: false });
  const names = noBiasDecay(model.parameters());
  const net = bot.Net.fromModel(model, { batchSize: 2, inputSize: 8 });
  assert.equal(noBiasDecay(net.parameterInfo()), names);
  net.dispose();
  // One step with and without the list, from the same start: the decayed parameters update
  // identically, the exempt ones (where nonzero, so decay has something to pull) differ.
  const rng = new Rng(3);
  const images = rng.tensor([2, 8, 8, 3]);
  const labels = Int32Array.from([0, 2]);
  const after = async (noDecay: string[]) => {
    const n = new bot.Net(model.graph(), { batchSize: 2, height: 8, width: 8, noDecay, parameters: model.initialParameters() });
    await n.trainStep({ images, labels, lr: 0.1, momentum: 0, nesterov: false, weightDecay: 0.5 });
    const p = n.getParameters();
    n.dispose();
    return p;
  };
  const on = await after(names);
  const off = await after(noBiasDecay(model.parameters(), { enabled: false }));
  for (const p of model.parameters()) {
    if (!p.trainable) continue;
    const same = on[p.name].data.every((v, i) => v === off[p.name].data[i]);
    const init = model.initialParameters().get(p.name)!;
    const nonzero = init.some((v) => v !== 0);
    if (names.includes(p.name) && nonzero) assert.not.ok(same, `${p.name} is exempt: its update must differ`);
    if (!names.includes(p.name)) assert.ok(same, `${p.name} is decayed in both`);
  }
});

test('argument errors, and a model marking that disagrees with the kinds', () => {
  expectCode(() => noBiasDecay({} as never), 'ERR_ARGUMENT', 'not an array');
  expectCode(() => noBiasDecay([{ name: 'x' }] as never), 'ERR_ARGUMENT', 'incomplete spec');
  expectCode(() => noBiasDecay([], { enable: true } as never), 'ERR_ARGUMENT', 'unknown key');
  expectCode(() => noBiasDecay([], { enabled: 1 } as never), 'ERR_ARGUMENT', 'non-boolean');
  const bad = [{ name: 'fc.bias', shape: [3], kind: 'bias' as const, trainable: true, decay: true }];
  expectCode(() => noBiasDecay(bad), 'ERR_ARGUMENT', 'a decayed bias');
});

test.run();
