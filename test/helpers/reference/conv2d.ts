/**
 * Float64 reference of the 2-D convolution, straight from the definition (NHWC x, KRSC w,
 * cross-correlation as PyTorch). Independent of the native oracles, so each checks the
 * other; gradient tests take finite differences of Σ y·g through it.
 */

export interface ConvGeometry {
  stride: [number, number];
  padding: [number, number];
  groups: number;
}

/** [N, P, Q, K] for x [N, H, W, C] and w [K, R, S, C / groups]. */
export function conv2dOutputShape(xShape: number[], wShape: number[], g: ConvGeometry): number[] {
  const [n, h, w] = xShape;
  const [k, r, s] = wShape;
  const p = Math.floor((h + 2 * g.padding[0] - r) / g.stride[0]) + 1;
  const q = Math.floor((w + 2 * g.padding[1] - s) / g.stride[1]) + 1;
  return [n, p, q, k];
}

/** y (N, P, Q, K) = conv2d(x, w) in float64. */
export function conv2dForward64(
  x: ArrayLike<number>,
  xShape: number[],
  w: ArrayLike<number>,
  wShape: number[],
  g: ConvGeometry,
): Float64Array {
  const [N, H, W, C] = xShape;
  const [K, R, S, Cg] = wShape;
  const [, P, Q] = conv2dOutputShape(xShape, wShape, g);
  const Kg = K / g.groups;
  const y = new Float64Array(N * P * Q * K);
  for (let n = 0; n < N; n++)
    for (let p = 0; p < P; p++)
      for (let q = 0; q < Q; q++)
        for (let k = 0; k < K; k++) {
          const c0 = Math.floor(k / Kg) * Cg;
          let acc = 0;
          for (let r = 0; r < R; r++) {
            const ih = p * g.stride[0] - g.padding[0] + r;
            if (ih < 0 || ih >= H) continue;
            for (let s = 0; s < S; s++) {
              const iw = q * g.stride[1] - g.padding[1] + s;
              if (iw < 0 || iw >= W) continue;
              const xo = ((n * H + ih) * W + iw) * C + c0;
              const wo = ((k * R + r) * S + s) * Cg;
              for (let c = 0; c < Cg; c++) acc += x[xo + c] * w[wo + c];
            }
          }
          y[((n * P + p) * Q + q) * K + k] = acc;
        }
  return y;
}
