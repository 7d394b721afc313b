/** Fully connected layer, PyTorch layout: y = x·wᵀ + b, w is (out, in). */
import { callNative, callNativeAsync } from '../errors';
import { opName } from '../backend';
import { native } from '../native';
import { Tensor } from '../tensor';
import { expectTensor, fail } from '../validate';

function prepare(x: Tensor, w: Tensor, b?: Tensor | null) {
  const tx = expectTensor('x', x, 2);
  const tw = expectTensor('w', w, 2);
  if (tw.shape[1] !== tx.shape[1]) fail('ERR_SHAPE', `w with ${tx.shape[1]} input features (shape [out, ${tx.shape[1]}])`, 'w.shape', tw.shape);
  let bias: Float32Array | null = null;
  if (b !== undefined && b !== null) {
    const tb = expectTensor('b', b, 1);
    if (tb.shape[0] !== tw.shape[0]) fail('ERR_SHAPE', `shape [${tw.shape[0]}]`, 'b.shape', tb.shape);
    bias = tb.data;
  }
  return { tx, tw, bias };
}

/** y (N, OUT) = x (N, IN) · wᵀ + b. `b` may be omitted. */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  const { tx, tw, bias } = prepare(x, w, b);
  return callNative(() => native().ops[opName('linear')](tx.data, tx.shape, tw.data, tw.shape, bias));
}

/** linear off the JS thread; inputs are copied before it returns. */
export function linearAsync(x: Tensor, w: Tensor, b?: Tensor | null): Promise<Tensor> {
  const { tx, tw, bias } = prepare(x, w, b);
  return callNativeAsync(() => native().ops[opName('linearAsync')](tx.data, tx.shape, tw.data, tw.shape, bias));
}

/** The gradients linearBackward returns, in the shapes of the forward's tensors. */
export interface LinearGradients {
  /** d loss / d x = dy · w, shape (N, IN). */
  dx: Tensor;
  /** d loss / d w = dyᵀ · x, shape (OUT, IN) (PyTorch layout). */
  dw: Tensor;
  /** d loss / d b = Σₙ dy, shape (OUT). */
  db: Tensor;
}

/** Gradients of linear: dx = dy·w, dw = dyᵀ·x, db = Σₙ dy. */
export function linearBackward(x: Tensor, w: Tensor, dy: Tensor): LinearGradients {
  const { tx, tw } = prepare(x, w);
  const tdy = expectTensor('dy', dy, 2);
  if (tdy.shape[0] !== tx.shape[0] || tdy.shape[1] !== tw.shape[0]) {
    fail('ERR_SHAPE', `shape [${tx.shape[0]}, ${tw.shape[0]}]`, 'dy.shape', tdy.shape);
  }
  return callNative(() => native().ops[opName('linearBackward')](tx.data, tx.shape, tw.data, tw.shape, tdy.data));
}
