/**
 * Inference-only Nets (`training: false`): the same eval-mode logits as a training Net,
 * bit for bit, on every ResNet variant and stem, in a fraction of the memory (activations
 * shared by liveness, no gradients or optimizer state); training calls are refused with
 * ERR_ARGUMENT; parameters can still be read and replaced.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, expectClose, expectCode, expectCodeAsync } from './helpers/compare';
import { composedEval } from './helpers/graph';
import { bot } from './helpers/lib';
import type { ModelName } from '../lib/models';

const { Net, createModel } = bot;
const rng = new Rng(11);

const cases = [
  { name: 'resnet18d', size: 32, stem: 'cifar' as const, width: 0.5, batch: 3 },
  { name: 'resnet50d', size: 64, stem: 'imagenet' as const, width: 0.25, batch: 2 },
  { name: 'resnet50', size: 48, stem: 'imagenet' as const, width: 0.25, batch: 2 },
  { name: 'resnet34c', size: 40, stem: 'imagenet' as const, width: 0.25, batch: 2 },
  { name: 'resnet18a', size: 32, stem: 'imagenet' as const, width: 0.25, batch: 1 },
];

for (const c of cases) {
  test(`${c.name} (${c.stem} stem, ${c.size}²): inference logits equal the training Net's eval logits, in less memory`, async () => {
    const model = createModel(c.name as ModelName, { numClasses: 7, stem: c.stem, width: c.width, seed: 4 });
    const train = Net.fromModel(model, { batchSize: c.batch, inputSize: c.size });
    const infer = Net.fromModel(model, { batchSize: c.batch, inputSize: c.size, training: false });
    assert.is(infer.training, false);
    // Move the BN statistics and weights away from their initial values first.
    const x0 = { data: Float32Array.from({ length: c.batch * c.size * c.size * 3 }, () => rng.normal()), shape: [c.batch, c.size, c.size, 3] };
    if (c.batch > 1) {
      await train.trainStep({ images: x0, labels: Int32Array.from({ length: c.batch }, (_, i) => i % 7), lr: 0.1 });
      infer.setParameters(train.getParameters());
    }
    for (let i = 0; i < 2; i++) {
      const x = { data: Float32Array.from({ length: c.batch * c.size * c.size * 3 }, () => rng.normal()), shape: [c.batch, c.size, c.size, 3] };
      const [a, b] = [await infer.forward(x), await train.forward(x)];
      assert.equal(Array.from(a.data), Array.from(b.data), `forward ${i}`);
    }
    assert.ok(infer.memoryBytes() < train.memoryBytes() / 2, `inference ${infer.memoryBytes()} B, training ${train.memoryBytes()} B`);
    train.dispose();
    infer.dispose();
  });
}

// On the CPU a residual block's last conv adds the shortcut and applies the ReLU as it writes
// its output (the BN folded into it): no add runs, and the logits match the graph composed
// from single ops (conv, eval BN, add, ReLU, ...). Batch 4 at 40² takes Winograd on the
// stride-1 3x3 convs of every stage (4 tiles and more).
for (const name of ['resnet18d', 'resnet50d'] as ModelName[]) {
  test(`${name}: the eval forward adds the residual in the conv's output pass, as the composed ops do`, async () => {
    const model = createModel(name, { numClasses: 5, width: 0.25, seed: 6, zeroGamma: false });
    const params = model.initialParameters();
    for (const spec of model.parameters()) {
      const a = params.get(spec.name)!;
      if (spec.kind === 'running_var') for (let i = 0; i < a.length; i++) a[i] = 0.5 + rng.uniform();
      if (spec.kind === 'running_mean') for (let i = 0; i < a.length; i++) a[i] = 0.2 * rng.normal();
    }
    const net = Net.fromModel(model, { batchSize: 4, inputSize: 40, training: false });
    net.setParameters(params);
    const x = { data: Float32Array.from({ length: 4 * 40 * 40 * 3 }, () => rng.normal()), shape: [4, 40, 40, 3] };
    net.setProfiling(true);
    const y = await net.forward(x);
    const ops = net.profile().map((e) => e.op);
    assert.ok(ops.includes('conv2d'), `profiled ops: ${ops}`);
    assert.not.ok(ops.includes('add'), `no add runs on its own: ${ops}`);
    const plain: Record<string, { data: Float32Array; shape: number[] }> = {};
    for (const spec of model.parameters()) plain[spec.name] = { data: params.get(spec.name)!, shape: spec.shape };
    const ref = composedEval(model.graph(), plain, x);
    expectClose(y.data, ref.data, { op: `${name} eval forward`, seed: 6 }, { atol: 1e-4, rtol: 1e-4 });
    net.dispose();
  });
}

test('an inference Net refuses training calls with ERR_ARGUMENT and still takes new parameters', async () => {
  const model = createModel('resnet18d', { numClasses: 3, stem: 'cifar', width: 0.25, seed: 1 });
  const net = Net.fromModel(model, { batchSize: 2, inputSize: 16, training: false });
  const x = { data: Float32Array.from({ length: 2 * 16 * 16 * 3 }, () => rng.normal()), shape: [2, 16, 16, 3] };
  expectCode(() => net.trainStep({ images: x, labels: Int32Array.from([0, 1]), lr: 0.1 }), 'ERR_ARGUMENT', 'trainStep');
  expectCode(() => net.forwardBackward({ images: x, labels: Int32Array.from([0, 1]), lr: 0.1 }), 'ERR_ARGUMENT', 'forwardBackward');
  expectCode(() => net.getGradients(), 'ERR_ARGUMENT', 'getGradients');
  expectCode(() => net.getMomentum(), 'ERR_ARGUMENT', 'getMomentum');
  expectCode(() => net.setMomentum({}), 'ERR_ARGUMENT', 'setMomentum');
  await expectCodeAsync(async () => new Net(model.graph(), { batchSize: 1, height: 8, width: 8, training: 'no' as never }), 'ERR_ARGUMENT');
  const before = await net.forward(x);
  const params = net.getParameters();
  params['fc.bias'].data[0] += 1;
  net.setParameters(params);
  const after = await net.forward(x);
  for (let i = 0; i < 2; i++) {
    assert.ok(Math.abs(after.data[i * 3] - before.data[i * 3] - 1) < 1e-5, 'the new bias shows in the logits');
    assert.is(after.data[i * 3 + 1], before.data[i * 3 + 1]);
  }
  net.dispose();
});

test.run();
