/** ReLU and the residual add over tensors of any shape. */
import { callNative } from '../errors';
import { opName } from '../backend';
import { native } from '../native';
import { Tensor } from '../tensor';
import { expectTensor, fail } from '../validate';

function sameShape(name: string, a: number[], b: number[]): void {
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) fail('ERR_SHAPE', `shape [${a.join(', ')}]`, name, b);
}

/** y = max(x, 0). */
export function relu(x: Tensor): Tensor {
  const t = expectTensor('x', x);
  return callNative(() => native().ops[opName('relu')](t.data, t.shape));
}

/** dx = dy where y > 0, else 0; `y` is relu's output. */
export function reluBackward(y: Tensor, dy: Tensor): Tensor {
  const ty = expectTensor('y', y);
  const tdy = expectTensor('dy', dy);
  sameShape('dy.shape', ty.shape, tdy.shape);
  return callNative(() => native().ops[opName('reluBackward')](ty.data, tdy.data, ty.shape));
}

/** y = a + b (same shapes). Its backward passes dy to both inputs unchanged. */
export function add(a: Tensor, b: Tensor): Tensor {
  const ta = expectTensor('a', a);
  const tb = expectTensor('b', b);
  sameShape('b.shape', ta.shape, tb.shape);
  return callNative(() => native().ops[opName('add')](ta.data, tb.data, ta.shape));
}
