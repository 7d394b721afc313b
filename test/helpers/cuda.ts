/**
 * What the CUDA test files share: the device in use, the check that the device asked for
 * is the one in use, and error bounds derived from the arithmetic for comparing a CUDA
 * result with the CPU core's.
 *
 * `BAGOFTRICKS_EXPECT_CUDA` ('device' or 'simulator', set by `npm run test:cuda-sim` and
 * by the GPU check) turns "no usable CUDA device" from a reason to run the device-less
 * tests into a failure, so a CUDA run can never pass by testing nothing.
 */
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { bot } from './lib';

export const info = bot.runtime.cudaInfo();
/** A usable device (a GPU or the simulator). */
export const HAVE_CUDA = info.available;
/** The device is the functional PTX simulator: slow, so the cases are sized for it. */
export const SIMULATOR = info.available && info.simulator;
export const EXPECTED = process.env.BAGOFTRICKS_EXPECT_CUDA;

/** Registers the test that fails when the CUDA run asked for has no such device. */
export function expectDeviceTest(test: Test): void {
  if (!EXPECTED) return;
  test(`the CUDA device asked for (BAGOFTRICKS_EXPECT_CUDA=${EXPECTED}) is in use`, () => {
    assert.ok(info.available, `no usable CUDA device: ${info.reason}`);
    assert.is(info.simulator, EXPECTED === 'simulator', `cudaInfo().simulator is ${info.simulator}`);
  });
}

/** Unit roundoff of binary32 (round to nearest): 2^-24. */
export const U32 = 2 ** -24;
/** Unit roundoff of binary16: 2^-11; half of its subnormal spacing: 2^-25. */
export const U16 = 2 ** -11;
export const HALF_SUBNORMAL = 2 ** -25;

/**
 * γ_n = n·u / (1 − n·u): a floating-point sum of n terms, in any order and with or without
 * fused multiply-adds, is within γ_n · Σ|term| of the exact sum (Higham, "Accuracy and
 * Stability of Numerical Algorithms", §3.1). Products of binary16 operands are exact in
 * binary32 (11 + 11 significant bits), so the bound holds for FP16 tensor-core GEMMs that
 * accumulate in FP32 as well.
 */
export function gamma(n: number, u = U32): number {
  return (n * u) / (1 - n * u);
}

/**
 * The bound per element for two results of the same n-term sums computed in two orders
 * (CPU and GPU): 2·γ_n·Σ|term| — `absSums` holds Σ|term| per element, e.g. the op applied
 * to |inputs| — plus, when the GPU's result was stored as binary16, its rounding:
 * 2^-11·(|expected| + the sum bound) + 2^-25.
 */
export function sumBounds(absSums: ArrayLike<number>, expected: ArrayLike<number>, n: number, storedF16: boolean): Float64Array {
  const g = 2 * gamma(n);
  const out = new Float64Array(absSums.length);
  for (let i = 0; i < out.length; i++) {
    const b = g * absSums[i];
    out[i] = storedF16 ? b + U16 * (Math.abs(expected[i]) + b) + HALF_SUBNORMAL : b;
  }
  return out;
}

/**
 * Asserts |actual[i] − expected[i]| ≤ bound[i] for every i (NaN fails); the message names
 * the context, the worst element and how far past its bound it is.
 */
export function expectWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, bound: ArrayLike<number>, ctx: Record<string, unknown>): void {
  assert.is(actual.length, expected.length, `length: ${JSON.stringify(ctx)}`);
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    const ratio = Number.isNaN(d) ? Infinity : d / Math.max(bound[i], Number.MIN_VALUE);
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (worstRatio > 1) {
    assert.unreachable(
      `${JSON.stringify(ctx)}: element ${worst}: got ${actual[worst]}, expected ${expected[worst]} ` +
        `± ${bound[worst]} (difference ${worstRatio.toFixed(2)}× the bound)`,
    );
  }
}

/** Element-wise absolute value. */
export function abs(a: Float32Array): Float32Array {
  return a.map(Math.abs);
}

