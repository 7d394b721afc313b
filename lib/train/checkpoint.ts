/**
 * Training checkpoints: one safetensors file (safetensors.ts), written atomically.
 *
 * Tensors:
 * - parameters and BN running statistics under their PyTorch/timm state-dict keys, in
 *   PyTorch layout (OIHW conv weights), as `net.getParameters()` gives them. A timm
 *   `resnet50d` safetensors file therefore loads as a checkpoint of our resnet50d (its
 *   `num_batches_tracked` I64 counters come back in `int64`, or are skipped), and timm
 *   loads ours with `strict=False` (we keep no `num_batches_tracked`).
 * - the SGD momentum buffers as `optimizer.momentum.<key>` (MOMENTUM_PREFIX), as
 *   `net.getMomentum()` gives them; `withMomentum` / `splitCheckpoint` add and strip it.
 *
 * Metadata: the safetensors `__metadata__`, strings to strings, stored and returned as
 * given. By convention each value is a JSON string (`JSON.stringify(…)`) under keys such as
 * `model` (name and config), `classes`, `recipe`, `optimizer`, `lossScaler`
 * (LossScaler.state()), `step` and `epoch` (the position to resume at), `rng`
 * (TrainRng.state()). `format` is "pt" unless the caller sets it: that is what
 * transformers requires of a PyTorch state dict (timm does not check it).
 */
import { Tensor } from '../tensor';
import { expectKeys, expectObject, fail } from '../validate';
import { readSafetensors, ReadOptions, SafetensorsDType, WriteTensor, writeSafetensors } from './safetensors';

/** Prefix of the momentum buffers' names. */
export const MOMENTUM_PREFIX = 'optimizer.momentum.';

/** What saveCheckpoint writes: tensors by name and string metadata. */
export interface CheckpointData {
  /** Parameters (and momentum buffers, prefixed) by name. */
  tensors: Record<string, Tensor>;
  /** String values (JSON by convention); `format` defaults to "pt". */
  metadata?: Record<string, string>;
}

/** Options of saveCheckpoint. Unknown keys throw ERR_ARGUMENT. */
export interface SaveCheckpointOptions {
  /** On-disk type of the tensors: 'F32' (default) or 'F16' (half the size, rounded). */
  dtype?: 'F32' | 'F16';
  /** Write tensors holding NaN or ±Inf. Default false: such a checkpoint is refused (ERR_ARGUMENT). */
  allowNonFinite?: boolean;
}

/** What loadCheckpoint reads: every tensor, its on-disk dtype, and the metadata. */
export interface LoadedCheckpoint {
  /** Floating-point tensors as Float32Array (parameters and prefixed momentum buffers). */
  tensors: Record<string, Tensor>;
  /** I64 tensors (e.g. timm's num_batches_tracked), unless read with { int64: 'skip' }. */
  int64: Record<string, { data: BigInt64Array; shape: number[] }>;
  /** The dtype on disk of each tensor. */
  dtypes: Record<string, SafetensorsDType>;
  /** __metadata__ as stored (strings). */
  metadata: Record<string, string>;
}

/**
 * Writes a checkpoint atomically: the file at `file` is the old one or the complete new
 * one, never a mix. Tensors with NaN or ±Inf are refused (a diverged run must not
 * overwrite a good checkpoint) unless `allowNonFinite`.
 */
export async function saveCheckpoint(file: string, checkpoint: CheckpointData, options: SaveCheckpointOptions = {}): Promise<void> {
  if (typeof file !== 'string' || file.length === 0) fail('ERR_ARGUMENT', 'file path', 'file', file);
  const c = expectObject('checkpoint', checkpoint);
  expectKeys('checkpoint', c, ['tensors', 'metadata']);
  const o = expectObject('options', options);
  expectKeys('options', o, ['dtype', 'allowNonFinite']);
  const tensors = expectObject('checkpoint.tensors', c.tensors) as Record<string, WriteTensor>;
  if (o.allowNonFinite !== true) {
    for (const [name, t] of Object.entries(tensors)) {
      const data = (t as { data?: unknown } | null)?.data;
      if (!(data instanceof Float32Array)) continue; // checked by the writer
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i])) fail('ERR_ARGUMENT', 'finite values (or options.allowNonFinite)', `checkpoint.tensors[${JSON.stringify(name)}].data[${i}]`, data[i]);
      }
    }
  }
  const given = c.metadata === undefined ? {} : expectObject('checkpoint.metadata', c.metadata);
  const metadata: Record<string, string> = { format: 'pt' };
  for (const [k, v] of Object.entries(given)) {
    if (typeof v !== 'string') fail('ERR_ARGUMENT', 'string (JSON.stringify the value)', `checkpoint.metadata[${JSON.stringify(k)}]`, v);
    Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  await writeSafetensors(file, tensors, metadata, o.dtype === undefined ? {} : { dtype: o.dtype as 'F32' | 'F16' });
}

/** Reads a checkpoint (validated before any data is read; a bad file is ERR_CHECKPOINT_FORMAT). */
export async function loadCheckpoint(file: string, options: ReadOptions = {}): Promise<LoadedCheckpoint> {
  if (typeof file !== 'string' || file.length === 0) fail('ERR_ARGUMENT', 'file path', 'file', file);
  const r = await readSafetensors(file, options);
  return { tensors: r.tensors, int64: r.int64, dtypes: r.dtypes, metadata: r.metadata };
}

/** Parameters plus momentum buffers (renamed `optimizer.momentum.<key>`) in one record, for saveCheckpoint. */
export function withMomentum(parameters: Record<string, Tensor>, momentum: Record<string, Tensor>): Record<string, Tensor> {
  const p = expectObject('parameters', parameters) as Record<string, Tensor>;
  const mo = expectObject('momentum', momentum) as Record<string, Tensor>;
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(p)) {
    if (k.startsWith(MOMENTUM_PREFIX)) fail('ERR_ARGUMENT', `a parameter name not starting with ${MOMENTUM_PREFIX}`, 'a key of parameters', k);
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  for (const [k, v] of Object.entries(mo)) out[MOMENTUM_PREFIX + k] = v;
  return out;
}

/** Splits a checkpoint's tensors into parameters and momentum buffers (prefix stripped). */
export function splitCheckpoint(tensors: Record<string, Tensor>): { parameters: Record<string, Tensor>; momentum: Record<string, Tensor> } {
  const t = expectObject('tensors', tensors) as Record<string, Tensor>;
  const parameters: Record<string, Tensor> = {};
  const momentum: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(t)) {
    const [target, key] = k.startsWith(MOMENTUM_PREFIX) ? [momentum, k.slice(MOMENTUM_PREFIX.length)] : [parameters, k];
    Object.defineProperty(target, key, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return { parameters, momentum };
}
