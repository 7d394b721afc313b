/**
 * Two independent interpreters of a GraphDesc, the oracles of the Net tests:
 *  - composedStep: the graph run node by node on the single native ops (no fusion),
 *    its backward composed by hand, gradients accumulated where a value has several
 *    consumers;
 *  - loss64: the training-mode loss in float64 from the TypeScript references, for
 *    finite differences.
 * Parameters are PyTorch layout (OIHW conv weights), as Net.getParameters returns them.
 */
import type { GraphDesc, GraphNode } from '../../lib/models/graph';
import { bot } from './lib';
import {
  addRef, batchNormTrainRef, conv2dRef, crossEntropyRef, globalAvgPoolRef, linearRef, poolRef, reluRef, smoothedTargets, win,
} from './reference';

const { ops } = bot;
type T = { data: Float32Array; shape: number[] };
type Params = Record<string, { data: ArrayLike<number>; shape: number[] }>;

/** OIHW (K, Cg, R, S) → KRSC (K, R, S, Cg), into `out` (Float32Array by default). */
export function oihwToKrsc<A extends Float32Array | Float64Array = Float32Array>(w: ArrayLike<number>, shape: number[], out?: A): A {
  const [k, cg, r, s] = shape;
  out = out ?? (new Float32Array(k * r * s * cg) as A);
  for (let o = 0; o < k; o++)
    for (let c = 0; c < cg; c++)
      for (let i = 0; i < r; i++) for (let j = 0; j < s; j++) out[((o * r + i) * s + j) * cg + c] = w[((o * cg + c) * r + i) * s + j];
  return out;
}

export function krscToOihw(w: ArrayLike<number>, shape: number[]): Float32Array {
  const [k, cg, r, s] = shape;
  const out = new Float32Array(k * r * s * cg);
  for (let o = 0; o < k; o++)
    for (let c = 0; c < cg; c++)
      for (let i = 0; i < r; i++) for (let j = 0; j < s; j++) out[((o * cg + c) * r + i) * s + j] = w[((o * r + i) * s + j) * cg + c];
  return out;
}

function krscShape(shape: number[]): number[] {
  return [shape[0], shape[2], shape[3], shape[1]];
}

function f32(a: ArrayLike<number>): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a);
}

export interface ComposedResult {
  loss: number;
  logits: T;
  grads: Record<string, Float32Array>;
}

