#!/usr/bin/env node
// Install step: use the prebuilt addon from prebuilds/ when it loads on this machine
// (nothing is compiled then), otherwise compile the addon from source with cmake-js.
// Nothing is downloaded here: cmake-js builds against the node-api-headers npm package
// (package.json "binary").
//
// A source build on a user's machine
// - never fails on a compiler warning (-Werror is for CI: BAGOFTRICKS_WERROR=1 or CI=true);
// - compiles CUDA only for the local GPU's architecture when nvidia-smi names one of the
//   release targets (BAGOFTRICKS_CUDA_ARCHS=all builds all of them, or gives a list);
// - leaves only the addon behind when the package is installed in a node_modules folder.
//
// BAGOFTRICKS_BUILD_FROM_SOURCE=1 skips the prebuilt addon.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { cudaArchsFor, installedAsDependency, RELEASE_ARCHS } = require('./build-config');

const root = path.join(__dirname, '..');

/** null when the prebuilt addon loads, else why it was not used. */
function prebuildProblem() {
  if (process.env.BAGOFTRICKS_BUILD_FROM_SOURCE && process.env.BAGOFTRICKS_BUILD_FROM_SOURCE !== '0') {
    return 'BAGOFTRICKS_BUILD_FROM_SOURCE is set';
  }
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.node')).sort() : [];
  if (files.length === 0) return `no prebuilt addon for ${process.platform}-${process.arch} in this package`;
  const reasons = [];
  for (const f of files) {
    try {
      require(path.join(dir, f));
      return null;
    } catch (e) {
      reasons.push(`${path.relative(root, path.join(dir, f))} does not load here (${String(e.message).split('\n')[0]})`);
    }
  }
  return `the prebuilt addon ${reasons.join('; ')}`;
}

/** The local GPU's compute capability ("9.0") from nvidia-smi, or null. */
function localComputeCapability() {
  const r = spawnSync('nvidia-smi', ['--query-gpu=compute_cap', '--format=csv,noheader'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0 || !r.stdout) return null;
  return r.stdout.trim().split('\n')[0].trim() || null;
}

/** Keeps build/Release/bagoftricks.node and removes the rest of build/ (object files, CMake's cache). */
function removeIntermediates() {
  const build = path.join(root, 'build');
  const addon = path.join(build, 'Release', 'bagoftricks.node');
  if (!fs.existsSync(addon)) return;
  const keep = path.join(root, '.bagoftricks.node.tmp');
  fs.renameSync(addon, keep);
  fs.rmSync(build, { recursive: true, force: true });
  fs.mkdirSync(path.join(build, 'Release'), { recursive: true });
  fs.renameSync(keep, addon);
}

const problem = prebuildProblem();
if (problem === null) {
  console.log('bagoftricks: using the prebuilt addon (nothing to compile)');
  process.exit(0);
}
console.log(`bagoftricks: building the addon from source: ${problem}`);

const archs = cudaArchsFor(process.env.BAGOFTRICKS_CUDA_ARCHS, localComputeCapability);
const args = [require.resolve('cmake-js/bin/cmake-js'), 'compile'];
if (process.env.BAGOFTRICKS_CUDA) args.push(`--CDBAGOFTRICKS_CUDA=${process.env.BAGOFTRICKS_CUDA}`);
args.push(`--CDBAGOFTRICKS_CUDA_ARCHS=${archs.list}`);
if (archs.list !== RELEASE_ARCHS) console.log(`bagoftricks: CUDA kernels (if nvcc is found) for SM ${archs.list} only: ${archs.reason}`);
const env = { ...process.env };
delete env.BAGOFTRICKS_CUDA_ARCHS; // passed above, resolved
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env });
if (r.status === 0 && installedAsDependency(root)) removeIntermediates();
process.exit(r.status === null ? 1 : r.status);
