/** A dense tensor on the host: a typed array and its row-major shape. */
export interface Tensor<T extends Float32Array | Int32Array | Uint16Array | Uint8Array = Float32Array> {
  /** The values in row-major order (the last dimension varies fastest); length = product of `shape`. */
  data: T;
  /** Dimensions, outermost first: images are NHWC (N, H, W, C), logits (N, classes). */
  shape: number[];
}

/** Makes a Float32 tensor; `data` defaults to zeros. */
export function tensor(shape: number[], data?: Float32Array | number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = data === undefined ? new Float32Array(n) : data instanceof Float32Array ? data : Float32Array.from(data);
  return { data: d, shape: shape.slice() };
}
