#!/usr/bin/env node
// `npm run test:cuda-sim`: the CUDA backend's tests on a functional PTX simulator, for
// machines without a GPU. It
//   1. builds the simulator addon into build-sim/ (CMake with BAGOFTRICKS_CUDA_SIM: sm_80
//      PTX beside the addon, the simulator's shared libcudart instead of the static one);
//   2. compiles the TypeScript library and tests;
//   3. runs every CUDA test file (.test-dist/test/cuda*.test.js) under the simulator's
//      run.sh, one process per file, CUDASIM_JOBS at a time (default: one per core, at
//      most 2), each against the CPU backend in the same process;
//   4. prints each file's test lines (the simulator's own chatter goes to
//      build-sim/logs/<file>.log), then uvu-style totals and one line "N passed, N failed".
// Exit status 0 only when every test passed and every file reported its totals.
//
// Environment:
//   BAGOFTRICKS_CUDA_SIM  the simulator's folder (default ../shared/tools/cudasim beside
//                         the repository): it holds lib/libcudart.so and run.sh
//   CUDASIM_JOBS          test files run at once
//   CUDASIM_FILES         a regular expression: only the test files whose name matches
// Arguments: --no-build (use build-sim/ and .test-dist/ as they are).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');

const root = path.join(__dirname, '..');
const started = Date.now();

