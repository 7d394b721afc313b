#!/usr/bin/env node
// Install step: use a prebuilt addon from prebuilds/ when one loads on this machine,
// otherwise compile the addon from source with cmake-js. Nothing is downloaded here:
// cmake-js builds against the node-api-headers npm package (package.json "binary").
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..');

function prebuildLoads() {
  if (process.env.BAGOFTRICKS_BUILD_FROM_SOURCE) return false;
  try {
    const found = require('node-gyp-build').resolve(root);
    // Only a prebuild counts here: a stale build/ from an earlier compile is rebuilt.
    if (!found.includes(`${path.sep}prebuilds${path.sep}`)) return false;
    require(found);
    return true;
  } catch {
    return false;
  }
}

if (prebuildLoads()) {
  console.log('bagoftricks: using the prebuilt addon');
  process.exit(0);
}

const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const args = [cmakeJs, 'compile'];
if (process.env.BAGOFTRICKS_CUDA) args.push(`--CDBAGOFTRICKS_CUDA=${process.env.BAGOFTRICKS_CUDA}`);
if (process.env.BAGOFTRICKS_CUDA_ARCHS) args.push(`--CDBAGOFTRICKS_CUDA_ARCHS=${process.env.BAGOFTRICKS_CUDA_ARCHS}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
