/**
 * ONNX export of a model of the zoo: `exportOnnx(model, parameters, options)` gives the
 * bytes of a standard ONNX ModelProto that onnxruntime, TensorRT or any ONNX reader runs.
 *
 * The graph is the model's own description (models/graph.ts), node for node, translated
 * to ONNX's NCHW convention; the core's NHWC layout never shows:
 *
 *   input   "input"   float32 (batch, C, H, W); batch is always symbolic, H and W are too
 *                     unless `inputSize` fixes them
 *   conv2d            Conv (weights are already OIHW in a state dict; pads [t, l, b, r])
 *   batchnorm         BatchNormalization with the running statistics (inference), or, with
 *                     `foldBatchNorm`, folded into the preceding Conv:
 *                       s = γ / sqrt(var + ε),  W' = W · s (per output channel),
 *                       b' = β − mean · s
 *   relu, add         Relu, Add
 *   maxpool2d         MaxPool      (kernel_shape, strides, pads, ceil_mode)
 *   avgpool2d         AveragePool  (… and count_include_pad: the ResNet-D shortcut's
 *                     2×2 pool is ceil_mode=1, count_include_pad=0, as in PyTorch)
 *   globalavgpool     GlobalAveragePool then Flatten: (N, C, 1, 1) → (N, C)
 *   linear            Gemm with transB=1: x · Wᵀ + b, W (out, in) as in PyTorch
 *   output  "logits"  float32 (batch, classes), before softmax
 *
 * Values keep the model's node names (`layer1.0.act1`), initializers their state-dict keys
 * (`layer1.0.conv1.weight`; a folded Conv's are `<conv>.weight` and `<conv>.bias`), stored
 * as FLOAT raw_data, little-endian. The file is encoded with protobufjs from the schema in
 * onnxSchema.ts.
 *
 * Parameters are PyTorch-layout values by state-dict key, as `net.getParameters()`,
 * `model.initialParameters()` or a checkpoint give them: every key of
 * `model.parameters()` must be there with its number of elements (else ERR_ARGUMENT
 * naming the key, or ERR_SHAPE), and no other key.
 */
import { BagOfTricksError } from '../errors';
import { GraphDesc, GraphNode, ParameterSpec, Pair } from '../models/graph';
import type { Model } from '../models/model';
import { analyzeGraph, NodeInfo } from '../models/shapes';
import { Tensor } from '../tensor';
import { describe, expectBool, expectInt, expectKeys, expectObject, expectPair, fail, numel } from '../validate';
import {
  ATTRIBUTE_TYPE, ONNX_FLOAT, OnnxAttribute, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo, onnxModelType,
} from './onnxSchema';

/** Options of exportOnnx() and buildOnnxModel(). Unknown keys throw ERR_ARGUMENT. */
export interface OnnxExportOptions {
  /** Version of the default ONNX operator set (ai.onnx), 13 to 21. Default 17. */
  opset?: number;
  /** Fold every BatchNormalization that follows a Conv into the Conv's weight and bias. Default false. */
  foldBatchNorm?: boolean;
  /** Fix the input's H and W (a number for a square input); default: symbolic "height" and "width". The batch stays symbolic. */
  inputSize?: number | [number, number];
  /** Extra string pairs for the model's metadata_props (e.g. the class names). */
  metadata?: Record<string, string>;
}

/** Operator-set versions the exporter writes: every op it uses has this opset's semantics from 13 on. */
export const ONNX_OPSET = { min: 13, max: 21, default: 17 } as const;

/**
 * The IR version to declare for an opset: the one of the onnx release that introduced the
 * opset (onnx's own version table), so any reader that knows the opset reads the file.
 */
export function onnxIrVersion(opset: number): number {
  expectInt('opset', opset, ONNX_OPSET.min, ONNX_OPSET.max);
  if (opset <= 14) return 7; // onnx 1.8–1.9
  if (opset <= 18) return 8; // onnx 1.10–1.13
  if (opset <= 20) return 9; // onnx 1.14–1.15
  return 10; // opset 21: onnx 1.16
}