/** Forward (training-mode BN), loss and backward of `graph` composed from single ops. */
export function composedStep(graph: GraphDesc, params: Params, images: T, labels: Int32Array, smoothing: number): ComposedResult {
  const vals = new Map<string, T>([['input', images]]);
  const saved = new Map<string, { saveMean: Float32Array; saveInvstd: Float32Array }>();
  const W = (name: string) => ({ data: oihwToKrsc(params[name].data, params[name].shape), shape: krscShape(params[name].shape) });
  const P = (name: string) => f32(params[name].data);
  for (const n of graph.nodes) {
    const x = vals.get(n.inputs[0])!;
    let y: T;
    switch (n.op) {
      case 'conv2d':
        y = ops.conv2d(x, W(n.weight), { stride: n.stride, padding: n.padding, groups: n.groups });
        break;
      case 'batchnorm': {
        const c = x.shape[x.shape.length - 1];
        const r = ops.batchNorm(x, {
          gamma: P(n.weight), beta: P(n.bias), runningMean: new Float32Array(c), runningVar: new Float32Array(c).fill(1),
          training: true, eps: n.eps, momentum: n.momentum,
        });
        saved.set(n.name, r);
        y = r.y;
        break;
      }
      case 'relu':
        y = ops.relu(x);
        break;
      case 'add':
        y = ops.add(x, vals.get(n.inputs[1])!);
        break;
      case 'maxpool2d':
        y = ops.maxPool2d(x, { kernel: n.kernel, stride: n.stride, padding: n.padding, ceilMode: n.ceilMode });
        break;
      case 'avgpool2d':
        y = ops.avgPool2d(x, { kernel: n.kernel, stride: n.stride, padding: n.padding, ceilMode: n.ceilMode, countIncludePad: n.countIncludePad });
        break;
      case 'globalavgpool':
        y = ops.globalAvgPool(x);
        break;
      case 'linear':
        y = ops.linear(x, { data: P(n.weight), shape: params[n.weight].shape }, n.bias ? { data: P(n.bias), shape: params[n.bias].shape } : undefined);
        break;
    }
    vals.set(n.name, y!);
  }
  const logits = vals.get(graph.output)!;
  const ce = ops.softmaxCrossEntropy(logits, { labels, smoothing });

  const grads: Record<string, Float32Array> = {};
  const g = new Map<string, T>([[graph.output, ce.grad]]);
  const give = (name: string, d: T) => {
    if (name === 'input') return;
    const prev = g.get(name);
    g.set(name, prev ? ops.add(prev, d) : d);
  };
  for (const n of [...graph.nodes].reverse() as GraphNode[]) {
    const dy = g.get(n.name)!;
    const x = vals.get(n.inputs[0])!;
    switch (n.op) {
      case 'conv2d': {
        const w = W(n.weight);
        const o = { stride: n.stride, padding: n.padding, groups: n.groups };
        grads[n.weight] = krscToOihw(ops.conv2dBackwardFilter(x, dy, { ...o, weightShape: w.shape }).data, params[n.weight].shape);
        give(n.inputs[0], ops.conv2dBackwardData(dy, w, { ...o, inputShape: x.shape }));
        break;
      }
      case 'batchnorm': {
        const s = saved.get(n.name)!;
        const r = ops.batchNormBackward(x, dy, { gamma: P(n.weight), saveMean: s.saveMean, saveInvstd: s.saveInvstd, training: true });
        grads[n.weight] = r.dgamma;
        grads[n.bias] = r.dbeta;
        give(n.inputs[0], r.dx);
        break;
      }
      case 'relu':
        give(n.inputs[0], ops.reluBackward(vals.get(n.name)!, dy));
        break;
      case 'add':
        give(n.inputs[0], dy);
        give(n.inputs[1], dy);
        break;
      case 'maxpool2d':
        give(n.inputs[0], ops.maxPool2dBackward(x, dy, { kernel: n.kernel, stride: n.stride, padding: n.padding, ceilMode: n.ceilMode }));
        break;
      case 'avgpool2d':
        give(n.inputs[0], ops.avgPool2dBackward(dy, {
          inputShape: x.shape, kernel: n.kernel, stride: n.stride, padding: n.padding, ceilMode: n.ceilMode, countIncludePad: n.countIncludePad,
        }));
        break;
      case 'globalavgpool':
        give(n.inputs[0], ops.globalAvgPoolBackward(dy, x.shape));
        break;
      case 'linear': {
        const r = ops.linearBackward(x, { data: P(n.weight), shape: params[n.weight].shape }, dy);
        grads[n.weight] = r.dw.data;
        if (n.bias) grads[n.bias] = r.db.data;
        give(n.inputs[0], r.dx);
        break;
      }
    }
  }
  return { loss: ce.loss, logits, grads };
}

