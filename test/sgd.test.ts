import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng, expectClose, expectCode } from './helpers/compare';
import { bot } from './helpers/lib';
import { backendTest } from './helpers/backend';

const { ops } = bot;

/** float64 reference of PyTorch's SGD (dampening 0) over several steps. */
function sgdRef(w: Float64Array, buf: Float64Array, grad: ArrayLike<number>, o: { lr: number; momentum: number; weightDecay: number; nesterov: boolean; gradScale: number }): void {
  for (let i = 0; i < w.length; i++) {
    const g = grad[i] * o.gradScale + o.weightDecay * w[i];
    if (o.momentum === 0) {
      w[i] -= o.lr * g;
      continue;
    }
    buf[i] = o.momentum * buf[i] + g;
    w[i] -= o.lr * (o.nesterov ? g + o.momentum * buf[i] : buf[i]);
  }
}

const CONFIGS = [
  { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: true, gradScale: 1 },
  { lr: 0.05, momentum: 0.9, weightDecay: 0, nesterov: true, gradScale: 1 / 65536 },
  { lr: 0.2, momentum: 0.5, weightDecay: 5e-4, nesterov: false, gradScale: 1 },
  { lr: 0.01, momentum: 0, weightDecay: 1e-4, nesterov: false, gradScale: 0.5 },
];

backendTest(test);

test('sgdStep follows PyTorch SGD semantics over several steps', () => {
  for (const [ci, cfg] of CONFIGS.entries()) {
    for (const n of [1, 7, 100003]) {
      const seed = 500 + ci;
      const rng = new Rng(seed);
      const w = rng.array(n);
      const buf = new Float32Array(n);
      const wRef = Float64Array.from(w);
      const bufRef = new Float64Array(n);
      for (let step = 0; step < 4; step++) {
        const g = rng.array(n, cfg.gradScale === 1 ? 1 : 1 / cfg.gradScale);
        ops.sgdStep(w, g, buf, cfg);
        sgdRef(wRef, bufRef, g, cfg);
      }
      const ctx = { op: 'sgdStep', shape: [n], seed, ...cfg };
      expectClose(w, wRef, ctx, { atol: 1e-6, rtol: 1e-5 });
      if (cfg.momentum > 0) expectClose(buf, bufRef, ctx, { atol: 1e-5, rtol: 1e-5 });
      else assert.ok(buf.every((v) => v === 0), 'momentum buffer untouched without momentum');
    }
  }
});

test('sgdStep with zero weight decay leaves a zero-gradient weight unchanged', () => {
  const w = Float32Array.from([1, -2, 3]);
  ops.sgdStep(w, new Float32Array(3), new Float32Array(3), { lr: 1, weightDecay: 0 });
  assert.equal(Array.from(w), [1, -2, 3]);
  ops.sgdStep(w, new Float32Array(3), new Float32Array(3), { lr: 1, weightDecay: 0.5, momentum: 0, nesterov: false });
  assert.equal(Array.from(w), [0.5, -1, 1.5]);
});

test('sgdStep rejects bad hyper-parameters and lengths', () => {
  const w = new Float32Array(4);
  const g = new Float32Array(4);
  const b = new Float32Array(4);
  expectCode(() => ops.sgdStep(w, new Float32Array(3), b, { lr: 0.1 }), 'ERR_SHAPE', 'grad length');
  expectCode(() => ops.sgdStep(w, g, new Float32Array(5), { lr: 0.1 }), 'ERR_SHAPE', 'buffer length');
  expectCode(() => ops.sgdStep(w, g, b, { lr: -1 }), 'ERR_ARGUMENT', 'negative lr');
  expectCode(() => ops.sgdStep(w, g, b, { lr: NaN }), 'ERR_ARGUMENT', 'NaN lr');
  expectCode(() => ops.sgdStep(w, g, b, { lr: 0.1, momentum: 1 }), 'ERR_ARGUMENT', 'momentum 1');
  expectCode(() => ops.sgdStep(w, g, b, { lr: 0.1, momentum: 0 }), 'ERR_ARGUMENT', 'nesterov without momentum');
  expectCode(() => ops.sgdStep(w, g, b, { lr: 0.1, gradScale: 0 }), 'ERR_ARGUMENT', 'zero grad scale');
  expectCode(() => ops.sgdStep(w, g, b, { lr: 0.1, learningRate: 1 } as never), 'ERR_ARGUMENT', 'unknown key');
});

test.run();
