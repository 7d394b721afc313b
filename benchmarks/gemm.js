#!/usr/bin/env node
'use strict';
/**
 * Builds the C++ GEMM check and benchmark (CMake option BAGOFTRICKS_BENCHMARKS, CPU only,
 * into build-bench/) and runs them: `npm run bench:gemm [-- sizes...]`.
 * See benchmarks/README.md for what they measure.
 */
const { execFileSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
const dir = path.join(root, 'build-bench');
const run = (cmd, args, env) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
run('cmake', ['-S', '.', '-B', dir, '-DBAGOFTRICKS_BENCHMARKS=ON', '-DBAGOFTRICKS_CUDA=OFF', '-DCMAKE_BUILD_TYPE=Release']);
run('cmake', ['--build', dir, '-j', '2']);
run(path.join(dir, 'gemm_check'), []);
run(path.join(dir, 'gemm_check'), [], { BAGOFTRICKS_NO_AVX2: '1' });
run(path.join(dir, 'gemm_bench'), process.argv.slice(2));
