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

/** Two sizes, [height, width] (kernel, stride, padding of a 2-D op). */
export type Pair = [number, number];

/**
 * A 2-D convolution (cross-correlation) without bias, NHWC → NHWC; KRSC weights inside the core, OIHW outside.
 */
export interface Conv2dNode {
  /** The op kind, 'conv2d'. */
  op: 'conv2d';
  /** Unique node name, also the name of its output (timm's module path, e.g. `layer1.0.conv1`). */
  name: string;
  /** The name of the input activation: an earlier node, or "input" for the images. */
  inputs: [string];
  /** Output channels K. */
  outChannels: number;
  /** Kernel size [R, S] (height, width). */
  kernel: Pair;
  /** Stride [height, width]. */
  stride: Pair;
  /** Zero padding [height, width] on each side. */
  padding: Pair;
  /** Channel groups (1 for a dense convolution). */
  groups: number;
  /** Parameter key of the weight, (out, in/groups, kh, kw) in PyTorch layout. */
  weight: string;
}

/**
 * Batch normalisation over the channels of an NHWC activation (PyTorch semantics; running statistics in eval mode).
 */
export interface BatchNormNode {
  /** The op kind, 'batchnorm'. */
  op: 'batchnorm';
  /** Unique node name, also the name of its output (timm's module path, e.g. `layer1.0.conv1`). */
  name: string;
  /** The name of the input activation: an earlier node, or "input" for the images. */
  inputs: [string];
  /** Keys of γ, β, running mean, running variance (PyTorch: weight, bias, running_mean, running_var). */
  weight: string;
  /** Parameter key of β (PyTorch's `bias`). */
  bias: string;
  /** Key of the running mean (`running_mean`). */
  runningMean: string;
  /** Key of the running (unbiased) variance (`running_var`). */
  runningVar: string;
  /** Added to the variance before the square root (PyTorch's default 1e-5). */
  eps: number;
  /** Weight of a batch's statistics in the running ones (PyTorch's default 0.1). */
  momentum: number;
}

/** y = max(x, 0), any shape. */
export interface ReluNode {
  /** The op kind, 'relu'. */
  op: 'relu';
  /** Unique node name, also the name of its output (timm's module path, e.g. `layer1.0.conv1`). */
  name: string;
  /** The name of the input activation: an earlier node, or "input" for the images. */
  inputs: [string];
}

/** Element-wise sum of two activations of the same shape (the residual connection). */
export interface AddNode {
  /** The op kind, 'add'. */
  op: 'add';
  /** Unique node name, also the name of its output (timm's module path, e.g. `layer1.0.conv1`). */
  name: string;
  /** The names of the two summed activations (nodes or "input"). */
  inputs: [string, string];
}

/** Max pooling on an NHWC activation (PyTorch's output sizes; the ResNet stem's 3×3, stride 2, padding 1). */
export interface MaxPool2dNode {
  /** The op kind, 'maxpool2d'. */
  op: 'maxpool2d';
  /** Unique node name, also the name of its output (timm's module path, e.g. `layer1.0.conv1`). */
  name: string;
  /** The name of the input activation: an earlier node, or "input" for the images. */
  inputs: [string];
  /** Window [height, width]. */
  kernel: Pair;
  /** Stride [height, width]. */
  stride: Pair;
  /** Implicit padding [height, width] on each side (never the maximum). */
  padding: Pair;
  /** Round the output size up (PyTorch's ceil_mode). */
  ceilMode: boolean;
}

/**
 * Average pooling on an NHWC activation (PyTorch's divisors; the ResNet-D shortcut's 2×2, stride 2, ceilMode, countIncludePad false).
 */
export interface AvgPool2dNode {
  /** The op kind, 'avgpool2d'. */
  op: 'avgpool2d';
  /** Unique node name, also the name of its output (timm's module path, e.g. `layer1.0.conv1`). */
  name: string;
  /** The name of the input activation: an earlier node, or "input" for the images. */
  inputs: [string];
  /** Window [height, width]. */
  kernel: Pair;
  /** Stride [height, width]. */
  stride: Pair;
  /** Implicit zero padding [height, width] on each side. */
  padding: Pair;
  /** Round the output size up (PyTorch's ceil_mode). */
  ceilMode: boolean;
  /** Divide by the window including padding (true) or only the elements inside the input (false). */
  countIncludePad: boolean;
}

/** (N, H, W, C) → (N, C). */
export interface GlobalAvgPoolNode {
  /** The op kind, 'globalavgpool'. */
  op: 'globalavgpool';
  /** Unique node name, also the name of its output (timm's module path, e.g. `layer1.0.conv1`). */
  name: string;
  /** The name of the input activation: an earlier node, or "input" for the images. */
  inputs: [string];
}

/** (N, C) → (N, outFeatures); weight (out, in), optional bias (out). */
export interface LinearNode {
  /** The op kind, 'linear'. */
  op: 'linear';
  /** Unique node name, also the name of its output (timm's module path, e.g. `layer1.0.conv1`). */
  name: string;
  /** The name of the input activation: an earlier node, or "input" for the images. */
  inputs: [string];
  /** Output features (the number of classes for the classifier). */
  outFeatures: number;
  /** Parameter key of the weight, (out, in) as in PyTorch. */
  weight: string;
  /** Parameter key of the bias (out), if the layer has one. */
  bias?: string;
}

/** One node of a GraphDesc, told apart by `op`. */
export type GraphNode =
  | Conv2dNode
  | BatchNormNode
  | ReluNode
  | AddNode
  | MaxPool2dNode
  | AvgPool2dNode
  | GlobalAvgPoolNode
  | LinearNode;

/** One tensor a graph declares: a learnable parameter or a BN running statistic. */
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

/**
 * A network as the core compiles it (`new Net(graph, options)`): NHWC activations, nodes in
 * topological order, parameters named by their PyTorch state-dict keys.
 */
export interface GraphDesc {
  /** Channels of the input images (3 for RGB). */
  inputChannels: number;
  /** The nodes in topological order; the graph input is named "input". */
  nodes: GraphNode[];
  /** Name of the node whose output is the logits (N, numClasses). */
  output: string;
}
