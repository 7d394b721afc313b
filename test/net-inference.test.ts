/**
 * Inference-only Nets (`training: false`): the same eval-mode logits as a training Net,
 * bit for bit, on every ResNet variant and stem, in a fraction of the memory (activations
 * shared by liveness, no gradients or optimizer state); training calls are refused with
 * ERR_ARGUMENT; parameters can still be read and replaced.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, expectCode, expectCodeAsync } from './helpers/compare';
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
