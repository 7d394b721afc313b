/**
 * The fused SGD step on one parameter tensor (PyTorch SGD semantics, dampening 0):
 *   g = grad·gradScale + weightDecay·w;  buf = momentum·buf + g;
 *   w −= lr·(g + momentum·buf) with Nesterov, w −= lr·buf without.
 * Updates `weights` and `momentumBuffer` in place. Weight decay is per tensor: pass 0
 * for biases and BN parameters (the paper's "no bias decay").
 */
import { callNative } from '../errors';
import { native } from '../native';
import { expectArray, expectBool, expectKeys, expectNumber, expectObject, fail } from '../validate';

export interface SgdOptions {
  lr: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 0. */
  weightDecay?: number;
  /** Default true. */
  nesterov?: boolean;
  /** Multiplies the gradient first (1 / loss scale). Default 1. */
  gradScale?: number;
}

export function sgdStep(weights: Float32Array, grad: Float32Array, momentumBuffer: Float32Array, options: SgdOptions): void {
  const w = expectArray<Float32Array>('weights', weights, 'Float32Array');
  expectArray('grad', grad, 'Float32Array', w.length);
  expectArray('momentumBuffer', momentumBuffer, 'Float32Array', w.length);
  const o = expectObject('options', options);
  expectKeys('options', o, ['lr', 'momentum', 'weightDecay', 'nesterov', 'gradScale']);
  const lr = expectNumber('options.lr', o.lr, 0);
  const momentum = o.momentum === undefined ? 0.9 : expectNumber('options.momentum', o.momentum, 0, 0.999999);
  const weightDecay = o.weightDecay === undefined ? 0 : expectNumber('options.weightDecay', o.weightDecay, 0);
  const nesterov = o.nesterov === undefined ? true : expectBool('options.nesterov', o.nesterov);
  const gradScale = o.gradScale === undefined ? 1 : expectNumber('options.gradScale', o.gradScale, Number.MIN_VALUE);
  if (nesterov && momentum === 0) fail('ERR_ARGUMENT', 'momentum > 0 with Nesterov', 'options.momentum', momentum);
  callNative(() => native().ops.sgdStep(w, grad, momentumBuffer, lr, momentum, weightDecay, nesterov, gradScale));
}
