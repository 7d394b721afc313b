/**
 * `bagoftricks export`: a checkpoint as an ONNX file (lib/export/onnx.ts), for onnxruntime,
 * TensorRT or any other ONNX reader.
 *
 *   bagoftricks export --checkpoint runs/x/best.safetensors --onnx model.onnx
 *   bagoftricks export --checkpoint resnet50d.safetensors --model resnet50d --onnx r50d.onnx --fold-bn
 *   ... --json                                                one JSON line
 *
 * The model: a checkpoint of ours (bagoftricks train, Trainer.save) names it and its
 * configuration in its metadata. A plain state dict (PyTorch/timm keys, no metadata) needs
 * `--model NAME`; the classes come from fc.weight's rows (classifier.weight's for
 * MobileNetV1), the width from its columns
 * (unless --width), the stem from conv1.weight's kernel for a plain stem (7×7 imagenet,
 * 3×3 cifar) or --stem. The file is read by load.ts (resolveWeights): optimizer buffers,
 * BN counters and a `module.` prefix are dropped; any other key the model lacks, or a key it
 * needs and the file lacks, is ERR_WEIGHTS_MISMATCH listing them.
 *
 * Exit codes: 0 written, 1 a failure (`bagoftricks: CODE: message`), 2 bad usage.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BagOfTricksError } from '../errors';
import { buildOnnxModel, encodeOnnxModel, ONNX_OPSET } from '../export/onnx';
import { checkpointModel, ModelSpec, resolveWeights } from '../load';
import { createModel, listModels, Model, ModelName } from '../models';
import { resolveTransform } from '../data/transforms';
import { Tensor } from '../tensor';
import { readSafetensorsHeader, writeFileAtomic } from '../train/safetensors';
import { FlagSpec, parseCommand, UsageError, usageLine } from './args';

export const EXPORT_USAGE = `Usage: bagoftricks export --checkpoint F --onnx OUT [--model NAME] [--opset 17] [--fold-bn] [--json]

  --checkpoint F   a checkpoint written by bagoftricks train (or Trainer.save), or a plain
                   safetensors state dict with PyTorch/timm keys (then --model is required)
  --onnx OUT       the ONNX file to write (replaced atomically)
  --model NAME     the architecture of a plain state dict (resnet18 ... resnet152d,
                   mobilenetv1_100 ... _025); its classes come from fc.weight
                   (classifier.weight for MobileNetV1)
  --width X        channel multiplier of a plain state dict (default: from those columns)
  --stem S         imagenet or cifar, for a plain state dict (default: from conv1.weight's
                   kernel for a 7×7/3×3 stem; imagenet for the deep stems of C and D and
                   for MobileNetV1)
  --opset N        ONNX operator set, ${ONNX_OPSET.min} to ${ONNX_OPSET.max} (default ${ONNX_OPSET.default})
  --fold-bn        fold each BatchNormalization into the convolution before it
  --size N         fix the input's height and width to N (default: any size; the batch is
                   always free)
  --json           one JSON line {"onnx","bytes","model","opset","irVersion","nodes","initializers","foldBatchNorm"}

The file's input is "input", float32 (batch, C, H, W) images preprocessed as for training;
its output "logits", float32 (batch, classes). The metadata_props give the preprocessing:
bagoftricks.inputSize, bagoftricks.mean and bagoftricks.std (RGB, 0-255 scale), and
bagoftricks.classes.
`;

const FLAGS: Record<string, FlagSpec> = {
  checkpoint: { type: 'string' },
  onnx: { type: 'string' },
  model: { type: 'string', choices: listModels() },
  width: { type: 'number', min: 1e-3, max: 16 },
  stem: { type: 'string', choices: ['imagenet', 'cifar'] },
  opset: { type: 'int', min: ONNX_OPSET.min, max: ONNX_OPSET.max },
  'fold-bn': { type: 'bool' },
  size: { type: 'int', min: 1, max: 65536 },
  json: { type: 'bool' },
  help: { type: 'bool' },
};

type Flags = Record<string, string | number | boolean>;

/**
 * The model of a checkpoint and its parameters, through load.ts's resolveWeights (which
 * drops optimizer buffers and counters and reports keys that do not fit as
 * ERR_WEIGHTS_MISMATCH), with the metadata to keep in the ONNX file.
 */
