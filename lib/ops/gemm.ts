/** Single-precision matrix multiply on the core's packed GEMM. */
import { callNative, callNativeAsync } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import { expectBool, expectKeys, expectNumber, expectObject, expectTensor, fail } from '../validate';

/**
 * Options of gemm, gemmAsync and gemmReference: C = alpha · op(A) · op(B) + beta · C, where
 * op(A) is (M, K) and op(B) is (K, N). An inner dimension that does not match throws ERR_SHAPE.
 */
export interface GemmOptions {
  /** Use Aᵀ: `a` is (K, M). Default false. */
  transA?: boolean;
  /** Use Bᵀ: `b` is (N, K). Default false. */
  transB?: boolean;
  /** Scale of the product op(A)·op(B). Default 1. */
  alpha?: number;
  /** Scale of `c` in the sum. Default 0; when not 0, `c` (M, N) is required. */
  beta?: number;
  /**
   * The (M, N) matrix added with weight `beta`; read, not modified (the result is a new tensor).
   * Required when beta ≠ 0 (else ERR_ARGUMENT), of shape (M, N) (else ERR_SHAPE).
   */
  c?: Tensor;
}

const KEYS = ['transA', 'transB', 'alpha', 'beta', 'c'] as const;

function prepare(a: Tensor, b: Tensor, options: GemmOptions) {
  const o = expectObject('options', options);
  expectKeys('options', o, KEYS);
  const ta = expectTensor('a', a, 2);
  const tb = expectTensor('b', b, 2);
  const transA = o.transA === undefined ? false : expectBool('options.transA', o.transA);
  const transB = o.transB === undefined ? false : expectBool('options.transB', o.transB);
  const alpha = o.alpha === undefined ? 1 : expectNumber('options.alpha', o.alpha);
  const beta = o.beta === undefined ? 0 : expectNumber('options.beta', o.beta);
  const [m, k] = transA ? [ta.shape[1], ta.shape[0]] : ta.shape;
  const [kb, n] = transB ? [tb.shape[1], tb.shape[0]] : tb.shape;
  if (kb !== k) fail('ERR_SHAPE', `b with inner dimension ${k}`, 'b.shape', tb.shape);
  let c: Float32Array | undefined;
  if (beta !== 0) {
    if (o.c === undefined) fail('ERR_ARGUMENT', 'tensor c when beta ≠ 0', 'options.c', o.c);
    const tc = expectTensor('options.c', o.c, 2);
    if (tc.shape[0] !== m || tc.shape[1] !== n) fail('ERR_SHAPE', `shape [${m}, ${n}]`, 'options.c.shape', tc.shape);
    c = tc.data;
  }
  return { args: [ta.data, tb.data, m, n, k, transA, transB, alpha, beta, c], shape: [m, n] };
}

/** C = alpha · op(A) · op(B) + beta · C, row-major. Returns a new (M, N) tensor. */
export function gemm(a: Tensor, b: Tensor, options: GemmOptions = {}): Tensor {
  const { args, shape } = prepare(a, b, options);
  return { data: callNative(() => native().ops.gemm(...args)), shape };
}

/** gemm off the JS thread. The inputs are copied before the call returns. */
export async function gemmAsync(a: Tensor, b: Tensor, options: GemmOptions = {}): Promise<Tensor> {
  const { args, shape } = prepare(a, b, options);
  return { data: await callNativeAsync(() => native().ops.gemmAsync(...args)), shape };
}

/** The plain triple loop the packed GEMM is tested against. */
export function gemmReference(a: Tensor, b: Tensor, options: GemmOptions = {}): Tensor {
  const { args, shape } = prepare(a, b, options);
  return { data: callNative(() => native().ops.gemmReference(...args)), shape };
}
