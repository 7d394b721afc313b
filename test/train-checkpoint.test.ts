/**
 * Checkpoints: a Net's parameters, momentum and the trainer's state (loss scaler, RNG,
 * schedule position) round-trip through a file and resume exactly; FP16 saving; a timm-like
 * file with I64 counters loads; atomic replacement (no temp files left, a failed save keeps
 * the old file); and a child process killed with SIGKILL at random moments while saving
 * leaves the old or the new complete file, never a partial one.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expectCodeAsync, Rng } from './helpers/compare';
import { bot } from './helpers/lib';

const tr = bot.train;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-checkpoint-'));

function smallModel() {
  return bot.createModel('resnet18d', { numClasses: 3, width: 0.125, stem: 'cifar', seed: 2 });
}

test('a Net, its momentum and the trainer state round-trip and resume the run exactly', async () => {
  const model = smallModel();
  const rng = new Rng(6);
  const batches = Array.from({ length: 4 }, () => ({ images: rng.tensor([2, 8, 8, 3]), labels: Int32Array.from([rng.int(0, 2), rng.int(0, 2)]) }));
  const schedule = tr.scheduleFromEpochs({ kind: 'cosine', epochs: 2, stepsPerEpoch: 2, warmupEpochs: 1, baseLr: 0.1 });
  const a = bot.Net.fromModel(model, { batchSize: 2, inputSize: 8 });
  const scaler = new tr.LossScaler({ growthInterval: 3 });
  const mixRng = new tr.TrainRng(5);
  for (let step = 0; step < 2; step++) {
    await a.trainStep({ ...batches[step], lr: schedule(step) });
    scaler.update(true);
    tr.sampleMixup(mixRng, 2, 0.2);
  }
  const file = path.join(dir, 'run.safetensors');
  await tr.saveCheckpoint(file, {
    tensors: tr.withMomentum(a.getParameters(), a.getMomentum()),
    metadata: {
      model: JSON.stringify({ name: model.name, config: model.config }), classes: JSON.stringify(['a', 'b', 'c']),
      lossScaler: JSON.stringify(scaler.state()), step: '2', epoch: '1', rng: JSON.stringify(mixRng.state()),
      recipe: JSON.stringify(tr.resolveRecipe('tricks')),
    },
  });
  const loaded = await tr.loadCheckpoint(file);
  const { parameters, momentum } = tr.splitCheckpoint(loaded.tensors);
  assert.equal(parameters, a.getParameters());
  assert.equal(momentum, a.getMomentum());
  const meta = loaded.metadata;
  assert.equal(Object.keys(meta).sort(), ['classes', 'epoch', 'format', 'lossScaler', 'model', 'recipe', 'rng', 'step']);
  assert.is(meta.format, 'pt');
  assert.equal(JSON.parse(meta.classes), ['a', 'b', 'c']);
  assert.equal(JSON.parse(meta.model), JSON.parse(JSON.stringify({ name: model.name, config: model.config })));
  assert.equal(JSON.parse(meta.recipe), tr.resolveRecipe('tricks'));

  // Resume into a fresh Net and fresh trainer pieces; both runs take the same next steps.
  const b = new bot.Net(model.graph(), { batchSize: 2, height: 8, width: 8, noDecay: tr.noBiasDecay(model.parameters()) });
  b.setParameters(parameters);
  b.setMomentum(momentum);
  const scaler2 = tr.LossScaler.fromState(JSON.parse(meta.lossScaler));
  const mixRng2 = tr.TrainRng.fromState(JSON.parse(meta.rng));
  for (let step = Number(meta.step); step < 4; step++) {
    const ra = await a.trainStep({ ...batches[step], lr: schedule(step) });
    const rb = await b.trainStep({ ...batches[step], lr: schedule(step) });
    assert.is(rb.loss, ra.loss, `step ${step} loss`);
    assert.equal(scaler2.update(true), scaler.update(true));
    assert.equal(tr.sampleMixup(mixRng2, 2, 0.2), tr.sampleMixup(mixRng, 2, 0.2));
  }
  assert.equal(b.getParameters(), a.getParameters());
  a.dispose();
  b.dispose();
});

test('F16 checkpoints: half the bytes, values rounded to FP16', async () => {
  const rng = new Rng(3);
  const t = { w: { data: rng.array(4096), shape: [64, 64] } };
  const f32 = path.join(dir, 'f32.safetensors');
  const f16 = path.join(dir, 'f16.safetensors');
  await tr.saveCheckpoint(f32, { tensors: t });
  await tr.saveCheckpoint(f16, { tensors: t }, { dtype: 'F16' });
  const s32 = fs.statSync(f32).size;
  const s16 = fs.statSync(f16).size;
  assert.ok(Math.abs(s16 - (s32 - 8192)) < 16, `${s16} vs ${s32}`);
  const back = await tr.loadCheckpoint(f16);
  assert.is(back.dtypes.w, 'F16');
  assert.equal(Array.from(back.tensors.w.data), Array.from(bot.ops.fromFloat16(bot.ops.toFloat16(t.w.data))));
});

test('a timm-style file (I64 num_batches_tracked, its own metadata) loads', async () => {
  const file = path.join(dir, 'timm.safetensors');
  fs.writeFileSync(file, tr.encodeSafetensors(
    {
      'bn1.weight': { data: Float32Array.from([1, 1]), shape: [2] },
      'bn1.num_batches_tracked': { data: BigInt64Array.from([1234n]), shape: [] },
    },
    { format: 'pt', producer: 'timm 1.0', count: '12' },
  ));
  const c = await tr.loadCheckpoint(file);
  assert.equal(Object.keys(c.tensors), ['bn1.weight']);
  assert.equal(c.int64['bn1.num_batches_tracked'], { data: BigInt64Array.from([1234n]), shape: [] });
  assert.equal(c.metadata, { format: 'pt', producer: 'timm 1.0', count: '12' });
  const skipped = await tr.loadCheckpoint(file, { int64: 'skip' });
  assert.equal(skipped.int64, {});
});

test('atomic replacement: no temp files left; a failed save keeps the old file', async () => {
  const sub = fs.mkdtempSync(path.join(dir, 'atomic-'));
  const file = path.join(sub, 'ck.safetensors');
  const v = (x: number) => ({ tensors: { a: { data: new Float32Array(10).fill(x), shape: [10] } }, metadata: { version: String(x) } });
  for (let i = 0; i < 5; i++) await tr.saveCheckpoint(file, v(i));
  assert.equal(fs.readdirSync(sub), ['ck.safetensors']);
  assert.is((await tr.loadCheckpoint(file)).metadata.version, '4');
  // The caller may set format.
  await tr.saveCheckpoint(file, { ...v(5), metadata: { version: '5', format: 'bagoftricks-1' } });
  assert.equal((await tr.loadCheckpoint(file)).metadata, { version: '5', format: 'bagoftricks-1' });
  const before = fs.readFileSync(file);
  // Refused before writing: NaN values, non-string metadata, bad tensors, unknown keys.
  await expectCodeAsync(() => tr.saveCheckpoint(file, { tensors: { a: { data: Float32Array.from([NaN]), shape: [1] } } }), 'ERR_ARGUMENT', 'NaN');
  await expectCodeAsync(() => tr.saveCheckpoint(file, { tensors: {}, metadata: { n: 10 as never } }), 'ERR_ARGUMENT', 'non-string metadata');
  await expectCodeAsync(() => tr.saveCheckpoint(file, { tensors: {}, metadata: { o: { a: 1 } as never } }), 'ERR_ARGUMENT', 'object metadata');
  await expectCodeAsync(() => tr.saveCheckpoint(file, { tensors: { a: { data: new Float32Array(2), shape: [3] } } }), 'ERR_SHAPE', 'bad tensor');
  await expectCodeAsync(() => tr.saveCheckpoint(file, { tensors: {}, extra: 1 } as never), 'ERR_ARGUMENT', 'unknown key');
  // A save that fails in the file system (the folder is gone) is ERR_IO naming the file and
  // the system's code (ENOENT), and touches nothing.
  const missing = path.join(sub, 'missing', 'ck.safetensors');
  await expectCodeAsync(() => tr.saveCheckpoint(missing, v(9)), 'ERR_IO', 'missing folder');
  const err = await tr.saveCheckpoint(missing, v(9)).then(() => null, (e: { errno?: string; message: string }) => e);
  assert.is(err?.errno, 'ENOENT');
  assert.match(String(err?.message), missing);
  assert.ok(fs.readFileSync(file).equals(before));
  assert.equal(fs.readdirSync(sub), ['ck.safetensors']);
  // NaN is allowed on request.
  await tr.saveCheckpoint(file, { tensors: { a: { data: Float32Array.from([NaN]), shape: [1] } } }, { allowNonFinite: true });
  assert.ok(Number.isNaN((await tr.loadCheckpoint(file)).tensors.a.data[0]));
  await expectCodeAsync(() => tr.loadCheckpoint(path.join(sub, 'none.safetensors')), 'ERR_IO', 'missing file (ENOENT)');
});

/** Child: saves versions start, start + 1, … of an 8 MB checkpoint forever, printing each version once saved. */
const CHILD = `
const { saveCheckpoint } = require(process.argv[1]);
const file = process.argv[2];
let v = Number(process.argv[3]);
const n = 2 << 20;
const data = new Float32Array(n);
(async () => {
  for (;;) {
    data.fill(v);
    // allowNonFinite skips the scan for NaN, so nearly all the time is spent writing the file.
    await saveCheckpoint(file, { tensors: { big: { data, shape: [n] }, small: { data: new Float32Array(7).fill(v), shape: [7] } }, metadata: { version: String(v) } }, { allowNonFinite: true });
    process.stdout.write(v + '\\n');
    v++;
  }
})();
`;

