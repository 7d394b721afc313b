/**
 * Checkpoints and metrics under kill -9: best.safetensors and last.safetensors stay a
 * consistent pair whatever moment the process dies (and --resume repairs a pair that does not
 * match), temporary files of killed writes are removed on the next start, and metrics.csv
 * holds each row exactly once after any number of kills and resumes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { bot } from './helpers/lib';

import { cli, cliLive, events, folder, TINY, tempDirs } from './helpers/faults';

const tmp = tempDirs(test, 'faults-ckpt');

let data = '';
test.before(async () => {
  data = await folder(path.join(tmp('data'), 'data'));
});

const state = async (file: string) => {
  const { metadata } = await bot.train.readSafetensorsHeader(file);
  const run = JSON.parse(metadata.run);
  return { step: Number(metadata.step), epoch: Number(metadata.epoch), bestTop1: run.bestTop1 as number, bestStep: run.bestStep as number | undefined };
};

const metricRows = (dir: string) => fs.readFileSync(path.join(dir, 'metrics.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));

/** Every invariant of a finished run folder of `epochs` epochs whose steps were all logged. */
async function expectConsistent(out: string, epochs: number) {
  const last = await state(path.join(out, 'last.safetensors'));
  const best = await state(path.join(out, 'best.safetensors'));
  assert.is(last.epoch, epochs);
  assert.is(best.bestTop1, last.bestTop1, 'best.safetensors holds the state the run records as its best');
  assert.is(best.step, last.bestStep);
  const rows = metricRows(out);
  const epochRows = rows.filter((c) => c[0] === 'epoch');
  assert.equal(epochRows.map((c) => Number(c[1])), Array.from({ length: epochs }, (_, i) => i + 1), 'one epoch row per epoch');
  assert.is(Math.max(...epochRows.map((c) => Number(c[9]))), last.bestTop1, 'the best top-1 is the best epoch row');
  const steps = rows.filter((c) => c[0] === 'step').map((c) => Number(c[2]));
  assert.equal(steps, Array.from({ length: last.step }, (_, i) => i + 1), 'one step row per step, in order');
}

test('killed between best and last: the pair is consistent after --resume', async () => {
  const out = path.join(tmp('between'), 'run');
  const args = ['train', '--data', data, ...TINY, '--epochs', '3', '--out', out, '--log-every', '1', '--json'];
  const k = cli(args, { BAGOFTRICKS_FAULT_KILL: 'best:2' });
  assert.is(k.signal, 'SIGKILL', `killed at the fault point: ${k.stderr}`);
  const before = await state(path.join(out, 'last.safetensors'));
  assert.is(before.epoch, 1, 'last is still epoch 1');
  const r = cli(['train', '--resume', path.join(out, 'last.safetensors'), '--json']);
  assert.is(r.status, 0, r.stderr);
  await expectConsistent(out, 3);
});

test('killed after the epoch row, before any checkpoint: the row is dropped and written once on resume', async () => {
  const out = path.join(tmp('row'), 'run');
  const k = cli(['train', '--data', data, ...TINY, '--epochs', '3', '--out', out, '--log-every', '1'], { BAGOFTRICKS_FAULT_KILL: 'epoch-row:2' });
  assert.is(k.signal, 'SIGKILL', k.stderr);
  assert.is(metricRows(out).filter((c) => c[0] === 'epoch').length, 2, 'the row of epoch 2 was written before the kill');
  const r = cli(['train', '--resume', path.join(out, 'last.safetensors')]);
  assert.is(r.status, 0, r.stderr);
  await expectConsistent(out, 3);
});