function fatal(message) {
  console.error(`test:cuda-sim: ${message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

function simulatorDir() {
  const given = process.env.BAGOFTRICKS_CUDA_SIM;
  const dir = path.resolve(root, given || path.join('..', 'shared', 'tools', 'cudasim'));
  for (const f of ['lib/libcudart.so', 'run.sh', 'config/gpgpusim.config']) {
    if (!fs.existsSync(path.join(dir, f))) {
      fatal(`no simulator at ${dir} (${f} is missing); set BAGOFTRICKS_CUDA_SIM to the folder of a CUDA simulator build`);
    }
  }
  return dir;
}

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) fatal(`${what} failed (exit ${r.status ?? r.signal})`);
}

function cachedSimulator(buildDir) {
  try {
    const cache = fs.readFileSync(path.join(buildDir, 'CMakeCache.txt'), 'utf8');
    const m = /^BAGOFTRICKS_CUDA_SIM:PATH=(.*)$/m.exec(cache);
    return m ? m[1] : undefined;
  } catch {
    return undefined;
  }
}

function build(sim) {
  if (spawnSync('nvcc', ['--version'], { stdio: 'ignore' }).status !== 0 && !process.env.CUDACXX) {
    fatal('nvcc is not on PATH: the simulator build compiles the CUDA sources (set CUDACXX or install the CUDA toolkit)');
  }
  const buildDir = path.join(root, 'build-sim');
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const common = ['--out', 'build-sim', `--CDBAGOFTRICKS_CUDA_SIM=${sim}`];
  if (cachedSimulator(buildDir) !== sim) run(process.execPath, [cmakeJs, 'configure', ...common], 'configuring the simulator build');
  run(process.execPath, [cmakeJs, 'build', ...common], 'building the simulator addon');
  run('npm', ['run', '--silent', 'build:ts'], 'compiling the library');
  run('npm', ['run', '--silent', 'build:test'], 'compiling the tests');
}

// The simulator prints its configuration, PTX loading and per-kernel statistics on stdout,
// mixed with the test runner's output (often on the same line as uvu's progress dots).
const NOISE = [
  /GPGPU-Sim.*$/, // every "GPGPU-Sim ..." message runs to the end of its line
];
const NOISE_LINES = [
  /^self exe links to:/, /^Extracting specific PTX file/, /^\s*-[A-Za-z_][\w-]*\s/, /^addr_dec_mask/,
  /^[A-Za-z]{2,6}\s+\d+\s+#/, /^(DRAM Timing Options|Total number of memory sub partition|sub_partition_id_mask)/,
  /^Running md5sum/, /^padded cta size/, /^Max CTA/, /^Destroy streams/, /^gpgpu_/, /^kernel_/,
  /^(nbk|nbkgrp)\s/, /^launching memcpy/, /^\s*$/, /^\s*size \d+$/, /^\s*PC=0x/, /^\s*\*\*\*/,
];

function clean(line) {
  let s = line;
  for (const re of NOISE) s = s.replace(re, '');
  if (s !== line && s.trim() === '') return undefined;
  return NOISE_LINES.some((re) => re.test(s)) ? undefined : s;
}

function runFile(sim, file, logDir) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const name = path.basename(file);
    const log = fs.createWriteStream(path.join(logDir, `${name}.log`));
    const env = {
      ...process.env,
      BAGOFTRICKS_ADDON: path.join(root, 'build-sim', 'Release', 'bagoftricks.node'),
      BAGOFTRICKS_EXPECT_CUDA: 'simulator',
    };
    const child = spawn(path.join(sim, 'run.sh'), [process.execPath, file], { cwd: root, env });
    let out = '';
    const take = (chunk) => {
      log.write(chunk);
      out += chunk.toString();
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code, signal) => {
      log.end();
      // uvu's per-file line ends "(passed / total)"; its failure reports and totals follow.
      const text = out.replace(/\x1b\[[0-9;]*m/g, '');
      const marks = [...text.matchAll(/\(\s*\d+\s*\/\s*\d+\s*\)/g)];
      const tail = marks.length ? text.slice(marks[marks.length - 1].index) : text;
      const lines = tail.split('\n').map(clean).filter((l) => l !== undefined);
      const num = (label) => {
        const m = lines.map((l) => new RegExp(`^\\s*${label}:\\s*(\\d+)`).exec(l)).filter(Boolean).pop();
        return m ? Number(m[1]) : undefined;
      };
      resolve({ name, code, signal, lines, total: num('Total'), passed: num('Passed'), skipped: num('Skipped') ?? 0, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

async function main() {
  const sim = simulatorDir();
  if (!process.argv.includes('--no-build')) build(sim);
  const testDir = path.join(root, '.test-dist', 'test');
  const only = process.env.CUDASIM_FILES ? new RegExp(process.env.CUDASIM_FILES) : undefined;
  const files = fs.readdirSync(testDir)
    .filter((f) => /^cuda.*\.test\.js$/.test(f) && (!only || only.test(f)))
    .map((f) => path.join(testDir, f));
  if (files.length === 0) fatal(`no CUDA test files in ${testDir}`);
  const logDir = path.join(root, 'build-sim', 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  // Longest files first (by the last run's times, else by size), so the last to start is a
  // short one and the workers finish together.
  const timesFile = path.join(logDir, 'seconds.json');
  let last = {};
  try {
    last = JSON.parse(fs.readFileSync(timesFile, 'utf8'));
  } catch {
    // first run: sizes decide
  }
  // Seconds each file took on 2 busy cores, for a first run.
  const typical = { 'cuda-conv.test.js': 500, 'cuda-net-mixed.test.js': 330, 'cuda-net.test.js': 290, 'cuda.test.js': 50 };
  const cost = (f) => last[path.basename(f)] ?? typical[path.basename(f)] ?? fs.statSync(f).size / 100;
  files.sort((a, b) => cost(b) - cost(a));
  const jobs = Math.max(1, Number(process.env.CUDASIM_JOBS) || Math.min(2, os.cpus().length));
  console.log(`test:cuda-sim: ${files.length} files on the simulator in ${sim}, ${jobs} at a time; logs in build-sim/logs/`);

  const results = [];
  let next = 0;
  async function worker() {
    while (next < files.length) {
      const file = files[next++];
      const r = await runFile(sim, file, logDir);
      results.push(r);
      const ok = r.total !== undefined && r.passed === r.total && r.code === 0;
      console.log(`\n${ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.seconds.toFixed(0)} s): ${r.passed ?? '?'} of ${r.total ?? '?'} passed`);
      for (const l of r.lines) console.log(`  ${l}`);
      if (r.total === undefined) console.log(`  the process ended without a summary (exit ${r.code ?? r.signal}); see build-sim/logs/${r.name}.log`);
    }
  }
  await Promise.all(Array.from({ length: jobs }, worker));
  for (const r of results) last[r.name] = Math.round(r.seconds);
  fs.writeFileSync(timesFile, `${JSON.stringify(last, null, 2)}\n`);

  let total = 0;
  let passed = 0;
  let skipped = 0;
  for (const r of results) {
    if (r.total === undefined) {
      total += 1; // a file that died counts as one failure
      continue;
    }
    total += r.total;
    passed += r.passed ?? 0;
    skipped += r.skipped;
    if (r.code !== 0 && r.passed === r.total) total += 1; // non-zero exit with all passed
  }
  const failed = total - passed;
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  console.log(`\n  Total:     ${total}\n  Passed:    ${passed}\n  Skipped:   ${skipped}\n  Duration:  ${minutes} min`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => fatal(e.stack || String(e)));
