/**
 * Which backend the single ops (`ops.*`) run on: 'cpu' (the default) or 'cuda'.
 *
 * The default comes from the environment variable BAGOFTRICKS_BACKEND ('cpu' or 'cuda';
 * unset means 'cpu'), read on first use. When it asks for 'cuda' and no usable device
 * exists, the ops stay on the CPU and a process warning (code BAGOFTRICKS_BACKEND) says
 * why, once; `setBackend('cuda')` instead throws ERR_CUDA_UNAVAILABLE with the reason.
 *
 * On 'cuda', these ops run on the GPU (inputs copied to the device, results copied back):
 * conv2d (groups = 1) and its two backward passes, batchNorm (training and inference) and
 * batchNormBackward, maxPool2d, avgPool2d, globalAvgPool and their backward passes,
 * relu, reluBackward, add, linear and linearBackward, softmaxCrossEntropy, sgdStep,
 * toFloat16 and fromFloat16; the *Async variants of conv2d and linear run the CUDA op off
 * the JS thread. These stay on the CPU: grouped and depthwise convolutions, gemm,
 * distillationLoss, the augment family and every *Reference oracle. Whole models choose
 * their device with their own option (NetOptions.backend, the Trainer's and load()'s
 * `backend`, the CLI's --backend), not with this switch.
 */
import { BagOfTricksError } from './errors';
import { native } from './native';
import { fail } from './validate';

/** A backend of the single ops. */
export type Backend = 'cpu' | 'cuda';

/** CPU export names that have a `cuda`-prefixed twin taking the same arguments. */
const CUDA_OPS = new Set([
  'conv2d', 'conv2dAsync', 'conv2dBackwardData', 'conv2dBackwardDataAsync', 'conv2dBackwardFilter',
  'conv2dBackwardFilterAsync', 'batchNormTrain', 'batchNormInfer', 'batchNormBackward', 'maxPool2d',
  'maxPool2dBackward', 'avgPool2d', 'avgPool2dBackward', 'globalAvgPool', 'globalAvgPoolBackward', 'relu',
  'reluBackward', 'add', 'linear', 'linearAsync', 'linearBackward', 'crossEntropyHard', 'crossEntropySoft',
  'sgdStep', 'toFloat16', 'fromFloat16',
]);

let current: Backend | undefined;

function fromEnv(): Backend {
  const v = process.env.BAGOFTRICKS_BACKEND;
  if (v === undefined || v === '' || v === 'cpu') return 'cpu';
  if (v !== 'cuda') {
    process.emitWarning(`BAGOFTRICKS_BACKEND=${v} is not 'cpu' or 'cuda'; the ops run on the CPU`, { code: 'BAGOFTRICKS_BACKEND' });
    return 'cpu';
  }
  const info = native().runtime.cudaInfo();
  if (info.available) return 'cuda';
  process.emitWarning(`BAGOFTRICKS_BACKEND=cuda but CUDA is unavailable (${info.reason}); the ops run on the CPU`, {
    code: 'BAGOFTRICKS_BACKEND',
  });
  return 'cpu';
}

/** The backend the single ops run on now. */
export function getBackend(): Backend {
  if (current === undefined) current = fromEnv();
  return current;
}

/**
 * Runs the single ops on `backend` from now on. 'cuda' without a usable device throws
 * ERR_CUDA_UNAVAILABLE whose message includes runtime.cudaInfo().reason; the backend is
 * then unchanged.
 */
export function setBackend(backend: Backend): void {
  if (backend !== 'cpu' && backend !== 'cuda') fail('ERR_ARGUMENT', "'cpu' or 'cuda'", 'backend', backend);
  if (backend === 'cuda') {
    const info = native().runtime.cudaInfo();
    if (!info.available) throw new BagOfTricksError('ERR_CUDA_UNAVAILABLE', `the CUDA backend is unavailable: ${info.reason}`);
  }
  current = backend;
}

/** The native export that runs op `name` on the current backend (its cuda twin, if any). */
export function opName(name: string): string {
  if (getBackend() !== 'cuda' || !CUDA_OPS.has(name)) return name;
  return `cuda${name[0].toUpperCase()}${name.slice(1)}`;
}