test('a stale or missing best.safetensors is repaired on --resume', async () => {
  const out = path.join(tmp('stale'), 'run');
  const r = cli(['train', '--data', data, ...TINY, '--epochs', '1', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  const lastFile = path.join(out, 'last.safetensors');
  const bestFile = path.join(out, 'best.safetensors');
  const last = await state(lastFile);
  assert.is(last.bestStep, last.step, 'the last state is the best one');
  // best.safetensors from an earlier state (as a kill between the writes left it before).
  const { tensors, metadata } = await bot.train.loadCheckpoint(bestFile);
  const run = JSON.parse(metadata.run);
  await bot.train.saveCheckpoint(bestFile, { tensors, metadata: { ...metadata, step: '0', run: JSON.stringify({ ...run, bestTop1: 0.125, bestStep: 0 }) } });
  const resumed = cli(['train', '--resume', lastFile, '--json']);
  assert.is(resumed.status, 0, resumed.stderr);
  assert.match(String(events(resumed.stdout)[0].repaired), 'restored from');
  const best = await state(bestFile);
  assert.equal([best.step, best.bestTop1], [last.step, last.bestTop1]);
  assert.ok(fs.readFileSync(bestFile).equals(fs.readFileSync(lastFile)), 'best is a copy of last');

  fs.unlinkSync(bestFile);
  const again = cli(['train', '--resume', lastFile, '--json']);
  assert.is(again.status, 0, again.stderr);
  assert.match(String(events(again.stdout)[0].repaired), 'missing');
  assert.is((await state(bestFile)).step, last.step);
});

test('temporary files of killed writes are removed on the next start; other files are kept', async () => {
  const out = path.join(tmp('tmpfiles'), 'run');
  const r = cli(['train', '--data', data, ...TINY, '--epochs', '1', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  // pid 4194305 is above Linux's largest pid: no process has it.
  const stale = ['.last.safetensors.tmp-4194305-1-abc', '.best.safetensors.tmp-4194305-7-k2j', '.metrics.csv.tmp-4194305-3-zz'];
  for (const name of stale) fs.writeFileSync(path.join(out, name), Buffer.alloc(4096, 1));
  const live = `.report.html.tmp-${process.pid}-1-q`; // this test's own pid: a live process
  const others = ['notes.tmp', '.last.safetensors.tmp-x', live];
  for (const name of others) fs.writeFileSync(path.join(out, name), 'keep');
  const resumed = cli(['train', '--resume', path.join(out, 'last.safetensors'), '--epochs', '2', '--json']);
  assert.is(resumed.status, 0, resumed.stderr);
  assert.equal((events(resumed.stdout)[0].removedTemp as string[]).sort(), stale.map((n) => path.join(out, n)).sort());
  for (const name of stale) assert.not.ok(fs.existsSync(path.join(out, name)), name);
  for (const name of others) assert.ok(fs.existsSync(path.join(out, name)), name);
  assert.equal(fs.readdirSync(out).filter((n) => /\.tmp-\d+-\d+-/.test(n)), [live], 'no temporary file of this run is left');
});

test('real kill -9 at several moments, then --resume: nothing lost, nothing twice', async () => {
  const out = path.join(tmp('kill9'), 'run');
  const epochs = 4;
  const first = ['train', '--data', data, ...TINY, '--epochs', String(epochs), '--out', out, '--log-every', '1', '--json'];
  const resume = ['train', '--resume', path.join(out, 'last.safetensors'), '--json'];
  // Kill at the k-th event each time (steps, epoch ends and checkpoint writes interleave).
  const kills = [9, 4, 6, 3, 8];
  let finished = false;
  let runs = 0;
  for (const at of kills) {
    let seen = 0;
    const r = await cliLive(runs === 0 || !fs.existsSync(path.join(out, 'last.safetensors')) ? first : resume, (line, child) => {
      if (++seen === at) child.kill('SIGKILL');
    });
    runs++;
    if (r.code === 0) {
      finished = true;
      break;
    }
    assert.is(r.signal, 'SIGKILL', r.stderr);
  }
  if (!finished) {
    const r = cli(resume);
    assert.is(r.status, 0, r.stderr);
  }
  await expectConsistent(out, epochs);
});

test.run();
