/**
 * examples/classify-server.js end to end: a real process serving a checkpoint, images posted
 * as a raw body and as a multipart form (a broken one among them), its answers against
 * load().predict() in this process, every error status, and a clean stop on SIGTERM.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { rmDir, tmpDir, writeJpeg } from './helpers/data-images';
import { bot } from './helpers/lib';

const root = path.join(__dirname, '..', '..');
const dir = tmpDir('bot-server-');
const CLASSES = ['ant', 'bee', 'cat', 'dog', 'eel', 'fox', 'gnu'];

interface Result {
  name: string;
  top?: { label: string; index: number; score: number }[];
  error?: { code: string; message: string };
}

async function start(args: string[]): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [path.join(root, 'examples', 'classify-server.js'), ...args, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line in 30 s: ${out}`)), 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}): ${out}`)));
  });
  return { child, url, output: () => out };
}

test('the example server classifies uploads like load().predict, reports bad images, and stops cleanly', async () => {
  const trainer = new bot.Trainer(bot.createModel('resnet18d', { numClasses: 7, width: 0.125, stem: 'cifar' }), {
    recipe: 'baseline', inputSize: 24, classes: CLASSES, overrides: { batchSize: 2, epochs: 2, milestones: [1], precision: 'fp32' },
  });
  const ckpt = path.join(dir, 'model.safetensors');
  await trainer.save(ckpt);
  trainer.dispose();
  const jpg = fs.readFileSync(await writeJpeg(path.join(dir, 'a.jpg'), 50, 40, 3));
  const png = fs.readFileSync(await writeJpeg(path.join(dir, 'b.jpg'), 30, 60, 4));

  const { child, url, output } = await start(['--checkpoint', ckpt, '--max-bytes', '200000']);
  try {
    const health = await (await fetch(`${url}/health`)).json();
    assert.equal(health, { model: 'resnet18d', classes: CLASSES, inputSize: 24 });

    const raw = await fetch(`${url}/classify?topk=3`, { method: 'POST', body: jpg, headers: { 'content-type': 'image/jpeg' } });
    assert.is(raw.status, 200);
    const one = (await raw.json()) as { results: Result[] };
    assert.is(one.results.length, 1);
    assert.is(one.results[0].top!.length, 3);

    const form = new FormData();
    form.append('image', new Blob([png]), 'b.jpg');
    form.append('image', new Blob([Buffer.from('this is not an image')]), 'broken.jpg');
    form.append('image', new Blob([jpg]), 'a.jpg');
    const multi = await fetch(`${url}/classify`, { method: 'POST', body: form });
    assert.is(multi.status, 200);
    const three = (await multi.json()) as { results: Result[] };
    assert.equal(three.results.map((r) => r.name), ['b.jpg', 'broken.jpg', 'a.jpg']);
    assert.is(three.results[1].error!.code, 'ERR_IMAGE_DECODE');
    assert.is(three.results[0].top!.length, 5, 'top 5 by default');

    // The same answers as the library in this process.
    const clf = await bot.load(ckpt);
    for (const [got, bytes] of [[three.results[0], png], [three.results[2], jpg], [one.results[0], jpg]] as [Result, Buffer][]) {
      const want = await clf.predict(bytes, { topk: got.top!.length });
      assert.equal(got.top!.map((p) => p.label), want.map((p) => p.label));
      got.top!.forEach((p, i) => assert.ok(Math.abs(p.score - want[i].score) < 1e-6, `${p.label}: ${p.score} vs ${want[i].score}`));
    }
    clf.dispose();

    // Every error status.
    const status = async (p: string, init?: RequestInit) => (await fetch(`${url}${p}`, init)).status;
    assert.is(await status('/classify'), 405);
    assert.is(await status('/elsewhere'), 404);
    assert.is(await status('/classify', { method: 'POST', body: new Uint8Array(0) }), 400);
    assert.is(await status('/classify?topk=0', { method: 'POST', body: jpg }), 400);
    assert.is(await status('/classify?topk=8', { method: 'POST', body: jpg }), 400);
    assert.is(await status('/classify', { method: 'POST', body: new Uint8Array(300_000) }), 413);
    assert.is(await status('/health', { method: 'POST', body: jpg }), 405);
  } finally {
    child.kill('SIGTERM');
  }
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.is(code, 0, output());
  assert.match(output(), /classify-server: stopped/);
});

test('the example server refuses bad options and a missing checkpoint', async () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn(process.execPath, [path.join(root, 'examples', 'classify-server.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr!.on('data', (d) => (err += d));
      c.on('exit', (code) => resolve({ code, err }));
    });
  assert.is((await run([])).code, 2);
  assert.is((await run(['--checkpoint', 'x', '--port', 'http'])).code, 2);
  const missing = await run(['--checkpoint', path.join(dir, 'none.safetensors'), '--port', '0']);
  assert.is(missing.code, 1);
  assert.match(missing.err, /ERR_ARGUMENT/);
});

test.after(() => rmDir(dir));

test.run();