/** The training-mode loss of `graph` in float64 (BN with batch statistics). */
export function loss64(graph: GraphDesc, params: Params, images: { data: ArrayLike<number>; shape: number[] }, labels: Int32Array, smoothing: number): number {
  const vals = new Map<string, { data: ArrayLike<number>; shape: number[] }>([['input', images]]);
  for (const n of graph.nodes) {
    const x = vals.get(n.inputs[0])!;
    let y: { data: ArrayLike<number>; shape: number[] };
    switch (n.op) {
      case 'conv2d': {
        const p = params[n.weight];
        const r = conv2dRef(x.data, x.shape, oihwToKrsc(p.data, p.shape, new Float64Array(p.data.length)), krscShape(p.shape), { stride: n.stride, padding: n.padding, groups: n.groups });
        y = { data: r.y, shape: r.shape };
        break;
      }
      case 'batchnorm': {
        const c = x.shape[x.shape.length - 1];
        y = { data: batchNormTrainRef(x.data, c, params[n.weight].data, params[n.bias].data, n.eps), shape: x.shape };
        break;
      }
      case 'relu':
        y = { data: reluRef(x.data), shape: x.shape };
        break;
      case 'add':
        y = { data: addRef(x.data, vals.get(n.inputs[1])!.data), shape: x.shape };
        break;
      case 'maxpool2d':
      case 'avgpool2d': {
        const w = win({ kernel: n.kernel, stride: n.stride, padding: n.padding, ceilMode: n.ceilMode, countIncludePad: n.op === 'avgpool2d' ? n.countIncludePad : true });
        const r = poolRef(x.data, x.shape, w, n.op === 'maxpool2d' ? 'max' : 'avg');
        y = { data: r.y, shape: r.shape };
        break;
      }
      case 'globalavgpool': {
        const [b, h, w, c] = x.shape;
        y = { data: globalAvgPoolRef(x.data, b, h * w, c), shape: [b, c] };
        break;
      }
      case 'linear': {
        const [b, inF] = x.shape;
        y = { data: linearRef(x.data, params[n.weight].data, n.bias ? params[n.bias].data : null, b, inF, n.outFeatures), shape: [b, n.outFeatures] };
        break;
      }
    }
    vals.set(n.name, y!);
  }
  const z = vals.get(graph.output)!;
  const [b, k] = z.shape;
  return crossEntropyRef(z.data, smoothedTargets(labels, k, smoothing), b, k);
}

/**
 * The eval-mode forward of `graph` (BN with its running statistics) composed from single
 * ops: the oracle of a Net's inference path, where BN is folded into the conv before it.
 */
export function composedEval(graph: GraphDesc, params: Params, images: T): T {
  const vals = new Map<string, T>([['input', images]]);
  const W = (name: string) => ({ data: oihwToKrsc(params[name].data, params[name].shape), shape: krscShape(params[name].shape) });
  const P = (name: string) => f32(params[name].data);
  for (const n of graph.nodes) {
    const x = vals.get(n.inputs[0])!;
    let y: T;
    switch (n.op) {
      case 'conv2d':
        y = ops.conv2d(x, W(n.weight), { stride: n.stride, padding: n.padding, groups: n.groups });
        break;
      case 'batchnorm':
        y = ops.batchNorm(x, { gamma: P(n.weight), beta: P(n.bias), runningMean: P(n.runningMean).slice(), runningVar: P(n.runningVar).slice(), training: false, eps: n.eps }).y;
        break;
      case 'relu':
        y = ops.relu(x);
        break;
      case 'add':
        y = ops.add(x, vals.get(n.inputs[1])!);
        break;
      case 'avgpool2d':
        y = ops.avgPool2d(x, { kernel: n.kernel, stride: n.stride, padding: n.padding, ceilMode: n.ceilMode, countIncludePad: n.countIncludePad });
        break;
      case 'maxpool2d':
        y = ops.maxPool2d(x, { kernel: n.kernel, stride: n.stride, padding: n.padding, ceilMode: n.ceilMode });
        break;
      case 'globalavgpool':
        y = ops.globalAvgPool(x);
        break;
      case 'linear':
        y = ops.linear(x, { data: P(n.weight), shape: params[n.weight].shape }, n.bias ? { data: P(n.bias), shape: params[n.bias].shape } : undefined);
        break;
      default:
        throw new Error(`composedEval: op ${(n as GraphNode).op}`);
    }
    vals.set(n.name, y);
  }
  return vals.get(graph.output)!;
}
