/**
 * What every model of the zoo offers: its graph description for the core, its parameter
 * list (PyTorch/timm keys and shapes), seeded initial values and a summary with
 * parameter and multiply-add counts. A concrete model (resnet.ts) only builds the graph.
 */
import { BagOfTricksError } from '../errors';
import { expectPair } from '../validate';
import { GraphDesc, GraphNode, ParameterSpec } from './graph';
import { initialValues } from './init';
import { analyzeGraph } from './shapes';

/** One row of Model.summary(): a node with its output shape, parameters and multiply-adds. */
export interface SummaryRow {
  /** Node name (a module path such as `layer1.0.conv1`). */
  name: string;
  /** The node's op: conv2d, batchnorm, relu, add, maxpool2d, avgpool2d, globalavgpool, linear. */
  type: GraphNode['op'];
  /** Per sample, in the core's layout: [H, W, C], or [C] after global pooling and the classifier. */
  outputShape: number[];
  /** Trainable parameters of this node. */
  params: number;
  /** Multiply-adds per sample (conv and linear layers; 0 for the others). */
  macs: number;
}

/** What Model.summary() reports: one row per node and the totals, per sample. */
export interface ModelSummary {
  /** One row per node, in graph order. */
  rows: SummaryRow[];
  /** Learnable parameters: conv and linear weights and biases, BN γ and β (the published count). */
  params: number;
  /** Of those, the ones the optimizer updates (all of them unless some are frozen). */
  trainableParams: number;
  /** Non-trainable elements kept with the model: BN running means and variances. */
  buffers: number;
  /**
   * Multiply-adds of one forward pass of one sample: conv and linear layers only, as
   * torchvision counts them (ResNet-50 4.09 G, ResNet-18 1.81 G at 224²).
   */
  macs: number;
  /**
   * `macs` plus one operation per output element of every BN and ReLU: the convention of
   * timm's model table ("GMACs": ResNet-18 1.82, ResNet-50 4.11, ResNet-50-D 4.35 at
   * 224²), which DESIGN.md quotes. Compare with those tables using this one.
   */
  timmMacs: number;
  /** [H, W] the summary was computed for. */
  inputSize: [number, number];
}

/**
 * What every model of the zoo offers: the graph the core compiles, the parameter list
 * (PyTorch/timm keys and shapes), seeded initial values and a summary. createModel returns one
 * (a ResNet); Net.fromModel compiles it.
 */
export interface Model<Config = unknown> {
  /** The model's name in the zoo (e.g. "resnet50d"). */
  readonly name: string;
  /** The resolved configuration: the table row plus every option, defaults filled in. */
  readonly config: Config;
  /** The description the core compiles (a fresh copy on each call). */
  graph(): GraphDesc;
  /** Every tensor (BN running statistics included) in PyTorch state-dict order, PyTorch shapes. */
  parameters(): ParameterSpec[];
  /** Seeded initial values of every tensor of parameters(), same keys and order. */
  initialParameters(): Map<string, Float32Array>;
  /** Per-node output shapes, parameters and multiply-adds for a square input of `inputSize` (or [H, W]). */
  summary(inputSize?: number | [number, number]): ModelSummary;
}

/** Largest input side accepted by summary(). */
const MAX_INPUT_SIZE = 65536;

/** A Model over a fixed graph and parameter list; subclasses build those and name the zero-γ layers. */
export class GraphModel<Config> implements Model<Config> {
  constructor(
    readonly name: string,
    readonly config: Config,
    private readonly desc: GraphDesc,
    private readonly specs: ParameterSpec[],
    private readonly seed: number,
    private readonly zeroGamma: ReadonlySet<string>,
  ) {}

  graph(): GraphDesc {
    return structuredClone(this.desc);
  }

  parameters(): ParameterSpec[] {
    return structuredClone(this.specs);
  }

  initialParameters(): Map<string, Float32Array> {
    return initialValues(this.desc, this.specs, { seed: this.seed, zeroGamma: this.zeroGamma });
  }

  summary(inputSize: number | [number, number] = 224): ModelSummary {
    const [h, w] = expectPair('inputSize', inputSize, 1);
    if (h > MAX_INPUT_SIZE || w > MAX_INPUT_SIZE) {
      throw new BagOfTricksError('ERR_ARGUMENT', `Expected integer in [1, ${MAX_INPUT_SIZE}] for inputSize but received ${Math.max(h, w)}`);
    }
    const rows: SummaryRow[] = analyzeGraph(this.desc, this.specs, [h, w]).map((n) => ({
      name: n.name,
      type: n.op,
      outputShape: n.outputShape,
      params: n.params,
      macs: n.macs,
    }));
    let params = 0;
    let trainableParams = 0;
    let buffers = 0;
    for (const p of this.specs) {
      const n = p.shape.reduce((a, b) => a * b, 1);
      if (p.kind === 'running_mean' || p.kind === 'running_var') buffers += n;
      else params += n;
      if (p.trainable) trainableParams += n;
    }
    let macs = 0;
    let normActOps = 0;
    for (const r of rows) {
      macs += r.macs;
      if (r.type === 'batchnorm' || r.type === 'relu') normActOps += r.outputShape.reduce((a, b) => a * b, 1);
    }
    return { rows, params, trainableParams, buffers, macs, timmMacs: macs + normActOps, inputSize: [h, w] };
  }
}
