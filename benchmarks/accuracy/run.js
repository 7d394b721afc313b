'use strict';
// Accuracy parity: runs a protocol of protocol.json on both sides, seed by seed, alternating
// sides (ours, then PyTorch, per seed), each run in its own process, and writes one results
// file with every run's curve and the mean and standard deviation of the final top-1.
//
//   node benchmarks/accuracy/run.js [--protocol short] [--seeds 0,1,2] [--sides ours,torch]
//                                   [--set '{"warmupEpochs": 0}'] [--cache DIR] [--out FILE]
//
// --set changes fields of the protocol on both sides (an ablation); its results file is named
// after the change.
//
// PyTorch is the peer (/usr/bin/python3 with Debian's python3-torch); it is never a
// dependency of the package or of its tests.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { parseArgs } = require('util');
const { prepare } = require('./data');

const { values: a } = parseArgs({
  options: {
    protocol: { type: 'string', default: 'short' },
    seeds: { type: 'string' },
    sides: { type: 'string', default: 'ours,torch' },
    set: { type: 'string' },
    cache: { type: 'string', default: path.join(os.tmpdir(), 'bagoftricks-accuracy') },
    out: { type: 'string' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const root = path.resolve(__dirname, '../..');
const spec = JSON.parse(fs.readFileSync(path.join(__dirname, 'protocol.json'), 'utf8'));
if (!spec.protocols[a.protocol]) throw new Error(`no protocol "${a.protocol}" (${Object.keys(spec.protocols).join(', ')})`);
const changed = a.set ? JSON.parse(a.set) : {};
const p = { ...spec.protocols[a.protocol], ...changed };
const seeds = a.seeds ? a.seeds.split(',').map(Number) : p.seeds;
const sides = a.sides.split(',');

function stats(xs) {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd, min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

function runOne(side, seed, split) {
  const out = path.join(os.tmpdir(), `bagoftricks-accuracy-${process.pid}-${side}-${seed}.json`);
  const args = ['--protocol', a.protocol, '--seed', String(seed), '--split', split, '--out', out, ...(a.set ? ['--set', a.set] : [])];
  const cmd = side === 'ours' ? [process.execPath, [path.join(__dirname, 'ours.js'), ...args]] : [a.python, [path.join(__dirname, 'torch_run.py'), ...args]];
  const t0 = performance.now();
  const r = spawnSync(cmd[0], cmd[1], { stdio: ['ignore', 'inherit', 'inherit'], cwd: root, env: { ...process.env, OMP_NUM_THREADS: String(spec.threads) } });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${side} seed ${seed} failed (exit ${r.status ?? r.signal})`);
  const result = JSON.parse(fs.readFileSync(out, 'utf8'));
  fs.rmSync(out);
  return { ...result, processSeconds: wall };
}

async function main() {
  const archive = path.resolve(root, spec.data);
  const split = await prepare(p, archive, a.cache);
  const runs = [];
  for (const seed of seeds) {
    for (const side of sides) {
      const r = runOne(side, seed, split.dir);
      runs.push(r);
    }
  }
  const summary = {};
  for (const side of sides) {
    const mine = runs.filter((r) => (side === 'ours' ? r.side === 'bagoftricks' : r.side === 'pytorch'));
    const trainOnly = mine.map((r) => r.curve.reduce((s, c) => s + c.seconds, 0));
    summary[mine[0].side] = {
      version: mine[0].version,
      top1: stats(mine.map((r) => r.top1)),
      trainSeconds: stats(trainOnly),
      processSeconds: stats(mine.map((r) => r.processSeconds)),
    };
  }
  // The learning rate of every step, ours against PyTorch's, seed by seed.
  let lrMaxAbsDiff = null;
  for (const o of runs.filter((r) => r.side === 'bagoftricks')) {
    const t = runs.find((r) => r.side === 'pytorch' && r.seed === o.seed);
    if (!t) continue;
    if (t.lrs.length !== o.lrs.length) throw new Error(`seed ${o.seed}: ${o.lrs.length} steps against PyTorch's ${t.lrs.length}`);
    for (let i = 0; i < t.lrs.length; i++) lrMaxAbsDiff = Math.max(lrMaxAbsDiff ?? 0, Math.abs(t.lrs[i] - o.lrs[i]));
  }
  const result = {
    date: new Date().toISOString(),
    command: `node benchmarks/accuracy/run.js --protocol ${a.protocol}${a.seeds ? ` --seeds ${a.seeds}` : ''}${a.sides !== 'ours,torch' ? ` --sides ${a.sides}` : ''}${a.set ? ` --set '${a.set}'` : ''}`,
    machine: { cpu: os.cpus()[0].model, cores: os.cpus().length, threads: spec.threads },
    protocol: { name: a.protocol, ...p, seeds, changed },
    data: { archive: spec.data, sha256: split.sha256, train: split.train.count, eval: split.eval.count },
    summary,
    lrMaxAbsDiff,
    runs: runs.map(({ lrs, losses, ...r }) => ({ ...r, steps: lrs.length, firstLrs: lrs.slice(0, 5), lastLr: lrs[lrs.length - 1], firstLosses: losses.slice(0, 5) })),
  };
  const tag = Object.entries(changed).map(([k, v]) => `-${k}${v}`).join('');
  const out = a.out ?? path.join(root, 'benchmarks/results', `accuracy-${a.protocol}${tag}-${new Date().toISOString().slice(0, 10)}.json`);
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  const pct = (s) => `${(100 * s.mean).toFixed(2)} ± ${(100 * s.sd).toFixed(2)}% (min ${(100 * s.min).toFixed(2)}, max ${(100 * s.max).toFixed(2)}, n ${s.n})`;
  for (const [side, s] of Object.entries(summary)) {
    console.log(`${side.padEnd(12)} top-1 ${pct(s.top1)}  train ${s.trainSeconds.mean.toFixed(1)} s (min ${s.trainSeconds.min.toFixed(1)})  process ${s.processSeconds.mean.toFixed(1)} s`);
  }
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
