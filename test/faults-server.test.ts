/**
 * examples/classify-server.js under abuse: a body over the limit is answered 413 at once
 * without reading the rest, multipart parts and decoded pixels are limited, an aborted upload
 * is one log line, a full queue answers 503 with Retry-After, and a bounded load of good and
 * bad requests on 127.0.0.1 loses nothing and answers nothing wrongly.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { rmDir, tmpDir, writeJpeg } from './helpers/data-images';
import { bot } from './helpers/lib';

const root = path.join(__dirname, '..', '..');
const dir = tmpDir('faults-server');
let ckpt = '';
let jpg: Buffer;
test.before(async () => {
  const trainer = new bot.Trainer(bot.createModel('resnet18d', { numClasses: 3, width: 0.125, stem: 'cifar' }), {
    recipe: 'baseline', inputSize: 16, classes: ['x', 'y', 'z'], overrides: { batchSize: 2, epochs: 2, milestones: [1], precision: 'fp32' },
  });
  ckpt = path.join(dir, 'model.safetensors');
  await trainer.save(ckpt);
  trainer.dispose();
  jpg = fs.readFileSync(await writeJpeg(path.join(dir, 'a.jpg'), 50, 40, 3));
});
test.after(() => rmDir(dir));

async function start(args: string[]): Promise<{ child: ChildProcess; port: number; log: () => string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [path.join(root, 'examples', 'classify-server.js'), '--checkpoint', ckpt, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line: ${out}${err}`)), 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  const stop = () => new Promise<void>((resolve) => {
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
  });
  return { child, port, log: () => err, stop };
}

/** A raw HTTP request: headers, then `body` chunks written while no answer came; resolves with the status line and what was written. */
function raw(port: number, head: string, chunks: () => Buffer | null): Promise<{ status: number; written: number; text: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let written = 0;
    let answered = false;
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no answer after ${written} bytes`)); }, 20_000); // safety only
    s.on('connect', () => {
      s.write(head);
      const pump = () => {
        while (!answered) {
          const c = chunks();
          if (!c) return;
          written += c.length;
          if (!s.write(c)) return void s.once('drain', pump);
        }
      };
      pump();
    });
    s.on('data', (d) => {
      text += d;
      answered = true;
      const m = /^HTTP\/1\.1 (\d+)/.exec(text);
      if (m && text.includes('\r\n\r\n')) {
        clearTimeout(timer);
        s.destroy();
        resolve({ status: Number(m[1]), written, text });
      }
    });
    s.on('error', () => undefined);
  });
}

test('a body over the limit: 413 at once, announced or not, without reading the rest', async () => {
  const srv = await start(['--max-bytes', '100000']);
  try {
    // 50 MB announced, 64 KB sent: the answer comes without the rest.
    let sent = 0;
    const announced = await raw(srv.port, 'POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 50000000\r\n\r\n', () => (sent++ < 4 ? Buffer.alloc(16384) : null));
    assert.is(announced.status, 413);
    // Chunked, no length: the answer comes once the limit is passed, long before 50 MB.
    const cap = 8 * 100000;
    let n = 0;
    const chunk = Buffer.concat([Buffer.from('4000\r\n'), Buffer.alloc(0x4000), Buffer.from('\r\n')]);
    const chunked = await raw(srv.port, 'POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n', () => ((n += 0x4000) <= cap ? chunk : null));
    assert.is(chunked.status, 413);
    assert.match(chunked.text, 'TOO_LARGE');
  } finally {
    await srv.stop();
  }
});

test('too many parts, too many pixels: 413 with a code', async () => {
  const srv = await start(['--max-parts', '16', '--max-pixels', '10000']);
  try {
    const url = `http://127.0.0.1:${srv.port}/classify`;
    const form = new FormData();
    for (let i = 0; i < 200; i++) form.append('image', new Blob([Buffer.from([i])]), `p${i}.jpg`);
    const parts = await fetch(url, { method: 'POST', body: form });
    assert.is(parts.status, 413);
    assert.is(((await parts.json()) as { error: { code: string } }).error.code, 'TOO_MANY_PARTS');
    const big = fs.readFileSync(await writeJpeg(path.join(dir, 'big.jpg'), 200, 100, 1)); // 20,000 pixels
    const px = await fetch(url, { method: 'POST', body: big });
    assert.is(px.status, 413);
    assert.is(((await px.json()) as { error: { code: string } }).error.code, 'TOO_MANY_PIXELS');
    const ok = await fetch(url, { method: 'POST', body: jpg }); // 2,000 pixels
    assert.is(ok.status, 200);
  } finally {
    await srv.stop();
  }
});