/**
 * A small ResNet-D for CUDA-against-CPU Net tests: resnet18d at width 1/8 cut to its first
 * two stages, one basic block each — the deep stem (3×3 convs on 3 and 4 channels), a
 * stride-2 3×3 conv, the average-pool + 1×1 downsample shortcut, BN + add + ReLU, global
 * pool and the classifier (its weight cut to the 16 channels of stage 2) — with γ ≠ 0 in
 * every BN (no zero-γ), so that every gradient path carries signal. `stem: 'imagenet'` adds
 * the stride-2 stem and the max pool. Two stages keep every BN's batch statistics over at
 * least 8 values at the sizes used (8² CIFAR stem, 16² ImageNet stem, batch ≥ 2): a BN over
 * 2 values (a 1×1 map at batch 2) normalises them to exactly ±1 and turns rounding noise
 * into arbitrarily large gradient differences, which would hide nothing but prove nothing.
 */
export function tinyResNet(o: { stem?: 'cifar' | 'imagenet'; classes?: number; seed?: number } = {}) {
  const classes = o.classes ?? 10;
  const model = bot.createModel('resnet18d', { numClasses: classes, stem: o.stem ?? 'cifar', width: 0.125, seed: o.seed ?? 3, zeroGamma: false });
  const dropped = (name: string) => /^layer([34]\.|\d\.1\.)/.test(name);
  const g = model.graph();
  // A reader of a dropped block's output reads block 0's of its stage; global pool reads stage 2's.
  const rename = (input: string) => (input === 'layer4.1.act2' ? 'layer2.0.act2' : input.replace(/^layer([12])\.1\.act2$/, 'layer$1.0.act2'));
  const graph = { ...g, nodes: g.nodes.filter((n) => !dropped(n.name)).map((n) => ({ ...n, inputs: n.inputs.map(rename) })) } as typeof g;
  const parameters = new Map([...model.initialParameters()].filter(([k]) => !dropped(k)));
  const fc = parameters.get('fc.weight')!;
  const inFeatures = fc.length / classes;
  const kept = 16; // stage 2's channels at width 1/8
  parameters.set('fc.weight', Float32Array.from({ length: classes * kept }, (_, i) => fc[Math.floor(i / kept) * inFeatures + (i % kept)] * Math.sqrt(inFeatures / kept)));
  const noDecay = model.parameters().filter((p) => p.trainable && !p.decay && !dropped(p.name)).map((p) => p.name);
  return { graph, parameters, noDecay, names: [...parameters.keys()] };
}

type Tensor = { data: Float32Array; shape: number[] };

/**
 * Randomises the BN tensors of a parameter set (γ around 1, β, running mean and a positive
 * running variance), so that batch statistics, the running-statistics update and the
 * eval-mode folding are all exercised with values far from their initial 1/0/0/1.
 */
export function perturbBatchNorm(params: Map<string, Float32Array>, seed: number): Map<string, Float32Array> {
  let s = seed >>> 0;
  const uniform = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const out = new Map<string, Float32Array>();
  for (const [k, v] of params) {
    const a = v.slice();
    if (/(bn\d?|downsample\.2|conv1\.[14])\.(weight|bias|running_mean|running_var)$/.test(k)) {
      for (let i = 0; i < a.length; i++) {
        const u = uniform();
        if (k.endsWith('.weight')) a[i] = 0.5 + u;
        else if (k.endsWith('.bias') || k.endsWith('.running_mean')) a[i] = u - 0.5;
        else a[i] = 0.5 + u;
      }
    }
    out.set(k, a);
  }
  return out;
}

/** max |a − b| ≤ rel · max |b| (+ 1e-7 for all-zero tensors); NaN fails. */
export function closeRel(a: Float32Array, b: Float32Array, rel: number, what: string): void {
  assert.is(a.length, b.length, `${what}: length`);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    const d = Math.abs(a[i] - b[i]);
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  assert.ok(worst <= rel * scale + 1e-7, `${what}: max difference ${worst} > ${rel} × max |cpu| ${scale}`);
}

/** closeRel over every tensor of two name → tensor records (same names required). */
export function closeAllRel(a: Record<string, Tensor>, b: Record<string, Tensor>, rel: number, what: string): void {
  assert.equal(Object.keys(a).sort(), Object.keys(b).sort(), `${what}: names`);
  for (const k of Object.keys(b)) closeRel(a[k].data, b[k].data, rel, `${what} ${k}`);
}
