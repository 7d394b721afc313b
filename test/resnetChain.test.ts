/**
 * A two-block ResNet-style chain composed from the single ops:
 *   x → conv1 → bn1 → relu → conv2 → bn2 → (+ shortcut) → relu → global pool → linear → loss
 * The native forward matches a float64 reference of the whole chain, and the native
 * backward (every op's backward composed by hand) matches central finite differences of
 * that reference for the input and every parameter.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, expectClose, gradCheck } from './helpers/compare';
import { bot } from './helpers/lib';
import {
  addRef, batchNormTrainRef, conv2dRef, crossEntropyRef, globalAvgPoolRef, linearRef, reluRef, smoothedTargets,
} from './helpers/reference';

const { ops } = bot;
type T = { data: Float32Array; shape: number[] };

const N = 2, H = 6, W = 5, C = 3, F = 4, K = 5, EPS = 1e-5, SMOOTH = 0.1;
const geo = { stride: [1, 1] as [number, number], padding: [1, 1] as [number, number], groups: 1 };

interface Params {
  x: Float32Array; w1: Float32Array; g1: Float32Array; b1: Float32Array; w2: Float32Array;
  g2: Float32Array; b2: Float32Array; ws: Float32Array; wf: Float32Array; bf: Float32Array;
}
const SHAPES: Record<keyof Params, number[]> = {
  x: [N, H, W, C], w1: [F, 3, 3, C], g1: [F], b1: [F], w2: [F, 3, 3, F], g2: [F], b2: [F],
  ws: [F, 1, 1, C], wf: [K, F], bf: [K],
};

function init(rng: Rng): Params {
  const p = {} as Params;
  for (const [k, s] of Object.entries(SHAPES) as [keyof Params, number[]][]) {
    const fanIn = s.length === 4 ? s[1] * s[2] * s[3] : s.length === 2 ? s[1] : 1;
    p[k] = rng.array(s.reduce((a, b) => a * b, 1), k === 'x' ? 1 : 1 / Math.sqrt(fanIn));
  }
  for (let i = 0; i < F; i++) {
    p.g1[i] = 1 + 0.2 * rng.normal();
    p.g2[i] = 1 + 0.2 * rng.normal();
  }
  return p;
}

/** The chain in float64; the shortcut is a 1×1 projection conv (C → F channels). */
function chainRef(p: { [K in keyof Params]: ArrayLike<number> }, labels: Int32Array): number {
  const c1 = conv2dRef(p.x, SHAPES.x, p.w1, SHAPES.w1, geo);
  const r1 = reluRef(batchNormTrainRef(c1.y, F, p.g1, p.b1, EPS));
  const c2 = conv2dRef(r1, c1.shape, p.w2, SHAPES.w2, geo);
  const bn2 = batchNormTrainRef(c2.y, F, p.g2, p.b2, EPS);
  const sc = conv2dRef(p.x, SHAPES.x, p.ws, SHAPES.ws, { ...geo, padding: [0, 0] });
  const r2 = reluRef(addRef(bn2, sc.y));
  const pooled = globalAvgPoolRef(r2, N, H * W, F);
  const z = linearRef(pooled, p.wf, p.bf, N, F, K);
  return crossEntropyRef(z, smoothedTargets(labels, K, SMOOTH), N, K);
}

function bnState() {
  return { runningMean: new Float32Array(F), runningVar: new Float32Array(F).fill(1) };
}

