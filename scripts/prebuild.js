#!/usr/bin/env node
// Produces the prebuilt addon that the package ships for linux-x64 (glibc), in the layout
// node-gyp-build reads: prebuilds/linux-x64/bagoftricks.napi.glibc.node.
//
// The release build is the full one: the CPU kernels with their run-time AVX2/AVX-512
// dispatch, and the CUDA kernels for SM 80, 86, 89, 90a plus compute_90 PTX with the CUDA
// runtime linked statically (only the driver is needed at run time, and it is opened
// lazily, so the same file loads on machines without a GPU). It is compiled in
// build-prebuild/ so that a developer's build/ is left alone.
//
//   node scripts/prebuild.js                 build, check and place the addon
//   node scripts/prebuild.js --from FILE     check and place an addon built elsewhere
//   node scripts/prebuild.js --if-missing    do nothing when a checked prebuild is in place
//                                            (`prepack` runs this: a pack never ships without one)
//   node scripts/prebuild.js --cpu-only      a CPU-only prebuild (for a machine without nvcc)
//
// The check loads the addon in a separate Node process and reads what it was built with.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..');
const RELEASE_ARCHS = '80;86;89;90a';
const TARGET_DIR = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const TARGET = path.join(TARGET_DIR, 'bagoftricks.napi.glibc.node');

function fail(msg) {
  console.error(`bagoftricks prebuild: ${msg}`);
  process.exit(1);
}

/** What the addon at `file` reports about itself, read in a child process; throws with the reason when it does not load. */
function inspect(file) {
  const probe = `const a = require(${JSON.stringify(file)});
const c = a.runtime.cudaInfo();
console.log(JSON.stringify({ compiled: c.compiled, archs: c.archs, simulator: c.simulator, runtimeVersion: c.runtimeVersion, ops: typeof a.ops.conv2d }));`;
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${file} does not load: ${(r.stderr || '').trim().split('\n').slice(-1)[0]}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** The shared libraries `file` needs (ldd), or null where ldd is absent. */
function sharedLibs(file) {
  const r = spawnSync('ldd', [file], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : null;
}

/** Throws unless `file` is a release addon: it loads, has the ops, and (unless cpuOnly) the CUDA targets with a static runtime. */
function check(file, cpuOnly) {
  const info = inspect(file);
  if (info.ops !== 'function') throw new Error(`${file} is not the bagoftricks addon`);
  if (info.simulator) throw new Error(`${file} is a simulator test build, not a release build`);
  if (!cpuOnly) {
    if (!info.compiled) throw new Error(`${file} was built without CUDA (use --cpu-only for a CPU-only prebuild)`);
    if (info.archs !== RELEASE_ARCHS.replace(/;/g, ',')) throw new Error(`${file} has CUDA targets ${info.archs}, the release needs ${RELEASE_ARCHS.replace(/;/g, ',')}`);
  }
  const libs = sharedLibs(file);
  if (libs && /libcudart\.so/.test(libs)) throw new Error(`${file} links the CUDA runtime dynamically; the release links it statically`);
  return info;
}

function place(file, cpuOnly) {
  const info = check(file, cpuOnly);
  fs.mkdirSync(TARGET_DIR, { recursive: true });
  const tmp = `${TARGET}.tmp`;
  fs.copyFileSync(file, tmp);
  fs.renameSync(tmp, TARGET);
  const mb = (fs.statSync(TARGET).size / 1e6).toFixed(1);
  console.log(`bagoftricks prebuild: ${path.relative(root, TARGET)} (${mb} MB, CUDA ${info.compiled ? `SM ${info.archs} + compute_90 PTX, static runtime` : 'not built in'})`);
}

function build(cpuOnly) {
  if (process.platform !== 'linux' || process.arch !== 'x64') fail(`prebuilds are made for linux-x64, not ${process.platform}-${process.arch}`);
  const out = path.join(root, 'build-prebuild');
  const args = [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', '--out', out,
    `--CDBAGOFTRICKS_CUDA=${cpuOnly ? 'OFF' : 'ON'}`, `--CDBAGOFTRICKS_CUDA_ARCHS=${RELEASE_ARCHS}`,
    // Not linked against an MPI library: the prebuilt addon must load where none is installed
    // (data-parallel training needs a source build on a machine with MPI).
    '--CDBAGOFTRICKS_MPI=OFF'];
  // The release build is compiled as CI compiles: a warning fails it.
  const env = { ...process.env, BAGOFTRICKS_WERROR: '1' };
  delete env.BAGOFTRICKS_CUDA;
  delete env.BAGOFTRICKS_CUDA_ARCHS;
  delete env.BAGOFTRICKS_CUDA_SIM;
  delete env.BAGOFTRICKS_MPI;
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) fail(`the build failed (exit ${r.status})`);
  return path.join(out, 'Release', 'bagoftricks.node');
}

function main(argv) {
  const cpuOnly = argv.includes('--cpu-only');
  const fromAt = argv.indexOf('--from');
  const known = new Set(['--cpu-only', '--if-missing', '--from']);
  const unknown = argv.filter((a, i) => !known.has(a) && i !== fromAt + 1);
  if (unknown.length) fail(`unknown option ${unknown[0]} (options: --from FILE, --if-missing, --cpu-only)`);
  if (argv.includes('--if-missing') && fs.existsSync(TARGET)) {
    try {
      check(TARGET, true);
      console.log(`bagoftricks prebuild: ${path.relative(root, TARGET)} is in place`);
      return;
    } catch (e) {
      console.log(`bagoftricks prebuild: ${e.message}; building it again`);
    }
  }
  let file;
  if (fromAt >= 0) {
    file = argv[fromAt + 1];
    if (!file) fail('--from needs the path of a built addon');
    file = path.resolve(file);
    if (!fs.existsSync(file)) fail(`--from: no file at ${file}`);
  } else {
    file = build(cpuOnly);
  }
  try {
    place(file, cpuOnly);
  } catch (e) {
    fail(e.message);
  }
}

main(process.argv.slice(2));
