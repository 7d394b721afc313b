/**
 * Static analysis of a GraphDesc for one input size: each node's output shape, its
 * trainable parameter count and its multiply-adds. It also checks the description is
 * well formed (names unique, inputs defined earlier, parameter shapes agreeing with the
 * activations), so a model fails here, in TypeScript, with a clear message rather than
 * in the core. Shapes are per sample in the core's layout: (H, W, C) for activations,
 * (C) after global pooling and linear layers.
 *
 * Multiply-adds (MACs) count convolutions and linear layers only, the convention of the
 * published ResNet numbers: conv Ho·Wo·Cout·(Cin/groups)·kh·kw, linear in·out. BN, ReLU,
 * pooling and the residual additions are not counted.
 */
import { BagOfTricksError } from '../errors';
import { GraphDesc, GraphNode, ParameterSpec } from './graph';

/** What analyzeGraph finds for one node of a graph at a given input size. */
export interface NodeInfo {
  /** The node's name (its output's name). */
  name: string;
  /** The node's op kind. */
  op: GraphNode['op'];
  /** Per sample: [H, W, C] for activations, [C] after globalavgpool / linear. */
  outputShape: number[];
  /** Elements of the trainable parameters this node owns (conv/linear weight and bias, BN γ and β). */
  params: number;
  /** Multiply-adds per sample (conv and linear only). */
  macs: number;
}

function bad(message: string): never {
  throw new BagOfTricksError('ERR_SHAPE', `graph: ${message}`);
}

/** PyTorch's pooled/convolved size: ⌊(n + 2p − k)/s⌋ + 1, rounded up in ceil mode unless the last window would start in the padding. */
export function windowOutputSize(n: number, k: number, s: number, p: number, ceilMode = false): number {
  let out = Math.floor((n + 2 * p - k + (ceilMode ? s - 1 : 0)) / s) + 1;
  if (ceilMode && (out - 1) * s >= n + p) out -= 1;
  return out;
}

/**
 * Walks the graph once for an input of (H, W) = `inputSize` and returns one NodeInfo per
 * node, in graph order. Throws ERR_SHAPE naming the node when something does not fit.
 */
export function analyzeGraph(graph: GraphDesc, parameters: readonly ParameterSpec[], inputSize: [number, number]): NodeInfo[] {
  const specs = new Map<string, ParameterSpec>();
  for (const p of parameters) {
    if (specs.has(p.name)) bad(`parameter "${p.name}" is declared twice`);
    specs.set(p.name, p);
  }
  const shapes = new Map<string, number[]>([['input', [inputSize[0], inputSize[1], graph.inputChannels]]]);
  const infos: NodeInfo[] = [];

  const param = (node: GraphNode, key: string, shape: number[]): ParameterSpec => {
    const spec = specs.get(key);
    if (!spec) bad(`node "${node.name}" refers to parameter "${key}", which is not declared`);
    if (spec.shape.length !== shape.length || spec.shape.some((d, i) => d !== shape[i])) {
      bad(`parameter "${key}" of node "${node.name}" has shape [${spec.shape}] but the graph needs [${shape}]`);
    }
    return spec;
  };
  const count = (...ps: ParameterSpec[]) => ps.reduce((n, p) => n + (p.trainable ? p.shape.reduce((a, b) => a * b, 1) : 0), 0);

  for (const node of graph.nodes) {
    if (node.name === 'input' || shapes.has(node.name)) bad(`node name "${node.name}" is used twice (or is "input")`);
    const ins = node.inputs.map((i) => {
      const s = shapes.get(i);
      if (!s) bad(`node "${node.name}" reads "${i}", which is not an earlier node or "input"`);
      return s;
    });
    const x = ins[0];
    const spatial = () => {
      if (x.length !== 3) bad(`node "${node.name}" (${node.op}) needs an (H, W, C) activation but "${node.inputs[0]}" is [${x}]`);
      return x;
    };
    let out: number[];
    let params = 0;
    let macs = 0;
    switch (node.op) {
      case 'conv2d': {
        const [h, w, c] = spatial();
        const g = node.groups;
        if (c % g !== 0 || node.outChannels % g !== 0) bad(`conv "${node.name}": ${c} → ${node.outChannels} channels are not divisible by groups ${g}`);
        const [kh, kw] = node.kernel;
        const weight = param(node, node.weight, [node.outChannels, c / g, kh, kw]);
        out = [
          windowOutputSize(h, kh, node.stride[0], node.padding[0]),
          windowOutputSize(w, kw, node.stride[1], node.padding[1]),
          node.outChannels,
        ];
        params = count(weight);
        macs = out[0] * out[1] * node.outChannels * (c / g) * kh * kw;
        break;
      }
      case 'batchnorm': {
        const c = x[x.length - 1];
        const ps = [node.weight, node.bias, node.runningMean, node.runningVar].map((k) => param(node, k, [c]));
        out = x;
        params = count(...ps);
        break;
      }
      case 'relu':
        out = x;
        break;
      case 'add':
        if (ins[1].length !== x.length || ins[1].some((d, i) => d !== x[i])) {
          bad(`add "${node.name}": [${x}] and [${ins[1]}] differ`);
        }
        out = x;
        break;
      case 'maxpool2d':
      case 'avgpool2d': {
        const [h, w, c] = spatial();
        out = [
          windowOutputSize(h, node.kernel[0], node.stride[0], node.padding[0], node.ceilMode),
          windowOutputSize(w, node.kernel[1], node.stride[1], node.padding[1], node.ceilMode),
          c,
        ];
        break;
      }
      case 'globalavgpool':
        out = [spatial()[2]];
        break;
      case 'linear': {
        if (x.length !== 1) bad(`linear "${node.name}" needs (C) features but "${node.inputs[0]}" is [${x}]`);
        const ps = [param(node, node.weight, [node.outFeatures, x[0]])];
        if (node.bias !== undefined) ps.push(param(node, node.bias, [node.outFeatures]));
        out = [node.outFeatures];
        params = count(...ps);
        macs = x[0] * node.outFeatures;
        break;
      }
      default:
        bad(`unknown op ${JSON.stringify((node as { op: unknown }).op)}`);
    }
    if (out.some((d) => d < 1)) bad(`node "${node.name}" has an empty output [${out}] for input ${inputSize[0]}×${inputSize[1]}`);
    shapes.set(node.name, out);
    infos.push({ name: node.name, op: node.op, outputShape: out, params, macs });
  }
  const y = shapes.get(graph.output);
  if (!y) bad(`output "${graph.output}" is not a node`);
  if (y.length !== 1) bad(`output "${graph.output}" must be (N, classes) but is [${y}] per sample`);
  return infos;
}