/** Native forward and hand-composed backward; returns the loss and every gradient. */
function chainNative(p: Params, labels: Int32Array) {
  const t = (data: Float32Array, shape: number[]): T => ({ data, shape });
  const x = t(p.x, SHAPES.x);
  const w1 = t(p.w1, SHAPES.w1), w2 = t(p.w2, SHAPES.w2), ws = t(p.ws, SHAPES.ws), wf = t(p.wf, SHAPES.wf);
  const c1 = ops.conv2d(x, w1, { padding: 1 });
  const bn1 = ops.batchNorm(c1, { gamma: p.g1, beta: p.b1, training: true, eps: EPS, ...bnState() });
  const r1 = ops.relu(bn1.y);
  const c2 = ops.conv2d(r1, w2, { padding: 1 });
  const bn2 = ops.batchNorm(c2, { gamma: p.g2, beta: p.b2, training: true, eps: EPS, ...bnState() });
  const sc = ops.conv2d(x, ws);
  const s = ops.add(bn2.y, sc);
  const r2 = ops.relu(s);
  const pooled = ops.globalAvgPool(r2);
  const z = ops.linear(pooled, wf, t(p.bf, SHAPES.bf));
  const ce = ops.softmaxCrossEntropy(z, { labels, smoothing: SMOOTH });

  const lin = ops.linearBackward(pooled, wf, ce.grad);
  const dr2 = ops.globalAvgPoolBackward(lin.dx, r2.shape);
  const ds = ops.reluBackward(r2, dr2);
  // add: both branches receive ds.
  const dbn2 = ops.batchNormBackward(c2, ds, { gamma: p.g2, saveMean: bn2.saveMean, saveInvstd: bn2.saveInvstd, training: true });
  const dws = ops.conv2dBackwardFilter(x, ds, { weightShape: SHAPES.ws });
  const dxs = ops.conv2dBackwardData(ds, ws, { inputShape: SHAPES.x });
  const dw2 = ops.conv2dBackwardFilter(r1, dbn2.dx, { weightShape: SHAPES.w2, padding: 1 });
  const dr1 = ops.conv2dBackwardData(dbn2.dx, w2, { inputShape: r1.shape, padding: 1 });
  const dbn1 = ops.batchNormBackward(c1, ops.reluBackward(r1, dr1), { gamma: p.g1, saveMean: bn1.saveMean, saveInvstd: bn1.saveInvstd, training: true });
  const dw1 = ops.conv2dBackwardFilter(x, dbn1.dx, { weightShape: SHAPES.w1, padding: 1 });
  const dx = ops.add(ops.conv2dBackwardData(dbn1.dx, w1, { inputShape: SHAPES.x, padding: 1 }), dxs);
  const grads: Params = {
    x: dx.data, w1: dw1.data, g1: dbn1.dgamma, b1: dbn1.dbeta, w2: dw2.data, g2: dbn2.dgamma, b2: dbn2.dbeta,
    ws: dws.data, wf: lin.dw.data, bf: lin.db.data,
  };
  return { loss: ce.loss, grads };
}

test('the composed chain: forward equals the float64 reference, every gradient passes finite differences', () => {
  for (const seed of [1, 2, 3]) {
    const rng = new Rng(seed);
    const p = init(rng);
    const labels = Int32Array.from({ length: N }, () => rng.int(0, K - 1));
    const { loss, grads } = chainNative(p, labels);
    const ctx = { op: 'resnet chain', shape: SHAPES.x, seed };
    expectClose([loss], [chainRef(p, labels)], ctx, { atol: 1e-5, rtol: 1e-5 });
    for (const name of Object.keys(SHAPES) as (keyof Params)[]) {
      assert.is(grads[name].length, p[name].length, `${name} gradient length`);
      const f = (v: Float64Array) => chainRef({ ...p, [name]: v }, labels);
      gradCheck(f, p[name], grads[name], { ...ctx, op: `resnet chain d${name}`, rng, samples: 12, h: 1e-5, atol: 2e-5, rtol: 2e-3 });
    }
  }
});

test('the chain learns: a few SGD steps on a fixed batch lower the loss', () => {
  const rng = new Rng(9);
  const p = init(rng);
  const labels = Int32Array.from({ length: N }, (_, i) => i % K);
  const bufs = Object.fromEntries(Object.keys(SHAPES).map((k) => [k, new Float32Array(p[k as keyof Params].length)]));
  const first = chainNative(p, labels).loss;
  let last = first;
  for (let step = 0; step < 15; step++) {
    const { loss, grads } = chainNative(p, labels);
    last = loss;
    for (const k of Object.keys(SHAPES) as (keyof Params)[]) {
      if (k === 'x') continue;
      ops.sgdStep(p[k], grads[k], bufs[k], { lr: 0.05, momentum: 0.9, weightDecay: k.startsWith('w') ? 1e-4 : 0 });
    }
  }
  assert.ok(last < first * 0.7, `loss went from ${first} to ${last}`);
});

test.run();
