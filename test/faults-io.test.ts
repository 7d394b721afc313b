/**
 * File-system and file-format faults: ENOSPC, EACCES, EROFS, EISDIR, ENOENT (and ENOTDIR)
 * become one coded line (ERR_IO) naming the path and the operation, with the earlier
 * checkpoints intact; ERR_CHECKPOINT_FORMAT names the file and its role; broken metadata
 * JSON is a coded error; load() refuses folders and FIFOs at once; metadata that contradicts
 * the tensors is refused.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bot } from './helpers/lib';

import { cli, folder, TINY, tempDirs } from './helpers/faults';

const tmp = tempDirs(test, 'faults-io');

let data = '';
let run = '';
let ckpt = '';
test.before(async () => {
  data = await folder(path.join(tmp('data'), 'data'));
  run = path.join(tmp('run'), 'run');
  const r = cli(['train', '--data', data, ...TINY, '--epochs', '1', '--out', run]);
  assert.is(r.status, 0, r.stderr);
  ckpt = path.join(run, 'last.safetensors');
});

/** A preload that makes writes of files whose name contains FAULT_MATCH fail with FAULT_ERRNO (at open, or at write for ENOSPC). */
const PRELOAD = `
const fs = require('fs');
const open = fs.promises.open;
const errno = process.env.FAULT_ERRNO, match = process.env.FAULT_MATCH;
const fail = (p, syscall) => Object.assign(new Error(errno + ': injected, ' + syscall + " '" + p + "'"), { code: errno, syscall, path: String(p) });
fs.promises.open = async function (p, flags, ...rest) {
  const writing = typeof flags === 'string' && /[wa]/.test(flags);
  if (writing && String(p).includes(match)) {
    if (errno !== 'ENOSPC') throw fail(p, 'open');
    const fh = await open.call(this, p, flags, ...rest);
    fh.write = async () => { throw fail(p, 'write'); };
    return fh;
  }
  return open.call(this, p, flags, ...rest);
};
`;

