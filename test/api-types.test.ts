/**
 * The TypeScript API: ModelName refuses a misspelt model name at compile time (createModel,
 * Trainer, load) while JavaScript callers still get ERR_ARGUMENT; `using` disposes a
 * Classifier, Net and Trainer; predict(..., { settle: true }) gives `{ error }` for the images
 * that fail; callbacks count epochs from 1, as the CLI does.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expectCode, expectCodeAsync } from './helpers/compare';
import { rmDir, tmpDir, writeJpeg } from './helpers/data-images';
import { bot } from './helpers/lib';
import type { ModelName } from '../lib/models';

const root = path.join(__dirname, '..', '..');
const dir = tmpDir('bot-api-types-');
test.after(() => rmDir(dir));

/** Type-checks `code` (a module importing 'bagoftricks') under strict; returns tsc's output and status. */
function typecheck(code: string): { status: number | null; out: string } {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-tsc-'));
  try {
    fs.writeFileSync(path.join(d, 'main.ts'), code);
    fs.writeFileSync(path.join(d, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, target: 'ES2022', module: 'commonjs', lib: ['ES2022'], skipLibCheck: true,
        types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')], baseUrl: d,
        paths: { bagoftricks: [path.join(root, 'dist', 'index.d.ts')] },
      },
      files: [path.join(d, 'main.ts')],
    }));
    const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(d, 'tsconfig.json')], { encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, out: r.stdout + r.stderr };
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
}

test('a misspelt model name does not compile; ModelName, using and settle do', () => {
  const bad = typecheck(`import { createModel, Trainer, load } from 'bagoftricks';
createModel('resnet50e');
new Trainer('resnet50e', { inputSize: 32 });
void load('x.safetensors', { model: 'resnet50e' });
void load('x.safetensors', { model: { name: 'resnet50e', width: 0.5 } });
export {};
`);
  assert.is(bad.status, 2, bad.out);
  assert.is((bad.out.match(/error TS\d+: .*"resnet50e"/g) ?? []).length, 4, bad.out);
  const good = typecheck(`import { createModel, Net, Trainer, load, listModels } from 'bagoftricks';
import type { ModelName, Settled } from 'bagoftricks';
const name: ModelName = listModels()[0];
export async function main(): Promise<void> {
  using net = Net.fromModel(createModel(name, { numClasses: 3 }), { batchSize: 1, inputSize: 32 });
  using trainer = new Trainer('resnet18d', { inputSize: 32, numClasses: 3 });
  using model = await load('x.safetensors', { model: 'resnet18d' });
  const all: Settled[] = await model.predict(['a.jpg', 'b.jpg'], { settle: true });
  for (const r of all) if ('error' in r) console.log(r.error.code); else console.log(r[0].label);
  const plain = await model.predict(['a.jpg']);
  console.log(plain[0][0].score, net.disposed, trainer.epoch);
}
`);
  assert.is(good.status, 0, good.out);
});

test('JavaScript callers still get ERR_ARGUMENT for an unknown name', async () => {
  expectCode(() => bot.createModel('resnet50e' as ModelName), 'ERR_ARGUMENT');
  expectCode(() => new bot.Trainer('resnet50e' as ModelName, { inputSize: 32 }), 'ERR_ARGUMENT');
});

const tiny = { inputSize: 16, stem: 'cifar' as const, width: 0.125, classes: ['a', 'b', 'c'] };

test('Symbol.dispose frees a Net, a Trainer and a Classifier', async () => {
  assert.is(typeof Symbol.dispose, 'symbol');
  assert.is(Symbol.dispose, Symbol.for('nodejs.dispose'), 'the same key as Node\'s own');
  const net = bot.Net.fromModel(bot.createModel('resnet18d', { numClasses: 3, width: 0.125, stem: 'cifar' }), { batchSize: 1, inputSize: 16 });
  net[Symbol.dispose]();
  assert.ok(net.disposed);
  const trainer = new bot.Trainer('resnet18d', tiny);
  const file = path.join(dir, 'tiny.safetensors');
  await trainer.save(file);
  trainer[Symbol.dispose]();
  assert.ok(trainer.net.disposed);
  const model = await bot.load(file);
  model[Symbol.dispose]();
  await expectCodeAsync(() => model.predict({ data: new Uint8Array(16 * 16 * 3), width: 16, height: 16, channels: 3 }), 'ERR_DISPOSED');
});

test('predict settle: per-image results, with { error } for the images that fail', async () => {
  const trainer = new bot.Trainer('resnet18d', tiny);
  const file = path.join(dir, 'settle.safetensors');
  await trainer.save(file);
  trainer.dispose();
  const model = await bot.load(file);
  try {
    const good = await writeJpeg(path.join(dir, 'good.jpg'), 20, 20, 1);
    const broken = path.join(dir, 'broken.jpg');
    fs.writeFileSync(broken, 'not an image at all');
    const bytes = new Uint8Array([1, 2, 3, 4]);
    await expectCodeAsync(() => model.predict([good, broken]), 'ERR_IMAGE_DECODE');
    const r = await model.predict([good, broken, bytes, good], { settle: true, topk: 2 });
    assert.is(r.length, 4);
    for (const i of [0, 3]) {
      const p = r[i];
      assert.ok(Array.isArray(p) && p.length === 2 && typeof p[0].label === 'string', `image ${i}: ${JSON.stringify(p)}`);
    }
    for (const i of [1, 2]) {
      const e = r[i];
      assert.ok(!Array.isArray(e) && e.error instanceof bot.BagOfTricksError, `image ${i}`);
      if (!Array.isArray(e)) assert.is(e.error.code, 'ERR_IMAGE_DECODE');
    }
    const one = await model.predict(broken, { settle: true });
    assert.ok(!Array.isArray(one) && one.error.code === 'ERR_IMAGE_DECODE');
    assert.ok(!Array.isArray(one) && one.error.message.includes(broken), 'the error names the file');
    await expectCodeAsync(() => model.predict([good], { settle: 'yes' as unknown as true }), 'ERR_ARGUMENT');
  } finally {
    model.dispose();
  }
});

test('callbacks count epochs from 1, as the CLI events do; Trainer.epoch is that number after it', async () => {
  const trainer = new bot.Trainer('resnet18d', { ...tiny, overrides: { epochs: 2, warmupEpochs: 0, batchSize: 4, precision: 'fp32', mixupAlpha: 0 } });
  try {
    const batch = () => ({ images: { data: new Float32Array(4 * 16 * 16 * 3).fill(0.1), shape: [4, 16, 16, 3] }, labels: new Int32Array([0, 1, 2, 0]) });
    const source = { length: 2, epoch: async function* () { yield batch(); yield batch(); } };
    const begins: number[] = [];
    const ends: number[][] = [];
    const batchEpochs: number[] = [];
    const r = await trainer.fit(source, {
      callbacks: {
        onEpochBegin: (e) => void begins.push(e),
        onBatchEnd: (_s, l) => void batchEpochs.push(l.epoch),
        onEpochEnd: (e, l) => void ends.push([e, l.epoch, trainer.epoch]),
      },
    });
    assert.equal(begins, [1, 2]);
    assert.equal(batchEpochs, [1, 1, 2, 2]);
    assert.equal(ends, [[1, 1, 1], [2, 2, 2]]);
    assert.equal(r.history.map((h) => h.epoch), [1, 2]);
  } finally {
    trainer.dispose();
  }
});

test.run();
