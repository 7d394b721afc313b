/**
 * Softmax cross-entropy averaged over the batch, with its gradient.
 *
 * Hard labels take label smoothing ε as defined in the Bag-of-Tricks paper (§5.2): the
 * true class gets 1 − ε and each of the other K − 1 classes ε/(K − 1). PyTorch's and
 * timm's `label_smoothing` spread ε/K over all K classes instead (true class 1 − ε + ε/K);
 * to reproduce theirs, pass soft targets. Soft targets (mixup, distillation) are given
 * per row and should each sum to 1.
 */
import { callNative } from '../errors';
import { opName } from '../backend';
import { native } from '../native';
import { Tensor } from '../tensor';
import { expectArray, expectKeys, expectNumber, expectObject, expectTensor, fail } from '../validate';

/** The mean loss of a batch and its gradient with respect to the logits. */
export interface CrossEntropyResult {
  /** Mean loss over the batch. */
  loss: number;
  /** d loss / d logits, (N, K). */
  grad: Tensor;
}

/**
 * What softmaxCrossEntropy compares the logits with: N hard labels in [0, K) (Int32Array)
 * with optional label smoothing ε in [0, 1) (default 0, the paper's definition: 1 − ε on the
 * label, ε/(K − 1) on each other class), or (N, K) soft targets whose rows sum to 1.
 * A label out of range or both kinds at once throw ERR_ARGUMENT; a wrong targets shape ERR_SHAPE.
 */
export type CrossEntropyTargets =
  | { labels: Int32Array; smoothing?: number }
  | { targets: Tensor };

/** Mean softmax cross-entropy of logits (N, K) against hard labels or soft targets. */
export function softmaxCrossEntropy(logits: Tensor, target: CrossEntropyTargets): CrossEntropyResult {
  const tz = expectTensor('logits', logits, 2);
  const [n, k] = tz.shape;
  if (k < 2) fail('ERR_SHAPE', 'at least 2 classes', 'logits.shape', tz.shape);
  const o = expectObject('target', target);
  expectKeys('target', o, ['labels', 'smoothing', 'targets']);
  if ('targets' in o) {
    if ('labels' in o || 'smoothing' in o) fail('ERR_ARGUMENT', 'either { labels, smoothing } or { targets }', 'target', Object.keys(o));
    const tt = expectTensor('target.targets', o.targets, 2);
    if (tt.shape[0] !== n || tt.shape[1] !== k) fail('ERR_SHAPE', `shape [${n}, ${k}]`, 'target.targets.shape', tt.shape);
    return callNative(() => native().ops[opName('crossEntropySoft')](tz.data, tz.shape, tt.data));
  }
  const labels = expectArray<Int32Array>('target.labels', o.labels, 'Int32Array', n);
  for (let i = 0; i < n; i++) {
    if (labels[i] < 0 || labels[i] >= k) fail('ERR_ARGUMENT', `label in [0, ${k})`, `target.labels[${i}]`, labels[i]);
  }
  const smoothing = o.smoothing === undefined ? 0 : expectNumber('target.smoothing', o.smoothing, 0, 0.999999);
  return callNative(() => native().ops[opName('crossEntropyHard')](tz.data, tz.shape, labels, smoothing));
}

/**
 * The knowledge-distillation term of the paper (§5.4): T²·CE(softmax(r/T), softmax(z/T))
 * averaged over the batch, with its gradient T·(softmax(z/T) − softmax(r/T))/N. Add it
 * to the hard-label loss for the paper's distillation loss.
 */
export function distillationLoss(logits: Tensor, teacherLogits: Tensor, temperature = 20): CrossEntropyResult {
  const tz = expectTensor('logits', logits, 2);
  const tr = expectTensor('teacherLogits', teacherLogits, 2);
  if (tz.shape[1] < 2) fail('ERR_SHAPE', 'at least 2 classes', 'logits.shape', tz.shape);
  if (tr.shape[0] !== tz.shape[0] || tr.shape[1] !== tz.shape[1]) fail('ERR_SHAPE', `shape [${tz.shape.join(', ')}]`, 'teacherLogits.shape', tr.shape);
  const t = expectNumber('temperature', temperature, Number.MIN_VALUE, 1e6);
  return callNative(() => native().ops.crossEntropyDistill(tz.data, tz.shape, tr.data, t));
}