test('SIGKILL at random moments while saving leaves the old or the new complete file', async () => {
  const sub = fs.mkdtempSync(path.join(dir, 'kill-'));
  const file = path.join(sub, 'ck.safetensors');
  const trainModule = path.resolve(__dirname, '../../dist/train');
  await tr.saveCheckpoint(file, { tensors: { small: { data: new Float32Array(7), shape: [7] } }, metadata: { version: '0' } });
  const rng = new Rng(31337);
  let version = 0;
  let midWrite = 0;
  const kills = 10;
  for (let k = 0; k < kills; k++) {
    const child = spawn(process.execPath, ['-e', CHILD, trainModule, file, String(version + 1)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    // Wait until the child has saved once (it is then saving back to back, ~50 ms a save
    // here), then kill it after a random delay: anywhere in the next save or two.
    const firstSave = new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
    await Promise.race([firstSave, exited]);
    await new Promise((r) => setTimeout(r, rng.int(0, 100)));
    child.kill('SIGKILL');
    await exited;
    assert.is(err, '', `child ${k} stderr`);
    const printed = out.split('\n').filter(Boolean).map(Number);
    const lastPrinted = printed.length ? printed[printed.length - 1] : version;
    // The file is complete and valid, with one version throughout.
    const c = await tr.loadCheckpoint(file);
    const v = Number(c.metadata.version);
    assert.ok(v === lastPrinted || v === lastPrinted + 1, `kill ${k}: file has version ${v}, last saved ${lastPrinted}`);
    assert.ok(c.tensors.small.data.every((x) => x === v));
    if (c.tensors.big) assert.ok(c.tensors.big.data.every((x) => x === v), `kill ${k}: big tensor of version ${v} is complete`);
    const temps = fs.readdirSync(sub).filter((f) => f !== 'ck.safetensors');
    if (temps.length) midWrite++;
    for (const t of temps) fs.unlinkSync(path.join(sub, t));
    version = v;
  }
  // Most kills land inside a save (the child does nothing else); at least some must have.
  assert.ok(midWrite >= 3, `only ${midWrite} of ${kills} kills landed while a temp file existed`);
  assert.ok(version >= kills, `the children saved ${version} versions`);
});

test('cleanup', () => {
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
