#!/usr/bin/env node
'use strict';
/**
 * The Winograd path's error on ResNet's stride-1 3×3 shapes:
 *
 *   node benchmarks/winograd-error.js
 *
 * For each shape, seeded inputs in [−1, 1), weights in [−1, 1) / √(9C) (so outputs stay of
 * order one) and a bias: ops.conv2dWinograd (the fast path) against ops.conv2dReference
 * (the direct convolution, float64 sums) plus the bias; prints max |difference| ÷ max |y|
 * per shape and one JSON line.
 */
const bot = require('..');

const SHAPES = [
  [1, 112, 112, 32, 64],
  [1, 56, 56, 64, 64],
  [1, 28, 28, 128, 128],
  [1, 14, 14, 256, 256],
  [2, 7, 7, 512, 512],
];

let seed = 7;
const next = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 4294967296 - 0.5;
};

const rows = [];
for (const [n, h, w, c, k] of SHAPES) {
  const x = { data: Float32Array.from({ length: n * h * w * c }, () => next() * 2), shape: [n, h, w, c] };
  const wt = { data: Float32Array.from({ length: k * 9 * c }, () => (next() * 2) / Math.sqrt(9 * c)), shape: [k, 3, 3, c] };
  const bias = Float32Array.from({ length: k }, () => next() * 0.2);
  const fast = bot.ops.conv2dWinograd(x, wt, { bias }).data;
  const ref = bot.ops.conv2dReference(x, wt, { padding: 1 }).data;
  let diff = 0;
  let max = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i] + bias[i % k];
    diff = Math.max(diff, Math.abs(fast[i] - r));
    max = Math.max(max, Math.abs(r));
  }
  rows.push({ shape: [n, h, w, c], k, relError: diff / max });
  console.log(`${n}×${h}×${w}×${c} → ${k}: max |Winograd − direct| ÷ max |y| = ${(diff / max).toExponential(2)}`);
}
console.log(JSON.stringify({ benchmark: 'winograd-error', rows }));