/** Name of the exported graph's input: images (batch, C, H, W), NCHW float32, preprocessed as for training. */
export const ONNX_INPUT = 'input';
/** Name of the exported graph's output: the logits (batch, classes), before softmax. */
export const ONNX_OUTPUT = 'logits';

/** Node input of our graphs that stands for the image batch. */
const GRAPH_INPUT = 'input';

/** Size used to check a graph's shapes when the input's H and W are left symbolic. */
const CHECK_SIZE: Pair = [224, 224];

const OPTION_KEYS = ['opset', 'foldBatchNorm', 'inputSize', 'metadata'] as const;

/**
 * The ONNX ModelProto of `model` with `parameters`, as a plain object (field names of
 * onnx.proto), before encoding: for inspection, or to count its nodes.
 */
export function buildOnnxModel(model: Model, parameters: ParameterValues, options: OnnxExportOptions = {}): OnnxModel {
  const m = expectModel(model);
  const o = expectObject('options', options);
  expectKeys('options', o, OPTION_KEYS);
  const opset = o.opset === undefined ? ONNX_OPSET.default : expectInt('options.opset', o.opset, ONNX_OPSET.min, ONNX_OPSET.max);
  const fold = o.foldBatchNorm === undefined ? false : expectBool('options.foldBatchNorm', o.foldBatchNorm);
  const inputSize = o.inputSize === undefined ? undefined : expectPair('options.inputSize', o.inputSize, 1);
  const extra = o.metadata === undefined ? {} : expectStringRecord('options.metadata', o.metadata);

  const desc = m.graph();
  const specs = m.parameters();
  const values = gatherParameters(m.name, specs, parameters);
  const shapes = new Map<string, NodeInfo>(analyzeGraph(desc, specs, inputSize ?? CHECK_SIZE).map((n) => [n.name, n]));
  const graph = translate(desc, values, new Map(specs.map((p) => [p.name, p.shape])), shapes, fold);

  const outInfo = shapes.get(desc.output)!;
  const spatial = (label: string, size: number | undefined) => (size === undefined ? { dim_param: label } : { dim_value: size });
  const input = valueInfo(ONNX_INPUT, [{ dim_param: 'batch' }, { dim_value: desc.inputChannels }, spatial('height', inputSize?.[0]), spatial('width', inputSize?.[1])],
    `images (batch, ${desc.inputChannels}, H, W), NCHW float32, preprocessed (resized, normalised) as for training`);
  const output = outInfo.outputShape.length === 1
    ? valueInfo(ONNX_OUTPUT, [{ dim_param: 'batch' }, { dim_value: outInfo.outputShape[0] }], 'unnormalised class scores (batch, classes); softmax gives probabilities')
    : valueInfo(ONNX_OUTPUT, [{ dim_param: 'batch' }, { dim_value: outInfo.outputShape[2] }, { dim_param: 'out_height' }, { dim_param: 'out_width' }], 'the output activation, NCHW');

  const version = packageVersion();
  const metadata = { 'bagoftricks.model': JSON.stringify({ name: m.name, config: m.config }), ...extra };
  return {
    ir_version: onnxIrVersion(opset),
    opset_import: [{ domain: '', version: opset }],
    producer_name: 'bagoftricks',
    producer_version: version,
    model_version: 1,
    doc_string: `${m.name} exported by bagoftricks ${version}${fold ? ' (batch norm folded into the convolutions)' : ''}. `
      + `Input "${ONNX_INPUT}": ${input.doc_string}. Output "${ONNX_OUTPUT}": ${output.doc_string}.`,
    graph: {
      name: m.name,
      doc_string: `${m.name} ${JSON.stringify(m.config)}`,
      node: graph.nodes,
      initializer: graph.initializers,
      input: [input],
      output: [output],
    },
    metadata_props: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
}

/** Encodes a ModelProto built by buildOnnxModel. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const type = onnxModelType();
  return type.encode(type.fromObject(model)).finish();
}

/**
 * The bytes of an ONNX file of `model` with `parameters` (PyTorch layout, by state-dict
 * key). Write them to a `.onnx` file, or hand them to an ONNX runtime directly. The file's
 * input "input" is NCHW float32 (batch, C, H, W), its output "logits" (batch, classes).
 *
 * @param model - A model of the zoo (createModel).
 * @param parameters - Every key of `model.parameters()`, e.g. `net.getParameters()`.
 * @param options - Opset (default 17), BN folding (default off), a fixed input size, metadata.
 * @throws BagOfTricksError ERR_ARGUMENT for bad options or a missing/unexpected parameter
 *   key, ERR_SHAPE for a parameter of the wrong size.
 *
 * @example
 * ```js
 * const fs = require('fs');
 * const { createModel, exportOnnx } = require('bagoftricks');
 * const model = createModel('resnet50d', { numClasses: 10 });
 * const bytes = exportOnnx(model, model.initialParameters(), { foldBatchNorm: true, inputSize: 224 });
 * // after training: exportOnnx(trainer.model, trainer.net.getParameters())
 * fs.writeFileSync('resnet50d.onnx', bytes);
 * ```
 */
export function exportOnnx(model: Model, parameters: ParameterValues, options: OnnxExportOptions = {}): Uint8Array {
  return encodeOnnxModel(buildOnnxModel(model, parameters, options));
}

/** Parameter values by state-dict key: a record or a Map of Float32Arrays or tensors. */
export type ParameterValues = Record<string, Float32Array | Tensor> | Map<string, Float32Array | Tensor>;

// ---------------------------------------------------------------------------------------
// Arguments

function expectModel(model: unknown): Model {
  const m = model as Partial<Model> | null;
  if (typeof m !== 'object' || m === null || typeof m.graph !== 'function' || typeof m.parameters !== 'function' || typeof m.name !== 'string') {
    fail('ERR_ARGUMENT', 'a model (createModel(...))', 'model', model);
  }
  return m as Model;
}

function expectStringRecord(name: string, v: unknown): Record<string, string> {
  const r = expectObject(name, v);
  for (const [k, s] of Object.entries(r)) {
    if (typeof s !== 'string') fail('ERR_ARGUMENT', 'string', `${name}[${JSON.stringify(k)}]`, s);
  }
  return r as Record<string, string>;
}

/** Every parameter of `specs` as a Float32Array of the right length; missing, extra or misshapen values throw. */
function gatherParameters(modelName: string, specs: ParameterSpec[], parameters: unknown): Map<string, Float32Array> {
  const given = parameters instanceof Map ? parameters : expectObject('parameters', parameters);
  const has = (k: string) => (given instanceof Map ? given.has(k) : Object.prototype.hasOwnProperty.call(given, k));
  const get = (k: string): unknown => (given instanceof Map ? given.get(k) : (given as Record<string, unknown>)[k]);
  const out = new Map<string, Float32Array>();
  for (const spec of specs) {
    const name = `parameters[${JSON.stringify(spec.name)}]`;
    if (!has(spec.name)) {
      throw new BagOfTricksError('ERR_ARGUMENT', `Expected a Float32Array or tensor of shape [${spec.shape}] for ${name} (a parameter of ${modelName}) but received undefined`);
    }
    const v = get(spec.name);
    let data: unknown = v;
    if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && 'data' in v) {
      const t = v as { data: unknown; shape?: unknown };
      data = t.data;
      if (t.shape !== undefined && (!Array.isArray(t.shape) || t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i]))) {
        fail('ERR_SHAPE', `shape [${spec.shape}]`, `${name}.shape`, t.shape);
      }
    }
    if (!ArrayBuffer.isView(data)) fail('ERR_ARGUMENT', 'Float32Array or tensor { data, shape }', name, v);
    if (!(data instanceof Float32Array)) fail('ERR_DTYPE', 'Float32Array', name, data);
    const n = numel(spec.shape);
    if (data.length !== n) fail('ERR_SHAPE', `Float32Array of ${n} elements (shape [${spec.shape}])`, name, data);
    out.set(spec.name, data);
  }
  const keys = given instanceof Map ? [...given.keys()] : Object.keys(given);
  for (const k of keys) {
    if (!out.has(k as string)) {
      throw new BagOfTricksError('ERR_ARGUMENT', `Expected only parameters of ${modelName} in parameters but received an unexpected key ${describe(k)}`);
    }
  }
  return out;
}

function packageVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require('../../package.json').version;
}

// ---------------------------------------------------------------------------------------
// Graph translation

/** The graph's nodes and initializers, NCHW. */
function translate(
  desc: GraphDesc, values: Map<string, Float32Array>, dims: Map<string, number[]>, shapes: Map<string, NodeInfo>, fold: boolean,
): { nodes: OnnxNode[]; initializers: OnnxTensor[] } {
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  const init = (name: string, data: Float32Array, shape: number[], doc?: string): string => {
    initializers.push({ name, dims: shape, data_type: ONNX_FLOAT, raw_data: littleEndian(data), ...(doc ? { doc_string: doc } : {}) });
    return name;
  };
  // A parameter in its PyTorch shape (analyzeGraph checked it against the graph).
  const param = (key: string): string => init(key, values.get(key)!, dims.get(key)!);
  const valueName = (name: string) => (name === desc.output ? ONNX_OUTPUT : name);
  const inputName = (name: string) => (name === GRAPH_INPUT ? ONNX_INPUT : valueName(name));
  const emit = (op: string, node: GraphNode, inputs: string[], attribute: OnnxAttribute[] = [], output = valueName(node.name), doc?: string) => {
    nodes.push({ name: node.name, op_type: op, input: inputs, output: [output], attribute, ...(doc ? { doc_string: doc } : {}) });
  };

  // With folding, a BN whose input is a conv read by nothing else disappears into that conv.
  const readers = new Map<string, number>();
  for (const n of desc.nodes) for (const i of n.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  const convs = new Map(desc.nodes.filter((n) => n.op === 'conv2d').map((n) => [n.name, n]));
  const foldedInto = new Map<string, Extract<GraphNode, { op: 'batchnorm' }>>(); // conv name → its BN
  if (fold) {
    for (const n of desc.nodes) {
      if (n.op === 'batchnorm' && convs.has(n.inputs[0]) && readers.get(n.inputs[0]) === 1 && n.inputs[0] !== desc.output) foldedInto.set(n.inputs[0], n);
    }
  }
  const folded = new Set([...foldedInto.values()].map((bn) => bn.name));

  for (const n of desc.nodes) {
    const x = inputName(n.inputs[0]);
    switch (n.op) {
      case 'conv2d': {
        const attrs = [
          ints('kernel_shape', n.kernel), ints('strides', n.stride), ints('pads', [n.padding[0], n.padding[1], n.padding[0], n.padding[1]]),
          ints('dilations', [1, 1]), int('group', n.groups),
        ];
        const bn = foldedInto.get(n.name);
        if (bn) {
          const { weight, bias } = foldBatchNorm(values.get(n.weight)!, n.outChannels, values, bn);
          const w = init(`${n.name}.weight`, weight, dims.get(n.weight)!, `${n.weight} with ${bn.name} folded in`);
          const b = init(`${n.name}.bias`, bias, [n.outChannels], `${bn.name} folded in`);
          emit('Conv', n, [x, w, b], attrs, valueName(bn.name), `${n.name} with ${bn.name} (BatchNormalization, epsilon ${bn.eps}) folded in`);
        } else {
          emit('Conv', n, [x, param(n.weight)], attrs);
        }
        break;
      }
      case 'batchnorm': {
        if (folded.has(n.name)) break;
        emit('BatchNormalization', n, [x, param(n.weight), param(n.bias), param(n.runningMean), param(n.runningVar)], [float('epsilon', n.eps)]);
        break;
      }
      case 'relu':
        emit('Relu', n, [x]);
        break;
      case 'add':
        emit('Add', n, [x, inputName(n.inputs[1])]);
        break;
      case 'maxpool2d':
        emit('MaxPool', n, [x], [...window(n.kernel, n.stride, n.padding), int('ceil_mode', n.ceilMode ? 1 : 0)]);
        break;
      case 'avgpool2d':
        emit('AveragePool', n, [x], [...window(n.kernel, n.stride, n.padding), int('ceil_mode', n.ceilMode ? 1 : 0), int('count_include_pad', n.countIncludePad ? 1 : 0)]);
        break;
      case 'globalavgpool': {
        const pooled = `${n.name}/pooled`; // (N, C, 1, 1); our graph's value is (N, C)
        emit('GlobalAveragePool', n, [x], [], pooled);
        nodes.push({ name: `${n.name}/flatten`, op_type: 'Flatten', input: [pooled], output: [valueName(n.name)], attribute: [int('axis', 1)] });
        break;
      }
      case 'linear': {
        if (!(n.inputs[0] !== GRAPH_INPUT && shapes.get(n.inputs[0])!.outputShape.length === 1)) {
          throw new BagOfTricksError('ERR_ARGUMENT', `ONNX export: linear node "${n.name}" must read a (N, C) value (after globalavgpool)`);
        }
        const inputs = [x, param(n.weight)];
        if (n.bias !== undefined) inputs.push(param(n.bias));
        emit('Gemm', n, inputs, [int('transB', 1)]);
        break;
      }
      default:
        throw new BagOfTricksError('ERR_ARGUMENT', `ONNX export: unsupported op ${describe((n as { op: unknown }).op)}`);
    }
  }
  return { nodes, initializers };
}

/** W' = W · s and b' = β − mean · s per output channel, s = γ / sqrt(var + ε); computed in float64. */
function foldBatchNorm(w: Float32Array, outChannels: number, values: Map<string, Float32Array>, bn: Extract<GraphNode, { op: 'batchnorm' }>): { weight: Float32Array; bias: Float32Array } {
  const gamma = values.get(bn.weight)!;
  const beta = values.get(bn.bias)!;
  const mean = values.get(bn.runningMean)!;
  const variance = values.get(bn.runningVar)!;
  const perChannel = w.length / outChannels; // OIHW: one output channel is a contiguous block
  const weight = new Float32Array(w.length);
  const bias = new Float32Array(outChannels);
  for (let o = 0; o < outChannels; o++) {
    const s = gamma[o] / Math.sqrt(variance[o] + bn.eps);
    for (let j = o * perChannel; j < (o + 1) * perChannel; j++) weight[j] = w[j] * s;
    bias[o] = beta[o] - mean[o] * s;
  }
  return { weight, bias };
}

function window(kernel: Pair, stride: Pair, padding: Pair): OnnxAttribute[] {
  return [ints('kernel_shape', kernel), ints('strides', stride), ints('pads', [padding[0], padding[1], padding[0], padding[1]])];
}

function int(name: string, i: number): OnnxAttribute {
  return { name, type: ATTRIBUTE_TYPE.INT, i };
}

function ints(name: string, values: readonly number[]): OnnxAttribute {
  return { name, type: ATTRIBUTE_TYPE.INTS, ints: values.slice() };
}

function float(name: string, f: number): OnnxAttribute {
  return { name, type: ATTRIBUTE_TYPE.FLOAT, f };
}

function valueInfo(name: string, dim: OnnxValueInfo['type']['tensor_type']['shape']['dim'], doc: string): OnnxValueInfo & { doc_string: string } {
  return { name, type: { tensor_type: { elem_type: ONNX_FLOAT, shape: { dim } } }, doc_string: doc };
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The bytes of `data` as little-endian float32 (a view where the host is little-endian). */
function littleEndian(data: Float32Array): Uint8Array {
  if (HOST_LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return out;
}
