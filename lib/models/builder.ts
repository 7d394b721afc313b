/**
 * Builds a GraphDesc node by node, declaring each node's parameters (PyTorch state-dict
 * keys `<node>.weight`, `<node>.bias`, `<node>.running_mean`, `<node>.running_var`) in the
 * order the nodes are added, and tracking channel counts so weight shapes come out right.
 * Model definitions (resnet.ts) only say which layers to stack.
 */
import { BagOfTricksError } from '../errors';
import { GraphDesc, GraphNode, Pair, ParameterSpec } from './graph';

export class GraphBuilder {
  private readonly nodes: GraphNode[] = [];
  private readonly params: ParameterSpec[] = [];
  /** Channels of each node's output (C of NHWC, or features after pooling/linear). */
  private readonly channels = new Map<string, number>();

  constructor(readonly inputChannels: number) {
    this.channels.set('input', inputChannels);
  }

  /** Channels of a node's output. */
  channelsOf(name: string): number {
    const c = this.channels.get(name);
    if (c === undefined) throw new BagOfTricksError('ERR_INTERNAL', `graph builder: no node named "${name}"`);
    return c;
  }

  private add_(node: GraphNode, outChannels: number): string {
    if (this.channels.has(node.name)) throw new BagOfTricksError('ERR_INTERNAL', `graph builder: duplicate node "${node.name}"`);
    for (const i of node.inputs) this.channelsOf(i);
    this.nodes.push(node);
    this.channels.set(node.name, outChannels);
    return node.name;
  }

  private param(name: string, shape: number[], kind: ParameterSpec['kind']): string {
    const trainable = kind !== 'running_mean' && kind !== 'running_var';
    // "No bias decay": biases and BN γ/β are not decayed, nor are statistics (not trained).
    this.params.push({ name, shape, kind, trainable, decay: kind === 'weight' });
    return name;
  }

  /** Convolution without bias; weight (out, in/groups, kh, kw). */
  conv(name: string, input: string, outChannels: number, kernel: number, stride: number, padding: number, groups = 1): string {
    const inChannels = this.channelsOf(input);
    const weight = this.param(`${name}.weight`, [outChannels, inChannels / groups, kernel, kernel], 'weight');
    const k: Pair = [kernel, kernel];
    return this.add_(
      { op: 'conv2d', name, inputs: [input], outChannels, kernel: k, stride: [stride, stride], padding: [padding, padding], groups, weight },
      outChannels,
    );
  }

  batchNorm(name: string, input: string, eps: number, momentum: number): string {
    const c = this.channelsOf(input);
    return this.add_(
      {
        op: 'batchnorm',
        name,
        inputs: [input],
        weight: this.param(`${name}.weight`, [c], 'gamma'),
        bias: this.param(`${name}.bias`, [c], 'beta'),
        runningMean: this.param(`${name}.running_mean`, [c], 'running_mean'),
        runningVar: this.param(`${name}.running_var`, [c], 'running_var'),
        eps,
        momentum,
      },
      c,
    );
  }

  relu(name: string, input: string): string {
    return this.add_({ op: 'relu', name, inputs: [input] }, this.channelsOf(input));
  }

  add(name: string, a: string, b: string): string {
    return this.add_({ op: 'add', name, inputs: [a, b] }, this.channelsOf(a));
  }

  maxPool(name: string, input: string, kernel: number, stride: number, padding: number): string {
    return this.add_(
      { op: 'maxpool2d', name, inputs: [input], kernel: [kernel, kernel], stride: [stride, stride], padding: [padding, padding], ceilMode: false },
      this.channelsOf(input),
    );
  }

  avgPool(name: string, input: string, kernel: number, stride: number, ceilMode: boolean, countIncludePad: boolean): string {
    return this.add_(
      { op: 'avgpool2d', name, inputs: [input], kernel: [kernel, kernel], stride: [stride, stride], padding: [0, 0], ceilMode, countIncludePad },
      this.channelsOf(input),
    );
  }

  globalAvgPool(name: string, input: string): string {
    return this.add_({ op: 'globalavgpool', name, inputs: [input] }, this.channelsOf(input));
  }

  /** Fully connected layer with bias; weight (out, in). */
  linear(name: string, input: string, outFeatures: number): string {
    const inFeatures = this.channelsOf(input);
    const weight = this.param(`${name}.weight`, [outFeatures, inFeatures], 'weight');
    const bias = this.param(`${name}.bias`, [outFeatures], 'bias');
    return this.add_({ op: 'linear', name, inputs: [input], outFeatures, weight, bias }, outFeatures);
  }

  build(output: string): { graph: GraphDesc; parameters: ParameterSpec[] } {
    this.channelsOf(output);
    return { graph: { inputChannels: this.inputChannels, nodes: this.nodes, output }, parameters: this.params };
  }
}
