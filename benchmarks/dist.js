#!/usr/bin/env node
'use strict';
/**
 * Data-parallel scaling on this machine: one process with T threads on the global batch
 * against N ranks (mpirun) with T/N threads each on its share, the same model, input and
 * steps, alternating the two, several rounds:
 *
 *   node benchmarks/dist.js [--model resnet18d,resnet50d] [--batch-size 32] [--size 224]
 *                           [--ranks 2] [--threads 2] [--steps 4] [--warmup 2] [--rounds 2]
 *                           [--bucket-mb 25] [--out benchmarks/results/dist-DATE.json]
 *
 * Per model it reports the step time (min/median/max over the timed steps of every round;
 * median is the lower middle value for an even count) and
 * img/s of both, their ratio, and for the ranks: the seconds per step spent waiting after
 * the backward pass for gradient buckets (exposed), the seconds the transport alone takes
 * to sum the same buckets with nothing else running (timeAllreduce), and the share of the
 * latter hidden behind the backward pass, 1 − exposed / alone. Needs Open MPI's mpirun.
 *
 * `node benchmarks/dist.js --worker ...` is one measured run (one process or one rank).
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const arg = (argv, name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};

async function worker(argv) {
  const bot = require('..');
  const model = arg(argv, 'model');
  const batch = Number(arg(argv, 'batch-size'));
  const size = Number(arg(argv, 'size'));
  const steps = Number(arg(argv, 'steps'));
  const warmup = Number(arg(argv, 'warmup'));
  const out = arg(argv, 'out');
  const bucketBytes = Math.round(Number(arg(argv, 'bucket-mb', '25')) * 2 ** 20);
  const launched = bot.launchedRank();
  const group = launched && launched.size > 1 ? await bot.initDistributed({ timeoutSeconds: 600 }) : null;
  const ranks = group ? group.size : 1;
  const rank = group ? group.rank : 0;
  const local = batch / ranks;
  const m = bot.createModel(model, { numClasses: 1000, seed: 0 });
  const net = bot.Net.fromModel(m, { batchSize: local, inputSize: size });
  if (group) net.distribute(group, { bucketBytes });
  const images = { data: new Float32Array(local * size * size * 3).map((_, i) => Math.sin(i + rank)), shape: [local, size, size, 3] };
  const labels = Int32Array.from({ length: local }, (_, i) => (i * 7 + rank) % 1000);
  const times = [];
  for (let s = 0; s < warmup + steps; s++) {
    if (s === warmup && group) net.distStats({ reset: true });
    const t0 = performance.now();
    await net.trainStep({ images, labels, lr: 0.01 });
    if (s >= warmup) times.push((performance.now() - t0) / 1000);
  }
  const stats = group ? net.distStats() : null;
  const alone = [];
  if (group) for (let i = 0; i < 3; i++) alone.push(await group.timeAllreduce(stats.bucketNumel));
  if (rank === 0) fs.writeFileSync(out, JSON.stringify({ times, stats, alone, threads: bot.runtime.getThreads() }));
  net.dispose();
  if (group) group.finalize();
}

const stat = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor((s.length - 1) / 2)], max: s[s.length - 1] };
};

function main(argv) {
  const models = String(arg(argv, 'model', 'resnet18d,resnet50d')).split(',');
  const batch = Number(arg(argv, 'batch-size', '32'));
  const size = Number(arg(argv, 'size', '224'));
  const ranks = Number(arg(argv, 'ranks', '2'));
  const threads = Number(arg(argv, 'threads', String(os.availableParallelism ? os.availableParallelism() : os.cpus().length)));
  const steps = arg(argv, 'steps', '4');
  const warmup = arg(argv, 'warmup', '2');
  const rounds = Number(arg(argv, 'rounds', '2'));
  const bucketMb = arg(argv, 'bucket-mb', '25');
  const outFile = arg(argv, 'out', path.join(__dirname, 'results', `dist-${new Date().toISOString().slice(0, 10)}.json`));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-dist-'));
  const common = ['--batch-size', String(batch), '--size', String(size), '--steps', steps, '--warmup', warmup, '--bucket-mb', bucketMb];
  const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };
  const results = [];
  for (const model of models) {
    const one = [];
    const many = [];
    for (let r = 0; r < rounds; r++) {
      const o1 = path.join(tmp, `${model}-one-${r}.json`);
      const p1 = spawnSync(process.execPath, [__filename, '--worker', '--model', model, ...common, '--out', o1], { env: { ...env, BAGOFTRICKS_THREADS: String(threads) }, encoding: 'utf8' });
      if (p1.status !== 0) throw new Error(`one process: ${p1.stderr}`);
      one.push(JSON.parse(fs.readFileSync(o1, 'utf8')));
      const o2 = path.join(tmp, `${model}-ranks-${r}.json`);
      const p2 = spawnSync('mpirun', ['--oversubscribe', '--bind-to', 'none', '-np', String(ranks), '-x', `BAGOFTRICKS_THREADS=${Math.max(1, Math.floor(threads / ranks))}`,
        process.execPath, __filename, '--worker', '--model', model, ...common, '--out', o2], { env, encoding: 'utf8' });
      if (p2.status !== 0) throw new Error(`mpirun: ${p2.stderr}`);
      many.push(JSON.parse(fs.readFileSync(o2, 'utf8')));
    }
    const t1 = stat(one.flatMap((x) => x.times));
    const t2 = stat(many.flatMap((x) => x.times));
    const exposed = stat(many.map((x) => x.stats.exposedSeconds / x.stats.steps));
    const alone = stat(many.flatMap((x) => x.alone));
    const row = {
      model, batch, size, ranks, threads,
      oneProcess: { threads, stepSeconds: t1, imgPerSec: batch / t1.median },
      ranks_: { ranks, threadsPerRank: many[0].threads, stepSeconds: t2, imgPerSec: batch / t2.median },
      ratio: t1.median / t2.median,
      buckets: many[0].stats.bucketNumel.length,
      gradientBytes: many[0].stats.bytes / many[0].stats.steps,
      exposedSecondsPerStep: exposed,
      allreduceAloneSeconds: alone,
      hiddenShare: 1 - exposed.median / alone.median,
    };
    results.push(row);
    console.log(`${model} batch ${batch} at ${size}²: 1 × ${threads} threads ${t1.median.toFixed(3)} s/step (${(batch / t1.median).toFixed(1)} img/s); ` +
      `${ranks} ranks × ${many[0].threads} ${t2.median.toFixed(3)} s/step (${(batch / t2.median).toFixed(1)} img/s): ${row.ratio.toFixed(2)}×; ` +
      `allreduce of ${(row.gradientBytes / 2 ** 20).toFixed(1)} MiB in ${row.buckets} buckets: alone ${alone.median.toFixed(3)} s, waited ${exposed.median.toFixed(3)} s per step after the backward pass (${(100 * row.hiddenShare).toFixed(0)}% hidden)`);
  }
  const doc = { date: new Date().toISOString(), machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadavgAtEnd: os.loadavg() }, mpi: require('..').distributedSupport().library, results };
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, JSON.stringify(doc, null, 1) + '\n');
  console.log(`wrote ${outFile}`);
}

if (process.argv.includes('--worker')) {
  worker(process.argv.slice(2)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main(process.argv.slice(2));
}