async function resolveCheckpoint(file: string, flags: Flags): Promise<{ model: Model; parameters: Record<string, Tensor>; metadata: Record<string, string> }> {
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) throw new UsageError(`no checkpoint file at ${JSON.stringify(file)}`);
  const saved = await checkpointModel(file);
  let spec: ModelSpec | undefined;
  if (saved) {
    if (flags.model !== undefined && flags.model !== saved.name) throw new UsageError(`--model ${flags.model} differs from the checkpoint's model ${saved.name}`);
    for (const f of ['width', 'stem']) {
      if (flags[f] !== undefined) throw new UsageError(`--${f} is for plain state dicts; ${file} gives its model's configuration`);
    }
  } else {
    if (flags.model === undefined) throw new UsageError(`--model is required: ${file} has no bagoftricks metadata (a plain state dict)`);
    spec = await plainStateDictModel(file, flags.model as ModelName, flags);
  }
  const r = await resolveWeights(file, spec === undefined ? {} : { model: spec });
  // The preprocessing a consumer of the file needs, with load()'s defaults: the input side,
  // and the eval transform's normalisation x = (pixel − mean) / std per RGB channel, 0–255 scale.
  const stem = (r.model.config as { stem?: string }).stem;
  const inputSize = (flags.size as number | undefined) ?? r.inputSize ?? (stem === 'cifar' ? 32 : 224);
  const transform = resolveTransform(r.evalTransform ?? (stem === 'cifar' ? { type: 'eval', resizeRatio: 1 } : 'eval'), 'evalTransform');
  const metadata: Record<string, string> = {};
  if (r.classes) metadata['bagoftricks.classes'] = JSON.stringify(r.classes);
  metadata['bagoftricks.inputSize'] = String(inputSize);
  metadata['bagoftricks.mean'] = JSON.stringify(transform.mean);
  metadata['bagoftricks.std'] = JSON.stringify(transform.std);
  metadata['bagoftricks.normalization'] = 'input = (RGB pixel on the 0-255 scale - mean) / std, per channel';
  return { model: r.model, parameters: r.parameters, metadata };
}

/**
 * A plain state dict's model options, from its header's shapes: width from the classifier
 * weight's columns (`fc.weight`, `classifier.weight`) against the model's at width 1, stem
 * from conv1.weight's kernel for a plain ResNet stem (a MobileNet's stems differ only in
 * stride, so there it is imagenet unless --stem).
 */
async function plainStateDictModel(file: string, name: ModelName, flags: Flags): Promise<ModelSpec> {
  const shapes = new Map((await readSafetensorsHeader(file)).entries.map((e) => [e.name.replace(/^module\./, ''), e.shape]));
  const probe = createModel(name);
  const head = `${probe.graph().output}.weight`;
  const fc = shapes.get(head);
  if (!fc || fc.length !== 2) throw new BagOfTricksError('ERR_CHECKPOINT_FORMAT', `${file}: no 2-D ${head}, so the classes of this ${name} are unknown`);
  const finalChannels = probe.parameters().find((p) => p.name === head)!.shape[1]; // the features at width 1
  const width = (flags.width as number | undefined) ?? fc[1] / finalChannels;
  const conv1 = shapes.get('conv1.weight');
  const plainStem = 'stemType' in probe.config && probe.config.stemType === 'plain';
  const stem = (flags.stem as 'imagenet' | 'cifar' | undefined) ?? (plainStem && conv1?.length === 4 && conv1[2] === 3 ? 'cifar' : 'imagenet');
  return { name, numClasses: fc[0], width, stem };
}

export async function exportCli(argv: string[]): Promise<number> {
  const parsed = parseCommand('export', argv, FLAGS, EXPORT_USAGE, ({ flags, positional }) => {
    if (positional.length) throw new UsageError(`unexpected argument ${JSON.stringify(positional[0])}`);
    if (flags.checkpoint === undefined) throw new UsageError('--checkpoint is required');
    if (flags.onnx === undefined) throw new UsageError('--onnx is required (the file to write)');
  });
  if (typeof parsed === 'number') return parsed;
  const { flags } = parsed;
  try {
    const ckpt = path.resolve(flags.checkpoint as string);
    const out = path.resolve(flags.onnx as string);
    if (!fs.existsSync(path.dirname(out)) || !fs.statSync(path.dirname(out)).isDirectory()) throw new UsageError(`--onnx: no folder ${JSON.stringify(path.dirname(out))} to write into`);
    const { model, parameters, metadata } = await resolveCheckpoint(ckpt, flags);
    const foldBatchNorm = flags['fold-bn'] === true;
    const onnx = buildOnnxModel(model, parameters, {
      opset: (flags.opset as number | undefined) ?? ONNX_OPSET.default,
      foldBatchNorm,
      ...(flags.size !== undefined ? { inputSize: flags.size as number } : {}),
      metadata,
    });
    const bytes = encodeOnnxModel(onnx);
    await writeFileAtomic(out, [bytes]);
    const opset = onnx.opset_import[0].version;
    const report = { onnx: out, bytes: bytes.length, model: model.name, opset, irVersion: onnx.ir_version, nodes: onnx.graph.node.length, initializers: onnx.graph.initializer.length, foldBatchNorm };
    if (flags.json === true) {
      console.log(JSON.stringify(report));
    } else {
      const mb = (bytes.length / 2 ** 20).toFixed(1);
      console.log(`wrote ${out} (${mb} MiB): ${model.name}, ONNX opset ${opset} (IR ${onnx.ir_version}), ${report.nodes} nodes${foldBatchNorm ? ', batch norm folded' : ''}`);
      console.log(`input "input" (batch, ${model.graph().inputChannels}, ${flags.size ?? 'H'}, ${flags.size ?? 'W'}) float32 NCHW, output "logits" (batch, classes)`);
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(usageLine('export', e.message));
      return 2;
    }
    if (e instanceof BagOfTricksError) {
      console.error(`bagoftricks: ${e.code}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
