/**
 * CUDA convolutions against the CPU core: forward, backward-data and backward-filter, the
 * fast implicit-GEMM kernels and the CUDA reference kernels, FP32 (SIMT) and FP16 (tensor
 * cores, mma.sync), on shapes chosen to reach every code path:
 *   - the cp.async path (C, and K for the backward passes, multiples of 8) and the
 *     element-load path (the 3-channel stem, C = 20, odd K);
 *   - 1×1, 3×3 and 7×7 kernels, strides 1 and 2, padding, odd spatial sizes;
 *   - partial CTA tiles (128 × 128 × 32) in M, N and the reduction, and more than one tile
 *     in M and N;
 *   - the backward-filter reduction split over 2 and 3 CTAs (choose_split_k: a split
 *     needs more than 16 slices of 32 output pixels), with an uneven last split;
 *   - odd K (the unpaired store of the last output channel).
 * Each case is small enough for the PTX simulator (`npm run test:cuda-sim`); on a GPU the
 * ResNet-scale cases run too. The error bounds are derived per element (helpers/cuda.ts).
 */
import * as path from 'path';
import { test } from 'uvu';
import { Rng } from './helpers/compare';
import { HAVE_CUDA, SIMULATOR, abs, expectDeviceTest, expectWithin, sumBounds } from './helpers/cuda';
import { bot } from './helpers/lib';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const addon = require(path.join(__dirname, '..', '..', 'dist', 'native')).native();
const { ops, runtime } = bot;

expectDeviceTest(test);

interface ConvCase { name: string; x: number[]; k: number; r: number; stride: number; pad: number }

const CASES: ConvCase[] = [
  { name: 'stem: C=3 (element loads), 7x7/2 pad 3, partial reduction slice (147)', x: [1, 12, 10, 3], k: 8, r: 7, stride: 2, pad: 3 },
  { name: '1x1/2 downsample, C=16 (cp.async), reduction 16 < one slice', x: [2, 9, 9, 16], k: 24, r: 1, stride: 2, pad: 0 },
  { name: '1x1/1, C=16: two tiles, both partial, in M (143 pixels) and N (K=136)', x: [1, 13, 11, 16], k: 136, r: 1, stride: 1, pad: 0 },
  { name: '3x3/2, C=24, odd sizes 11x13', x: [2, 11, 13, 24], k: 16, r: 3, stride: 2, pad: 1 },
  { name: '3x3/1, C=20 (element loads, C >= 8), odd K=5 (unpaired store)', x: [1, 7, 5, 20], k: 5, r: 3, stride: 1, pad: 1 },
  { name: '3x3/1, C=8, K=8: backward-filter split over 3 CTAs (1150 pixels = 36 slices)', x: [2, 23, 25, 8], k: 8, r: 3, stride: 1, pad: 1 },
  { name: '3x3/1 no padding, C=8, K=16: split over 2 CTAs, uneven (10 + 9 slices)', x: [2, 17, 22, 8], k: 16, r: 3, stride: 1, pad: 0 },
];
if (HAVE_CUDA && !SIMULATOR) {
  // ResNet-scale shapes: minutes each on the simulator, milliseconds on a GPU.
  CASES.push(
    { name: 'ResNet stem at scale: C=3, 7x7/2 pad 3', x: [2, 32, 30, 3], k: 64, r: 7, stride: 2, pad: 3 },
    { name: '3x3/1, C=64 K=72', x: [2, 10, 9, 64], k: 72, r: 3, stride: 1, pad: 1 },
    { name: 'layer3 3x3/1, C=256 K=256 at 14x14, batch 4', x: [4, 14, 14, 256], k: 256, r: 3, stride: 1, pad: 1 },
  );
}

const round16 = (a: Float32Array): Float32Array => {
  const before = runtime.getBackend();
  runtime.setBackend('cpu');
  try {
    return ops.fromFloat16(ops.toFloat16(a));
  } finally {
    runtime.setBackend(before);
  }
};

if (HAVE_CUDA) {
  for (const [ci, c] of CASES.entries()) {
    test(`conv2d forward / backward-data / backward-filter, fast and reference, FP32 and FP16: ${c.name}`, () => {
      const seed = 900 + ci;
      const rng = new Rng(seed);
      const wShape = [c.k, c.r, c.r, c.x[3]];
      const x = rng.array(c.x.reduce((a, b) => a * b, 1));
      const w = rng.array(wShape.reduce((a, b) => a * b, 1), 1 / Math.sqrt(c.r * c.r * c.x[3]));
      const p = Math.floor((c.x[1] + 2 * c.pad - c.r) / c.stride) + 1;
      const q = Math.floor((c.x[2] + 2 * c.pad - c.r) / c.stride) + 1;
      const yShape = [c.x[0], p, q, c.k];
      const dy = rng.array(yShape.reduce((a, b) => a * b, 1));
      const g = [c.stride, c.stride, c.pad, c.pad, 1];
      // Terms per output element of each pass (an upper bound where padding drops taps).
      const terms = { forward: c.r * c.r * c.x[3], data: c.r * c.r * c.k, filter: c.x[0] * p * q };
      for (const precision of ['f32', 'f16'] as const) {
        // The CPU oracle sees the operands the GPU sees: FP16 rounds them (to nearest even).
        const [xr, wr, dyr] = precision === 'f16' ? [round16(x), round16(w), round16(dy)] : [x, w, dy];
        const yRef = addon.ops.conv2dReference(xr, c.x, wr, wShape, ...g).data;
        const dxRef = addon.ops.conv2dBackwardDataReference(dyr, yShape, wr, wShape, c.x, ...g).data;
        const dwRef = addon.ops.conv2dBackwardFilterReference(xr, c.x, dyr, yShape, wShape, ...g).data;
        // Σ|term| per element: the same op on the absolute values.
        const yAbs = addon.ops.conv2dReference(abs(xr), c.x, abs(wr), wShape, ...g).data;
        const dxAbs = addon.ops.conv2dBackwardDataReference(abs(dyr), yShape, abs(wr), wShape, c.x, ...g).data;
        const dwAbs = addon.ops.conv2dBackwardFilterReference(abs(xr), c.x, abs(dyr), yShape, wShape, ...g).data;
        // y and dx come back as FP16 in FP16 mode; dw is accumulated and returned in FP32.
        const f16 = precision === 'f16';
        const yBound = sumBounds(yAbs, yRef, terms.forward, f16);
        const dxBound = sumBounds(dxAbs, dxRef, terms.data, f16);
        const dwBound = sumBounds(dwAbs, dwRef, terms.filter, false);
        for (const algorithm of ['fast', 'reference']) {
          const ctx = { case: c.name, precision, algorithm, seed };
          const y = addon.ops.cudaConv2d(x, c.x, w, wShape, ...g, undefined, precision, algorithm);
          expectWithin(y.data, yRef, yBound, { ...ctx, pass: 'forward' });
          const dx = addon.ops.cudaConv2dBackwardData(dy, yShape, w, wShape, c.x, ...g, undefined, precision, algorithm);
          expectWithin(dx.data, dxRef, dxBound, { ...ctx, pass: 'backward data' });
          const dw = addon.ops.cudaConv2dBackwardFilter(x, c.x, dy, yShape, wShape, ...g, undefined, precision, algorithm);
          expectWithin(dw.data, dwRef, dwBound, { ...ctx, pass: 'backward filter' });
        }
      }
    });
  }
}

test.run();
