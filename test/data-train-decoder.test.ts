/**
 * `bagoftricks train --decoder auto|sharp`: which decoder an ImageFolder's JPEGs go through,
 * recorded in config.json (`options.decoder`) and counted in the `done` event (`decoders`) and
 * the final `decoded:` line. auto: plain JPEGs by the core's JPEG path (where the build has
 * libjpeg-turbo); sharp: every image by sharp. A bad value is a usage error (exit 2).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { rmDir, tmpDir, writeJpeg } from './helpers/data-images';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { jpegPath } = require('../../dist/data/decode') as { jpegPath: () => { compiled: boolean } };

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 120_000 });
const ROOT = tmpDir('train-decoder');
const FOLDER = path.join(ROOT, 'data');
const TINY = ['--size', '16', '--width', '0.125', '--epochs', '1', '--batch-size', '8', '--val-split', '0.25', '--seed', '3'];

test.before(async () => {
  for (const cls of ['a', 'b']) for (let i = 0; i < 12; i++) await writeJpeg(path.join(FOLDER, cls, `${i}.jpg`), 40, 30, (cls === 'a' ? 0 : 50) + i);
});
test.after(() => rmDir(ROOT));

function train(decoder: string | null, out: string) {
  const r = run('train', '--data', FOLDER, ...TINY, ...(decoder ? ['--decoder', decoder] : []), '--out', out, '--json');
  assert.is(r.status, 0, r.stderr);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const done = events[events.length - 1];
  assert.is(done.event, 'done');
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  return { decoders: done.decoders as { jpegPath: number; sharp: number }, option: config.options.decoder as string };
}

test('--decoder sharp: every image through sharp; the default: the JPEG path where built', () => {
  // 18 train images (the train transform: a decode per image and epoch, two full batches of 8)
  // and 6 validation images per pass (the epoch's, then the report's).
  const sharp = train('sharp', path.join(ROOT, 'sharp'));
  assert.is(sharp.option, 'sharp');
  assert.is(sharp.decoders.jpegPath, 0);
  assert.ok(sharp.decoders.sharp >= 24, `${sharp.decoders.sharp} images by sharp`);

  const auto = train(null, path.join(ROOT, 'auto'));
  assert.is(auto.option, 'auto');
  assert.is(auto.decoders.jpegPath + auto.decoders.sharp, sharp.decoders.sharp, 'the same images decoded, whichever decoder');
  if (jpegPath().compiled) assert.is(auto.decoders.sharp, 0, 'plain JPEGs never reach sharp');
  else assert.is(auto.decoders.jpegPath, 0);
});

test('the text output names the decoders; a bad --decoder is a usage error', () => {
  const out = path.join(ROOT, 'text');
  const r = run('train', '--data', FOLDER, ...TINY, '--decoder', 'sharp', '--out', out);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^decoded: 0 images by the core's JPEG path, \d+ by sharp$/m);
  const bad = run('train', '--data', FOLDER, '--decoder', 'libjpeg');
  assert.is(bad.status, 2);
  assert.match(bad.stderr, '--decoder');
});

test.run();