test('an aborted upload is one log line; a full queue answers 503 with Retry-After and queue times are reported', async () => {
  const srv = await start(['--concurrency', '1', '--queue', '1']);
  try {
    // Two uploads in progress fill the door (1 running + 1 waiting).
    const open = [0, 1].map(() => {
      const s = net.connect(srv.port, '127.0.0.1');
      s.write(`POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpg.length}\r\n\r\n`);
      s.write(jpg.subarray(0, 100));
      return s;
    });
    await new Promise((r) => setTimeout(r, 300)); // let the server take them in (a wait, not a timed assertion)
    const busy = await fetch(`http://127.0.0.1:${srv.port}/classify`, { method: 'POST', body: jpg });
    assert.is(busy.status, 503);
    assert.is(busy.headers.get('retry-after'), '1');
    // One upload finishes, the other is aborted.
    const answer = new Promise<string>((resolve) => {
      let t = '';
      open[0].on('data', (d) => {
        t += d;
        if (t.includes('"inferenceMs"')) resolve(t);
      });
    });
    open[0].write(jpg.subarray(100));
    open[1].destroy();
    const text = await answer;
    assert.match(text, /x-queue-ms: [\d.]+/i);
    assert.match(text, /"queueMs":[\d.]+/);
    open[0].destroy();
    for (let i = 0; i < 100 && !/aborted/.test(srv.log()); i++) await new Promise((r) => setTimeout(r, 50));
    const lines = srv.log().trim().split('\n').filter(Boolean);
    assert.is(lines.filter((l) => /upload aborted by the client/.test(l)).length, 1, srv.log());
    assert.not.match(srv.log(), /\n\s+at /, 'no stack');
  } finally {
    await srv.stop();
  }
});

test('bounded load on 127.0.0.1: 160 good and bad requests, each answered once and rightly', async () => {
  const srv = await start(['--concurrency', '2', '--queue', '4', '--max-bytes', '200000', '--max-parts', '8']);
  const url = `http://127.0.0.1:${srv.port}/classify`;
  type Kind = 'good' | 'broken' | 'huge' | 'empty' | 'parts';
  const kinds: Kind[] = ['good', 'broken', 'huge', 'empty', 'parts'];
  const body = (k: Kind): { body: RequestInit['body'] } => {
    if (k === 'good') return { body: jpg };
    if (k === 'broken') return { body: Buffer.from('not an image at all') };
    if (k === 'huge') return { body: new Uint8Array(300_000) };
    if (k === 'empty') return { body: new Uint8Array(0) };
    const form = new FormData();
    for (let i = 0; i < 12; i++) form.append('image', new Blob([jpg]), `f${i}.jpg`);
    return { body: form };
  };
  let expectedTop: string | null = null;
  let busy = 0;
  const one = async (k: Kind): Promise<string> => {
    for (let attempt = 0; attempt < 200; attempt++) {
      const r = await fetch(url, { method: 'POST', ...body(k) });
      const j = (await r.json()) as { results?: { top?: { label: string }[]; error?: { code: string } }[]; error?: { code: string } };
      if (r.status === 503) {
        busy++;
        assert.is(r.headers.get('retry-after'), '1');
        await new Promise((res) => setTimeout(res, 20));
        continue;
      }
      if (k === 'good') {
        assert.is(r.status, 200);
        const top = j.results![0].top!.map((t) => t.label).join(',');
        expectedTop ??= top;
        assert.is(top, expectedTop, 'the same image, the same answer');
      } else if (k === 'broken') {
        assert.is(r.status, 200);
        assert.is(j.results![0].error!.code, 'ERR_IMAGE_DECODE');
      } else if (k === 'huge') {
        assert.equal([r.status, j.error!.code], [413, 'TOO_LARGE']);
      } else if (k === 'empty') {
        assert.equal([r.status, j.error!.code], [400, 'NO_IMAGE']);
      } else {
        assert.equal([r.status, j.error!.code], [413, 'TOO_MANY_PARTS']);
      }
      return k;
    }
    throw new Error(`${k}: still busy after 200 attempts`);
  };
  try {
    const todo = Array.from({ length: 160 }, (_, i) => kinds[i % kinds.length]);
    const answered: string[] = [];
    // 16 clients at a time, each request retried on 503 until answered.
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < todo.length) answered.push(await one(todo[next++]));
    }));
    assert.is(answered.length, 160, 'every request answered once');
    for (const k of kinds) assert.is(answered.filter((a) => a === k).length, 32, k);
    assert.not.match(srv.log(), /\n\s+at /, 'no stack in the log');
  } finally {
    await srv.stop();
  }
});

test.run();
