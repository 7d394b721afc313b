/**
 * The graph description a model hands to the core once. The core compiles it into a
 * Net (buffers, forward/backward schedule, parameters, optimizer state).
 *
 * - Nodes are listed in topological order; each node's output is named by `name` and is
 *   an NHWC activation (rank 4), except after `globalavgpool` and `linear`: (N, C).
 * - The graph input is named "input" and has `inputChannels` channels; its H and W are
 *   given when the Net is created.
 * - Parameter tensors are named with PyTorch/timm state-dict keys (`conv1.weight`,
 *   `layer1.0.bn1.running_mean`, `fc.bias`). Inside the core conv weights are KRSC; on the
 *   outside (getParameters/setParameters) they are PyTorch's OIHW.
 * - `decay: false` on a parameter exempts it from weight decay ("no bias decay"); the
 *   model sets it for biases and BN γ/β.
 */
export type Pair = [number, number];

export interface Conv2dNode {
  op: 'conv2d';
  name: string;
  inputs: [string];
  outChannels: number;
  kernel: Pair;
  stride: Pair;
  padding: Pair;
  groups: number;
  /** Parameter key of the weight, (out, in/groups, kh, kw) in PyTorch layout. */
  weight: string;
}

export interface BatchNormNode {
  op: 'batchnorm';
  name: string;
  inputs: [string];
  /** Keys of γ, β, running mean, running variance (PyTorch: weight, bias, running_mean, running_var). */
  weight: string;
  bias: string;
  runningMean: string;
  runningVar: string;
  eps: number;
  momentum: number;
}

export interface ReluNode {
  op: 'relu';
  name: string;
  inputs: [string];
}

/** Element-wise sum of two activations of the same shape (the residual connection). */
export interface AddNode {
  op: 'add';
  name: string;
  inputs: [string, string];
}

export interface MaxPool2dNode {
  op: 'maxpool2d';
  name: string;
  inputs: [string];
  kernel: Pair;
  stride: Pair;
  padding: Pair;
  ceilMode: boolean;
}

export interface AvgPool2dNode {
  op: 'avgpool2d';
  name: string;
  inputs: [string];
  kernel: Pair;
  stride: Pair;
  padding: Pair;
  ceilMode: boolean;
  countIncludePad: boolean;
}

/** (N, H, W, C) → (N, C). */
export interface GlobalAvgPoolNode {
  op: 'globalavgpool';
  name: string;
  inputs: [string];
}

/** (N, C) → (N, outFeatures); weight (out, in), optional bias (out). */
export interface LinearNode {
  op: 'linear';
  name: string;
  inputs: [string];
  outFeatures: number;
  weight: string;
  bias?: string;
}

export type GraphNode =
  | Conv2dNode
  | BatchNormNode
  | ReluNode
  | AddNode
  | MaxPool2dNode
  | AvgPool2dNode
  | GlobalAvgPoolNode
  | LinearNode;

export interface ParameterSpec {
  /** PyTorch state-dict key. */
  name: string;
  /** Shape in PyTorch layout (OIHW for conv weights). */
  shape: number[];
  /** 'weight' | 'bias' | BN 'gamma' | 'beta' | 'running_mean' | 'running_var'. */
  kind: 'weight' | 'bias' | 'gamma' | 'beta' | 'running_mean' | 'running_var';
  /** Trained by the optimizer (false for BN running statistics). */
  trainable: boolean;
  /** Weight decay applies (false for biases and BN γ/β: "no bias decay"). */
  decay: boolean;
}

export interface GraphDesc {
  inputChannels: number;
  nodes: GraphNode[];
  /** Name of the node whose output is the logits (N, numClasses). */
  output: string;
}