test('ENOSPC, EACCES, EROFS, EISDIR, ENOENT while saving: one ERR_IO line naming the file; the checkpoints of before are intact', () => {
  const preload = path.join(tmp('preload'), 'fault.js');
  fs.writeFileSync(preload, PRELOAD);
  for (const errno of ['ENOSPC', 'EACCES', 'EROFS', 'EISDIR', 'ENOENT']) {
    const dir = path.join(tmp(errno), 'run');
    fs.cpSync(run, dir, { recursive: true });
    const last = path.join(dir, 'last.safetensors');
    const before = fs.readFileSync(last);
    const r = cli(['train', '--resume', last, '--epochs', '2'], { FAULT_ERRNO: errno, FAULT_MATCH: '.last.safetensors.tmp' }, ['--require', preload]);
    assert.is(r.status, 1, `${errno}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n').filter((l) => !/^epoch \d/.test(l));
    assert.equal(lines.filter((l) => l.startsWith('bagoftricks:')), [lines[lines.length - 1]], `${errno}: one error line`);
    assert.match(lines[lines.length - 1], `bagoftricks: ERR_IO: cannot write ${last}: ${errno}`);
    assert.not.match(r.stderr, /\n\s+at /, `${errno}: no stack`);
    assert.ok(fs.readFileSync(last).equals(before), `${errno}: last.safetensors untouched`);
    assert.equal(fs.readdirSync(dir).filter((n) => n.includes('.tmp-')), [], `${errno}: no temporary file left`);
  }
});

test('real faults: a folder where best.safetensors goes (EISDIR), --out under a file (ENOTDIR)', () => {
  const dir = path.join(tmp('eisdir'), 'run');
  fs.mkdirSync(path.join(dir, 'best.safetensors'), { recursive: true });
  const r = cli(['train', '--data', data, ...TINY, '--epochs', '1', '--out', dir]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `bagoftricks: ERR_IO: cannot write ${path.join(dir, 'best.safetensors')}: EISDIR`);
  assert.not.match(r.stderr, /\n\s+at /);
  const file = path.join(tmp('notdir'), 'plain.txt');
  fs.writeFileSync(file, 'x');
  const n = cli(['train', '--data', data, ...TINY, '--epochs', '1', '--out', path.join(file, 'run')]);
  assert.is(n.status, 1, n.stderr);
  assert.match(n.stderr, `bagoftricks: ERR_IO: cannot create the folder ${path.join(file, 'run')}: ENOTDIR`);
});

test('ERR_CHECKPOINT_FORMAT names the file and its role (--resume, --teacher, --pretrained, --checkpoint)', () => {
  const bad = path.join(tmp('trunc'), 'cut.safetensors');
  const bytes = fs.readFileSync(ckpt);
  fs.writeFileSync(bad, bytes.subarray(0, bytes.length - 100));
  const cases: [string, string[]][] = [
    ['--resume', ['train', '--resume', bad]],
    ['--teacher', ['train', '--data', data, ...TINY, '--epochs', '1', '--teacher', bad, '--out', path.join(tmp('t'), 'run')]],
    ['--pretrained', ['train', '--data', data, ...TINY, '--epochs', '1', '--pretrained', bad, '--out', path.join(tmp('p'), 'run')]],
    ['--checkpoint', ['eval', '--checkpoint', bad, '--data', data]],
  ];
  for (const [role, args] of cases) {
    const r = cli(args);
    assert.is(r.status, 1, `${role}: ${r.stderr}`);
    assert.match(r.stderr, `bagoftricks: ERR_CHECKPOINT_FORMAT: ${role} ${bad}: `, role);
    assert.not.match(r.stderr, /\n\s+at /, role);
  }
});

/** A copy of the run's checkpoint with metadata[key] replaced. */
async function withMetadata(key: string, value: (old: string) => string): Promise<string> {
  const { tensors, metadata } = await bot.train.loadCheckpoint(ckpt);
  const file = path.join(tmp(`meta-${key}`), 'changed.safetensors');
  await bot.train.saveCheckpoint(file, { tensors, metadata: { ...metadata, [key]: value(metadata[key]) } });
  return file;
}

test('broken "model" metadata JSON: a coded error, not a SyntaxError', async () => {
  const file = await withMetadata('model', (m) => m.slice(0, -3));
  const r = cli(['train', '--resume', file]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `bagoftricks: ERR_CHECKPOINT_FORMAT: --resume ${file}: metadata "model" is not valid JSON`);
  assert.not.match(r.stderr, 'SyntaxError');
  const e = await bot.load(file).then(() => null, (x) => x);
  assert.is(e?.code, 'ERR_CHECKPOINT_FORMAT');
  const p = cli(['predict', '--checkpoint', file, path.join(data, 'a', '0.jpg')]);
  assert.is(p.status, 1, p.stderr);
  assert.match(p.stderr, 'bagoftricks: ERR_CHECKPOINT_FORMAT: --checkpoint');
});

test('load() refuses a folder and a FIFO at once with ERR_ARGUMENT', async () => {
  const dir = tmp('notfile');
  const e = await bot.load(dir).then(() => null, (x) => x);
  assert.is(e?.code, 'ERR_ARGUMENT');
  assert.match(e.message, 'a directory');
  const fifo = path.join(dir, 'pipe.safetensors');
  execFileSync('mkfifo', [fifo]);
  // A safety timeout only: a FIFO opened for reading blocks until a writer comes.
  const guard = new Promise((resolve) => setTimeout(() => resolve('hung'), 20_000).unref());
  const f = await Promise.race([bot.load(fifo).then(() => 'loaded', (x) => x), guard]);
  assert.is((f as { code?: string }).code, 'ERR_ARGUMENT', String(f));
  assert.match((f as Error).message, 'FIFO');
});

test('tampered "layers" metadata is refused: the metadata must agree with the tensors', async () => {
  const file = await withMetadata('model', (m) => {
    const o = JSON.parse(m);
    o.config.layers = [3, 4, 6, 3];
    return JSON.stringify(o);
  });
  const e = await bot.load(file).then(() => null, (x) => x);
  assert.is(e?.code, 'ERR_CHECKPOINT_FORMAT');
  assert.match(e.message, 'config.layers');
  const t = await bot.Trainer.load(file).then(() => null, (x) => x);
  assert.is(t?.code, 'ERR_CHECKPOINT_FORMAT');
  const r = cli(['train', '--resume', file]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /ERR_CHECKPOINT_FORMAT: --resume .*config\.layers/);
});

test.run();
