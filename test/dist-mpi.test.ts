/**
 * Data-parallel training across processes, run for real under Open MPI's mpirun (two ranks,
 * one thread each, oversubscribed on this machine's cores): equivalence with one process on
 * the global batch, the CLI's run folder and resume, Ctrl-C on one rank, a rank that hangs,
 * a rank that dies, and ranks started with different settings. Registered where mpirun and
 * an MPI build exist; BAGOFTRICKS_EXPECT_MPI=1 (CI) makes their absence a failure.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bot } from './helpers/lib';
import { CLI, ENV, events, folder, tempDirs } from './helpers/faults';

const tmp = tempDirs(test, 'dist-mpi');
const MPI_ENV = { ...ENV, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', BAGOFTRICKS_THREADS: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };
const mpirun = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
const available = mpirun.status === 0 && bot.distributedSupport().mpi;
const STEPS_JS = path.join(__dirname, 'helpers', 'dist-steps.js');
/** A tiny model and input for the CLI runs: 2 images per rank per step. */
const SMALL = ['--stem', 'cifar', '--size', '8', '--width', '0.125', '--batch-size', '4', '--json'];

/** `mpirun` with one app context per entry (MPMD): [extra env, argv after node]. */
function launch(contexts: [Record<string, string>, string[]][], timeoutMs = 120_000) {
  const args = ['--oversubscribe', '--bind-to', 'none'];
  contexts.forEach(([env, argv], i) => {
    if (i > 0) args.push(':');
    args.push('-np', '1');
    for (const [k, v] of Object.entries(env)) args.push('-x', `${k}=${v}`);
    args.push(process.execPath, ...argv);
  });
  const t0 = Date.now();
  const r = spawnSync('mpirun', args, { encoding: 'utf8', env: MPI_ENV, timeout: timeoutMs });
  return { ...r, seconds: (Date.now() - t0) / 1000 };
}
const both = (argv: string[], env: Record<string, string> = {}, env1: Record<string, string> = env) => launch([[env, argv], [env1, argv]]);

test('MPI is present where it is expected', () => {
  if (process.env.BAGOFTRICKS_EXPECT_MPI === '1') assert.ok(available, `mpirun: ${mpirun.error ?? mpirun.status}; addon MPI: ${bot.distributedSupport().mpi}`);
  else assert.type(available, 'boolean');
});

