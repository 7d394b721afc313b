/** `bagoftricks bench data`: the JSON report, skipped files, usage errors. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, rmDir, tmpDir, truncateFile, writeJpeg } from './helpers/data-images';

const cli = path.join(ROOT, 'dist', 'cli.js');
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'bench', 'data', ...args], { encoding: 'utf8', env, timeout: 60_000 });

let dir = '';
test.before(async () => {
  dir = tmpDir('bench');
  for (let i = 0; i < 5; i++) await writeJpeg(path.join(dir, `p${i}.jpg`), 120, 90, i);
  await writeJpeg(path.join(dir, 'nested', 'q.jpg'), 90, 120, 9);
  const bad = await writeJpeg(path.join(dir, 'broken.jpg'), 120, 90, 7);
  truncateFile(bad, 0.5);
  fs.writeFileSync(path.join(dir, 'README.md'), '# not an image\n');
});
test.after(() => rmDir(dir));

test('--json reports images delivered, skipped paths and throughput', () => {
  const r = run('--data', dir, '--size', '32', '--batch-size', '4', '--repeat', '2', '--json');
  assert.is(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.is(rep.images, 12, '6 good images, listed twice');
  assert.equal(rep.skipped, [path.join(dir, 'broken.jpg')]);
  assert.ok(rep.imgPerSec > 0 && rep.imgPerSecPerCore > 0 && rep.cores >= 1);
  assert.ok(Math.abs(rep.imgPerSecPerCore * rep.cores - rep.imgPerSec) < 0.2 * rep.cores);
  assert.ok(rep.cpuMsPerImage > 0 && rep.stagesMsPerImage.pixels > 0);
  assert.equal([rep.settings.size, rep.settings.batchSize, rep.settings.transform], [32, 4, 'train']);
});

test('warm-up batches are left out of the timing; decoders and a packed file are reported', async () => {
  const r = run('--data', dir, '--size', '32', '--batch-size', '2', '--repeat', '3', '--warmup', '2', '--json');
  assert.is(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.equal([rep.images, rep.warmupBatches, rep.timedImages], [18, 2, 14]);
  // Decodes started during the timed part, by decoder (the broken file falls back to sharp).
  assert.ok(rep.decoders.sharp >= 0 && rep.decoders.jpegPath + rep.decoders.sharp > 0 && rep.decoders.jpegPath + rep.decoders.sharp <= 21);
  if (rep.decoders.jpegVersion) assert.ok(rep.decoders.jpegPath > 0, 'the JPEG path decoded');
  // The same folder, packed: its records decode through the JPEG path.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { data } = require(ROOT) as typeof import('../lib/index');
  const packDir = path.join(dir, '..', `${path.basename(dir)}-pack`);
  fs.mkdirSync(path.join(packDir, 'one'), { recursive: true });
  for (let i = 0; i < 5; i++) fs.copyFileSync(path.join(dir, `p${i}.jpg`), path.join(packDir, 'one', `p${i}.jpg`));
  const file = path.join(packDir, 'x.pack');
  await data.writePack(new data.ImageFolder(packDir), file);
  const p = run('--data', file, '--size', '32', '--batch-size', '5', '--repeat', '2', '--warmup', '0', '--json');
  assert.is(p.status, 0, p.stderr);
  const prep = JSON.parse(p.stdout);
  assert.equal([prep.images, prep.leftOutCount], [10, 0]);
  if (prep.decoders.jpegVersion) assert.equal([prep.decoders.jpegPath, prep.decoders.sharp], [10, 0]);
  rmDir(packDir);
});

test('text output and usage errors', () => {
  const text = run('--data', dir, '--size', '16', '--batch-size', '8', '--transform', 'eval', '--output', 'uint8');
  assert.is(text.status, 0, text.stderr);
  assert.match(text.stdout, /throughput\s+[\d.]+ img\/s, [\d.]+ img\/s per core/);
  assert.match(text.stdout, 'skipped    ' + path.join(dir, 'broken.jpg'));
  for (const args of [[], ['--data'], ['--data', dir, '--size', '0'], ['--data', dir, '--bogus'], ['--data', dir, '--transform', 'warp']]) {
    const r = run(...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    // One line naming the problem and where the usage is (not the whole usage).
    assert.match(r.stderr, /^bagoftricks bench data: [^\n]+ \(see bagoftricks bench data --help\)\n$/);
  }
  const missing = run('--data', path.join(dir, 'nowhere'));
  assert.is(missing.status, 1);
  assert.match(missing.stderr, 'ERR_ARGUMENT');
});

test.run();
