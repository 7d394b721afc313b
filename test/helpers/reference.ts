/**
 * float64 references of the ops, written from their definitions as plain loops. They are
 * the oracles the native kernels are tested against and the functions whose finite
 * differences check the native backward passes. Layouts as in the core: NHWC activations,
 * KRSC conv weights, (out, in) linear weights.
 */
type Arr = ArrayLike<number>;

export { ConvGeometry, conv2dOutputShape, conv2dForward64 } from './reference/conv2d';
export { Win, outSize, poolRef, win } from './reference/pool';
import { ConvGeometry, conv2dForward64, conv2dOutputShape } from './reference/conv2d';

/** y (N, P, Q, K) of a convolution of x (N, H, W, C) with w (K, R, S, C/groups), and its shape. */
export function conv2dRef(x: Arr, xs: number[], w: Arr, ws: number[], g: ConvGeometry): { y: Float64Array; shape: number[] } {
  return { y: conv2dForward64(x, xs, w, ws, g), shape: conv2dOutputShape(xs, ws, g) };
}

/** Training-mode batch norm over the last dimension: batch mean and biased variance. */
export function batchNormTrainRef(x: Arr, c: number, gamma: Arr, beta: Arr, eps: number): Float64Array {
  const m = x.length / c;
  const mean = new Float64Array(c);
  const varc = new Float64Array(c);
  for (let i = 0; i < m; i++) for (let j = 0; j < c; j++) mean[j] += x[i * c + j] / m;
  for (let i = 0; i < m; i++) for (let j = 0; j < c; j++) varc[j] += (x[i * c + j] - mean[j]) ** 2 / m;
  const y = new Float64Array(x.length);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < c; j++) y[i * c + j] = ((x[i * c + j] - mean[j]) / Math.sqrt(varc[j] + eps)) * gamma[j] + beta[j];
  return y;
}

export function reluRef(x: Arr): Float64Array {
  return Float64Array.from(x, (v) => (v > 0 ? v : 0));
}

export function addRef(a: Arr, b: Arr): Float64Array {
  return Float64Array.from(a, (v, i) => v + b[i]);
}

/** (N, HW, C) → (N, C) mean over HW. */
export function globalAvgPoolRef(x: Arr, n: number, hw: number, c: number): Float64Array {
  const y = new Float64Array(n * c);
  for (let b = 0; b < n; b++) for (let i = 0; i < hw; i++) for (let j = 0; j < c; j++) y[b * c + j] += x[(b * hw + i) * c + j] / hw;
  return y;
}

/** y (N, OUT) = x (N, IN) · wᵀ + b. */
export function linearRef(x: Arr, w: Arr, b: Arr | null, n: number, inF: number, out: number): Float64Array {
  const y = new Float64Array(n * out);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let k = 0; k < inF; k++) s += x[i * inF + k] * w[o * inF + k];
      y[i * out + o] = s;
    }
  return y;
}

/** −1/N Σₙ Σₖ q[n,k] log softmax(z)[n,k]. */
export function crossEntropyRef(z: Arr, q: Arr, n: number, k: number): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, z[i * k + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(z[i * k + j] - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < k; j++) total -= q[i * k + j] * (z[i * k + j] - lse);
  }
  return total / n;
}

/** The paper's smoothed target: 1 − ε on the label, ε/(K−1) on every other class. */
export function smoothedTargets(labels: ArrayLike<number>, k: number, eps: number): Float64Array {
  const q = new Float64Array(labels.length * k).fill(eps / (k - 1));
  for (let i = 0; i < labels.length; i++) q[i * k + labels[i]] = 1 - eps;
  return q;
}