if (available) {
  let data = '';
  test.before(async () => {
    data = await folder(path.join(tmp('data'), 'data'));
  });

  test('two ranks × B/2 train to the same weights, momentum and loss as one process on B (BN over the same halves)', () => {
    const dir = tmp('equiv');
    const ranks = path.join(dir, 'ranks.json');
    const single = path.join(dir, 'single.json');
    const r = both([STEPS_JS, 'ranks', ranks]);
    assert.is(r.status, 0, r.stderr);
    const s = spawnSync(process.execPath, [STEPS_JS, 'single', single], { encoding: 'utf8', env: ENV });
    assert.is(s.status, 0, s.stderr);
    const a = JSON.parse(fs.readFileSync(ranks, 'utf8'));
    const b = JSON.parse(fs.readFileSync(single, 'utf8'));
    assert.equal(a.images, [8, 8, 8, 8]);
    for (let k = 0; k < a.losses.length; k++) assert.ok(Math.abs(a.losses[k] - b.losses[k]) <= 1e-6 * Math.abs(b.losses[k]), `loss ${k}: ${a.losses[k]} vs ${b.losses[k]}`);
    const rel = (x: number[], y: number[]) => {
      let d = 0, n = 0;
      for (let i = 0; i < x.length; i++) {
        d += (x[i] - y[i]) ** 2;
        n += y[i] ** 2;
      }
      return Math.sqrt(d / (n || 1));
    };
    for (const k of Object.keys(b.params)) {
      assert.ok(rel(a.params[k], b.params[k]) < 2e-5, `${k}: weights ${rel(a.params[k], b.params[k])}`);
      assert.ok(rel(a.momentum[k], b.momentum[k]) < 2e-5, `${k}: momentum ${rel(a.momentum[k], b.momentum[k])}`);
    }
    // The gradients went through several buckets, overlapped with the backward pass.
    assert.ok(a.stats.bucketNumel.length > 4, JSON.stringify(a.stats.bucketNumel));
    assert.is(a.stats.steps, 4);
  });

  test('the Trainer from code: distributed \'auto\' from the launcher, sharded loaders, counts over every rank', () => {
    const out = path.join(tmp('trainer'), 'trainer.json');
    const r = both([path.join(__dirname, 'helpers', 'dist-trainer.js'), out]);
    assert.is(r.status, 0, r.stderr);
    const a = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.is(a.size, 2);
    assert.is(a.step, 8); // 64 images, global batch 16, 2 epochs
    assert.is(a.evalN, 30); // every validation image once, over both ranks
    assert.is(a.history.length, 2);
    for (const h of a.history) assert.ok(Number.isFinite(h.loss) && Number.isFinite(h.valTop1), JSON.stringify(h));
  });

  test('a non-finite step on one rank is skipped on every rank', () => {
    const dir = tmp('nan');
    const nan = path.join(dir, 'nan.json');
    const ranks = path.join(dir, 'ranks.json');
    assert.is(both([STEPS_JS, 'nan', nan]).status, 0);
    assert.is(both([STEPS_JS, 'ranks', ranks]).status, 0);
    const a = JSON.parse(fs.readFileSync(nan, 'utf8'));
    const b = JSON.parse(fs.readFileSync(ranks, 'utf8'));
    // Rank 0's own images were finite; the step was still skipped there (no update). The NaN
    // also reached rank 1's BN running statistics, which stay NaN: from then on only rank 1
    // sees a non-finite value (its gradients are finite again), and every rank still skips.
    assert.equal(a.finite, [true, true, false, false]);
    assert.equal(b.finite, [true, true, true, true]);
    assert.ok(Number.isNaN(a.losses[2]) || a.losses[2] === null, String(a.losses[2]));
  });

  test('CLI under mpirun: rank 0 alone prints and writes the run; two ranks resume from its checkpoint', () => {
    const out = tmp('run');
    const r = both([CLI, 'train', '--data', data, ...SMALL, '--epochs', '1', '--out', out]);
    assert.is(r.status, 0, r.stderr);
    const ev = events(r.stdout);
    assert.is(ev.filter((e) => e.event === 'start').length, 1, r.stdout);
    assert.is(ev.filter((e) => e.event === 'done').length, 1);
    assert.ok(fs.existsSync(path.join(out, 'last.safetensors')));
    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.is(config.recipe.batchSize, 4);
    const step = ev.find((e) => e.event === 'done')!.step as number;
    const resumed = both([CLI, 'train', '--resume', path.join(out, 'last.safetensors'), '--epochs', '2', '--json']);
    assert.is(resumed.status, 0, resumed.stderr);
    const done = events(resumed.stdout).filter((e) => e.event === 'done');
    assert.is(done.length, 1);
    assert.is(done[0].step, 2 * step);
  });

  test('Ctrl-C on one rank stops every rank after the same step; rank 0 saves once', () => {
    const out = tmp('sigint');
    const r = both([CLI, 'train', '--data', data, ...SMALL, '--epochs', '5', '--out', out], {}, { BAGOFTRICKS_FAULT_KILL: 'step:2', BAGOFTRICKS_FAULT_SIGNAL: 'SIGINT' });
    assert.ok(r.status !== 0, `exit ${r.status}`);
    const ev = events(r.stdout);
    const stopped = ev.filter((e) => e.event === 'interrupted');
    assert.is(stopped.length, 1, r.stdout + r.stderr);
    // Rank 1 asked during its step 3 at the latest: every rank stopped long before the 5 epochs.
    assert.ok((stopped[0].step as number) <= 3, String(stopped[0].step));
    assert.ok(fs.existsSync(path.join(out, 'last.safetensors')));
  });

  test('a rank that hangs ends the job with ERR_DIST_TIMEOUT within the timeout', () => {
    const out = tmp('hang');
    const r = both([CLI, 'train', '--data', data, ...SMALL, '--epochs', '5', '--dist-timeout', '3', '--out', out], {}, { BAGOFTRICKS_FAULT_KILL: 'step:2', BAGOFTRICKS_FAULT_SIGNAL: 'SIGSTOP' });
    assert.ok(r.status !== 0 && r.status !== null, `exit ${r.status} signal ${r.signal}`);
    assert.match(r.stderr, /ERR_DIST_TIMEOUT/);
    assert.ok(r.seconds < 60, `${r.seconds} s`);
  });

  test('a rank that dies ends the job, never a hang', () => {
    const out = tmp('death');
    const r = both([CLI, 'train', '--data', data, ...SMALL, '--epochs', '5', '--dist-timeout', '20', '--out', out], {}, { BAGOFTRICKS_FAULT_KILL: 'step:2' });
    assert.ok(r.status !== 0 && r.status !== null, `exit ${r.status} signal ${r.signal}`);
    assert.ok(r.seconds < 60, `${r.seconds} s`);
  });

  test('ranks started with different settings are refused with ERR_DIST_CONFIG', () => {
    const out = tmp('mismatch');
    const args = ['train', '--data', data, ...SMALL, '--epochs', '1', '--out', out];
    const r = launch([[{}, [CLI, ...args, '--seed', '1']], [{}, [CLI, ...args, '--seed', '2']]]);
    assert.ok(r.status !== 0, `exit ${r.status}`);
    assert.match(r.stderr, /ERR_DIST_CONFIG/);
    assert.match(r.stderr, /seed/);
  });
}

test.run();
