/**
 * The fused SGD step on one parameter tensor (PyTorch SGD semantics, dampening 0):
 *   g = grad·gradScale + weightDecay·w;  buf = momentum·buf + g;
 *   w −= lr·(g + momentum·buf) with Nesterov, w −= lr·buf without.
 * Updates `weights` and `momentumBuffer` in place. Weight decay is per tensor: pass 0
 * for biases and BN parameters (the paper's "no bias decay").
 */
import { callNative } from '../errors';
import { opName } from '../backend';
import { native } from '../native';
import { expectArray, expectBool, expectKeys, expectNumber, expectObject, fail } from '../validate';

/**
 * Hyper-parameters of sgdStep. Unknown keys and out-of-range values throw ERR_ARGUMENT
 * (Nesterov needs momentum > 0; momentum is below 1).
 */
export interface SgdOptions {
  /** Learning rate, ≥ 0. Required. */
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

/**
 * One SGD step on one parameter tensor, in place (PyTorch's SGD with dampening 0):
 * g = grad·gradScale + weightDecay·w; buf = momentum·buf + g; w −= lr·(g + momentum·buf)
 * with Nesterov, w −= lr·buf without.
 * @param weights - The parameter, updated in place.
 * @param grad - Its gradient, same length.
 * @param momentumBuffer - The momentum buffer, same length, updated in place (zeros at the start).
 * @param options - Learning rate, momentum (0.9), weight decay (0), Nesterov (true), gradient scale (1).
 * @throws BagOfTricksError ERR_DTYPE when an array is not a Float32Array, ERR_SHAPE when the
 * lengths differ, ERR_ARGUMENT for bad options.
 */
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
  callNative(() => native().ops[opName('sgdStep')](w, grad, momentumBuffer, lr, momentum, weightDecay, nesterov, gradScale));
}
