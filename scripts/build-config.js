// The decisions of a source build (scripts/install.js), as pure functions so they are tested
// without compiling anything.
'use strict';
const path = require('path');

/** The release's CUDA targets, in CMake's list form (compute_90 PTX is always added). */
const RELEASE_ARCHS = '80;86;89;90a';

/** A compute capability as nvidia-smi prints it ("8.6") → its release target ("86"), or null when it is not one. */
function targetFor(capability) {
  const m = /^(\d+)\.(\d+)$/.exec(String(capability).trim());
  if (!m) return null;
  const sm = `${m[1]}${m[2]}`;
  if (sm === '90') return '90a'; // Hopper: the arch-specific target (wgmma, TMA)
  return RELEASE_ARCHS.split(';').includes(sm) ? sm : null;
}

/**
 * The CUDA targets of a source build and the reason for them. `requested` is
 * BAGOFTRICKS_CUDA_ARCHS: a list ("86" or "80;90a", commas allowed) is used as given, "all" means
 * every release target; unset, the local GPU's target is used when it is one of the release
 * targets, else all of them (no GPU, or a newer one that runs the compute_90 PTX).
 * `capability` is called only when needed and returns e.g. "9.0" or null.
 */
function cudaArchsFor(requested, capability) {
  if (requested !== undefined && requested !== '') {
    if (requested === 'all') return { list: RELEASE_ARCHS, reason: 'BAGOFTRICKS_CUDA_ARCHS=all' };
    return { list: requested.split(/[;,\s]+/).filter(Boolean).join(';'), reason: `BAGOFTRICKS_CUDA_ARCHS=${requested}` };
  }
  const cap = capability();
  if (cap === null) return { list: RELEASE_ARCHS, reason: 'no local GPU found: all release targets' };
  const sm = targetFor(cap);
  if (sm === null) return { list: RELEASE_ARCHS, reason: `the local GPU (compute ${cap}) is not a release target: all of them, its driver runs the PTX` };
  return { list: sm, reason: `the local GPU is compute ${cap} (BAGOFTRICKS_CUDA_ARCHS=all builds every target)` };
}

/** Whether the package at `root` is installed inside a node_modules folder (not a clone being developed). */
function installedAsDependency(root) {
  return path.resolve(root).split(path.sep).includes('node_modules');
}

module.exports = { RELEASE_ARCHS, targetFor, cudaArchsFor, installedAsDependency };
