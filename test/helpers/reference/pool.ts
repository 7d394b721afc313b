/**
 * float64 max and average pooling, NHWC, written from PyTorch's loops
 * (aten/src/ATen/native/cpu/*PoolKernel.cpp): window clipping, ceil mode and divisors.
 */
export interface Win {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  ceilMode: boolean;
  countIncludePad: boolean;
}

export function win(o: { kernel: number | [number, number]; stride?: number | [number, number]; padding?: number | [number, number]; ceilMode?: boolean; countIncludePad?: boolean }): Win {
  const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);
  return {
    kernel: pair(o.kernel),
    stride: pair(o.stride ?? o.kernel),
    padding: pair(o.padding ?? 0),
    ceilMode: o.ceilMode ?? false,
    countIncludePad: o.countIncludePad ?? true,
  };
}

export function outSize(size: number, k: number, s: number, pad: number, ceil: boolean): number {
  let out = Math.floor((size + 2 * pad - k + (ceil ? s - 1 : 0)) / s) + 1;
  if (ceil && (out - 1) * s >= size + pad) out--;
  return out;
}

/** Max or average pooling in float64; for max also the argmax (flat index into x). */
export function poolRef(x: ArrayLike<number>, shape: number[], w: Win, kind: 'max' | 'avg') {
  const [n, h, wd, c] = shape;
  const P = outSize(h, w.kernel[0], w.stride[0], w.padding[0], w.ceilMode);
  const Q = outSize(wd, w.kernel[1], w.stride[1], w.padding[1], w.ceilMode);
  const y = new Float64Array(n * P * Q * c);
  const arg = new Int32Array(n * P * Q * c);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < P; p++) {
      for (let q = 0; q < Q; q++) {
        let h0 = p * w.stride[0] - w.padding[0];
        let w0 = q * w.stride[1] - w.padding[1];
        let h1 = Math.min(h0 + w.kernel[0], h + w.padding[0]);
        let w1 = Math.min(w0 + w.kernel[1], wd + w.padding[1]);
        const poolSize = (h1 - h0) * (w1 - w0);
        h0 = Math.max(h0, 0);
        w0 = Math.max(w0, 0);
        h1 = Math.min(h1, h);
        w1 = Math.min(w1, wd);
        for (let j = 0; j < c; j++) {
          const o = ((b * P + p) * Q + q) * c + j;
          if (kind === 'max') {
            let best = -Infinity;
            let at = ((b * h + h0) * wd + w0) * c + j;
            for (let i = h0; i < h1; i++) {
              for (let k = w0; k < w1; k++) {
                const idx = ((b * h + i) * wd + k) * c + j;
                if (x[idx] > best || Number.isNaN(x[idx])) {
                  best = x[idx];
                  at = idx;
                }
              }
            }
            y[o] = best;
            arg[o] = at;
          } else {
            let sum = 0;
            for (let i = h0; i < h1; i++) for (let k = w0; k < w1; k++) sum += x[((b * h + i) * wd + k) * c + j];
            const div = w.countIncludePad ? poolSize : (h1 - h0) * (w1 - w0);
            y[o] = h0 < h1 && w0 < w1 ? sum / div : 0;
          }
        }
      }
    }
  }
  return { y, arg, shape: [n, P, Q, c] };
}

