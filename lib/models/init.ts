/**
 * Initial parameter values, as in the paper's baseline (He et al. 2019, §3.1): "The
 * parameters of convolutional and fully-connected layers are initialized with the Xavier
 * algorithm … uniformly drawn from [−a, a], where a = sqrt(6 / (d_in + d_out)) … All biases
 * are initialized to 0. For batch normalization layers, γ vectors are initialized to 1 and
 * β vectors to 0." d_in and d_out are the fans as Glorot & Bengio (2010) and MXNet's
 * `Xavier(rnd_type='uniform', factor_type='avg', magnitude=3)` (the paper's code) compute
 * them, kernel area included:
 *
 *   fan_in  = in/groups · kh · kw       (inputs feeding one output)
 *   fan_out = out · kh · kw / groups    (outputs fed by one input)
 *
 * For a linear layer kh = kw = 1. Running means start at 0 and running variances at 1
 * (PyTorch's BatchNorm). The zero-γ trick (§4.1) sets γ = 0 on the BN layers named in
 * `zeroGamma`, so every residual block starts as the identity.
 *
 * Each tensor is drawn from its own stream, `Random(deriveSeed(seed, key))`.
 */
import { deriveSeed, Random } from '../random';
import { GraphDesc, ParameterSpec } from './graph';

/** fan_in and fan_out of a conv (out, in/groups, kh, kw) or linear (out, in) weight. */
export function fans(shape: readonly number[], groups = 1): { fanIn: number; fanOut: number } {
  const area = shape.length === 4 ? shape[2] * shape[3] : 1;
  return { fanIn: shape[1] * area, fanOut: (shape[0] * area) / groups };
}

/** The Xavier-uniform bound a = sqrt(6 / (fan_in + fan_out)). */
export function xavierBound(shape: readonly number[], groups = 1): number {
  const { fanIn, fanOut } = fans(shape, groups);
  return Math.sqrt(6 / (fanIn + fanOut));
}

export interface InitOptions {
  seed: number;
  /** Keys of BN γ tensors initialised to 0 (zero-γ); every other γ is 1. */
  zeroGamma: ReadonlySet<string>;
}

/** Initial values of every parameter and statistic, keyed and ordered as `parameters`. */
export function initialValues(graph: GraphDesc, parameters: readonly ParameterSpec[], options: InitOptions): Map<string, Float32Array> {
  const groups = new Map<string, number>();
  for (const n of graph.nodes) {
    if (n.op === 'conv2d') groups.set(n.weight, n.groups);
  }
  const out = new Map<string, Float32Array>();
  for (const p of parameters) {
    const data = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    switch (p.kind) {
      case 'weight': {
        const a = xavierBound(p.shape, groups.get(p.name) ?? 1);
        new Random(deriveSeed(options.seed, p.name)).fillUniform(data, -a, a);
        break;
      }
      case 'gamma':
        if (!options.zeroGamma.has(p.name)) data.fill(1);
        break;
      case 'running_var':
        data.fill(1);
        break;
      default: // bias, beta, running_mean
        break;
    }
    out.set(p.name, data);
  }
  return out;
}
