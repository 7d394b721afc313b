/**
 * Label smoothing (§5.2 of the paper; Szegedy et al. 2016): hard labels become soft
 * targets that keep the logits of a well-fitted model bounded.
 *
 * Convention: the paper's, q_i = 1 − ε for i = y and ε/(K − 1) otherwise, so the true
 * class gets exactly 1 − ε and every row sums to 1. It is the one the paper's analysis is
 * written in: the optimal logit gap z*_y − z*_i = log((K − 1)(1 − ε)/ε) of §5.2 (and
 * Figure 4's theoretical gap, 9.1 for K = 1000, ε = 0.1) follows from it. PyTorch's
 * `CrossEntropyLoss(label_smoothing=ε)`, timm and gluon-cv's train_imagenet.py use
 * Szegedy's ε/K instead: (1 − ε)·onehot + ε/K, i.e. 1 − ε + ε/K on the label. The two are
 * the same family reparametrised: theirs with ε' = ε·K/(K − 1) equals ours with ε; for
 * K = 1000 the difference is 0.1 % of ε. The Net's `smoothing` of hard labels uses the same
 * convention as this function, so soft targets built here (for mixup and distillation)
 * agree with what the Net computes from labels.
 */
import { Tensor } from '../tensor';
import { expectInt, expectNumber, fail } from '../validate';

/** Checks labels (an Int32Array or an array of integers) against the class count. */
export function expectLabels(name: string, labels: unknown, classes: number): Int32Array {
  if (!(labels instanceof Int32Array) && !Array.isArray(labels)) fail('ERR_ARGUMENT', 'Int32Array or array of labels', name, labels);
  const out = labels instanceof Int32Array ? labels : new Int32Array(labels.length);
  for (let i = 0; i < out.length; i++) {
    const v = (labels as ArrayLike<unknown>)[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= classes) fail('ERR_ARGUMENT', `label in [0, ${classes})`, `${name}[${i}]`, v);
    out[i] = v;
  }
  return out;
}

/**
 * Soft targets (N, K) for N hard labels: 1 − ε on the label, ε/(K − 1) on each other class.
 * ε = 0 gives one-hot rows. Needs K ≥ 2 classes when ε > 0.
 */
export function smoothLabels(labels: Int32Array | number[], classes: number, eps: number): Tensor {
  const k = expectInt('classes', classes, 1, 1 << 20);
  const e = expectNumber('eps', eps, 0, 0.999999);
  if (e > 0 && k < 2) fail('ERR_ARGUMENT', 'at least 2 classes with eps > 0', 'classes', classes);
  const y = expectLabels('labels', labels, k);
  const n = y.length;
  const off = e > 0 ? e / (k - 1) : 0;
  const data = new Float32Array(n * k).fill(off);
  for (let i = 0; i < n; i++) data[i * k + y[i]] = 1 - e;
  return { data, shape: [n, k] };
}
