/**
 * Child process of robustness.test. For every native export it starts from one valid
 * call, checks that it succeeds, then replaces each argument in turn with every garbage
 * value (wrong types, wrong lengths, NaN/negative/huge sizes, empty arrays) and drops
 * trailing arguments. Each call must return or throw an Error with a stable code; the
 * child prints one JSON line per export. A crash shows up in the parent as a non-zero
 * exit, with the export that was running named by its last { start } line.
 */
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { native } = require('../../../dist/native');
const addon = native();

const CODES = new Set(['ERR_SHAPE', 'ERR_DTYPE', 'ERR_ARGUMENT', 'ERR_OUT_OF_MEMORY', 'ERR_CUDA_UNAVAILABLE', 'ERR_BUSY']);

const GARBAGE: unknown[] = [
  undefined, null, NaN, -1, 0, 1.5, 1e9, 2 ** 31, 2 ** 53, Infinity, -Infinity, 'abc', '', true, {}, [], () => 1, 10n,
  [1], [0, 1, 1, 1], [-1, 4, 4, 2], [NaN, 4, 4, 2], [1e9, 1e9, 1e9, 1e9], [65536, 65536, 1, 2], [2 ** 31, 1], ['a', 4], [1, 4, 4, 2, 1],
  [1, 4, 4, 2], [1, 4], [2, 4, 4, 2], [3, 1, 1, 2],
  new Float32Array(0), new Float32Array(1), new Float32Array(31), new Float32Array(33), new Float64Array(32), new Int32Array(32),
  new Uint16Array(32), new Uint8Array(32), new Float32Array([NaN, Infinity, -Infinity, 1]), new DataView(new ArrayBuffer(8)),
];

const f = (n: number, v = 0.5) => new Float32Array(n).fill(v);
const X = [1, 4, 4, 2]; // NHWC
const W = [3, 3, 3, 2]; // KRSC
const conv = [1, 1, 1, 1, 1]; // strides, pads, groups -> y (1, 4, 4, 3)
const pool = [2, 2, 2, 2, 0, 0]; // kernel, stride, pad -> y (1, 2, 2, 2)

const VALID: Record<string, unknown[]> = {
  'ops.gemm': [f(6), f(6), 2, 2, 3, false, false, 1, 0, undefined],
  'ops.gemmAsync': [f(6), f(6), 2, 2, 3, false, false, 1, 0, undefined],
  'ops.gemmReference': [f(6), f(6), 2, 2, 3, false, false, 1, 0, undefined],
  'ops.conv2d': [f(32), X, f(54), W, ...conv],
  'ops.conv2dAsync': [f(32), X, f(54), W, ...conv],
  'ops.conv2dReference': [f(32), X, f(54), W, ...conv],
  'ops.conv2dWinograd': [f(32), X, f(54), W, f(3), true, 'fast'],
  'ops.nchwToNhwc': [f(32), [1, 2, 4, 4], 'fast'],
  'ops.conv2dBackwardData': [f(48), [1, 4, 4, 3], f(54), W, X, ...conv],
  'ops.conv2dBackwardDataAsync': [f(48), [1, 4, 4, 3], f(54), W, X, ...conv],
  'ops.conv2dBackwardDataReference': [f(48), [1, 4, 4, 3], f(54), W, X, ...conv],
  'ops.conv2dBackwardFilter': [f(32), X, f(48), [1, 4, 4, 3], W, ...conv],
  'ops.conv2dBackwardFilterAsync': [f(32), X, f(48), [1, 4, 4, 3], W, ...conv],
  'ops.conv2dBackwardFilterReference': [f(32), X, f(48), [1, 4, 4, 3], W, ...conv],
  'ops.batchNormTrain': [f(32).map((_, i) => i), X, f(2, 1), f(2, 0), f(2, 0), f(2, 1), 1e-5, 0.1],
  'ops.batchNormTrainReference': [f(32).map((_, i) => i), X, f(2, 1), f(2, 0), f(2, 0), f(2, 1), 1e-5, 0.1],
  'ops.batchNormInfer': [f(32), X, f(2, 1), f(2, 0), f(2, 0), f(2, 1), 1e-5],
  'ops.batchNormBackward': [f(32).map((_, i) => i), f(32), X, f(2, 1), f(2, 0), f(2, 1), true],
  'ops.batchNormBackwardReference': [f(32).map((_, i) => i), f(32), X, f(2, 1), f(2, 0), f(2, 1), true],
  'ops.maxPool2d': [f(32), X, ...pool, false],
  'ops.maxPool2dReference': [f(32), X, ...pool, false],
  'ops.maxPool2dBackward': [f(32), f(8), X, ...pool, false],
  'ops.avgPool2d': [f(32), X, ...pool, true, false],
  'ops.avgPool2dReference': [f(32), X, ...pool, true, false],
  'ops.avgPool2dBackward': [f(8), X, ...pool, true, false],
  'ops.globalAvgPool': [f(32), X],
  'ops.globalAvgPoolBackward': [f(2), X],
  'ops.relu': [f(32), X],
  'ops.reluBackward': [f(32), f(32), X],
  'ops.add': [f(32), f(32), X],
  'ops.linear': [f(6), [2, 3], f(12), [4, 3], f(4)],
  'ops.linearAsync': [f(6), [2, 3], f(12), [4, 3], f(4)],
  'ops.linearBackward': [f(6), [2, 3], f(12), [4, 3], f(8)],
  'ops.crossEntropyHard': [f(6), [2, 3], new Int32Array([0, 2]), 0.1],
  'ops.crossEntropySoft': [f(6), [2, 3], f(6, 1 / 3)],
  'ops.crossEntropyDistill': [f(6), [2, 3], f(6, 1 / 3), 20],
  'ops.sgdStep': [f(4), f(4), f(4), 0.1, 0.9, 1e-4, true, 1],
  'ops.toFloat16': [f(4)],
  'ops.fromFloat16': [new Uint16Array(4)],
  'runtime.setThreads': [addon.runtime.getThreads()],
};

// The CUDA twins take the CPU exports' arguments (conv: plus precision and algorithm).
// Without a usable device their valid call throws ERR_CUDA_UNAVAILABLE, which counts as
// the expected outcome (see CUDA_OK below).
for (const name of Object.keys(VALID)) {
  const op = name.slice('ops.'.length);
  const twin = `ops.cuda${op[0].toUpperCase()}${op.slice(1)}`;
  if (name.startsWith('ops.') && typeof addon.ops[twin.slice(4)] === 'function') VALID[twin] = VALID[name];
}
for (const op of ['cudaConv2d', 'cudaConv2dBackwardData', 'cudaConv2dBackwardFilter']) VALID[`ops.${op}`] = [...VALID[`ops.${op}`], undefined, 'f16', 'reference'];
VALID['ops.cudaSgdStepMulti'] = [[f(4), f(3)], [f(4), f(3)], [f(4), f(3)], f(2, 1e-4), 0.1, 0.9, true, 1, [new Uint16Array(4), null], true];
const CUDA_OK = !addon.runtime.cudaInfo().available;

// The augment family (data pipeline): a (1, 4, 4, 3) uint8 batch and the paper's constants.
const u8 = (n: number) => new Uint8Array(n).fill(100);
const AUG = Float32Array.from([123.68, 116.779, 103.939, 58.393, 57.12, 57.375, 55.46, 4.794, 1.148, -0.5675, 0.7192, 0.4009, -0.5808, -0.0045, -0.814, -0.5836, -0.6948, 0.4203]);
const IMG = [1, 4, 4, 3];
Object.assign(VALID, {
  'ops.augment': [u8(48), IMG, f(1, 1.2), f(1, 0.8), f(1, 1.1), f(3, 0.05), AUG, false, true],
  'ops.augmentAsync': [u8(48), IMG, f(1, 1.2), f(1, 0.8), f(1, 1.1), f(3, 0.05), AUG, true, false],
  'ops.augmentIntoAsync': [u8(48), IMG, f(1, 1.2), null, null, f(3, 0.05), AUG, f(48), true],
  'ops.augmentReference': [u8(48), IMG, f(1, 1.2), f(1, 0.8), f(1, 1.1), f(3, 0.05), AUG],
  'ops.augmentAffine': [f(6, 1), AUG],
  'ops.srgbFromProfile': [u8(48), IMG, new Uint8Array([1]), f(768), f(9, 0.3)],
  'ops.srgbFromProfileInPlaceAsync': [u8(48), IMG, new Uint8Array([1]), f(768), f(9, 0.3), true],
});

// A 16×12 baseline JPEG (sharp, quality 80), for the JPEG path.
const JPEG = new Uint8Array(Buffer.from(
  '/9j/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCj/wAARCAAMABADASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAT/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFAEBAAAAAAAAAAAAAAAAAAAABv/EABQRAQAAAAAAAAAAAAAAAAAAAAD/2gAMAwEAAhEDEQA/AIABUrf/2Q==',
  'base64',
));
Object.assign(VALID, {
  'ops.jpegInfo': [],
  // bytes, box (left, top, width, height), grid, window (left, top, width, height), flop, rotate, dctScaling, maxPixels, readToEnd, out, lend
  'ops.jpegDecodeAsync': [JPEG, 2, 1, 12, 10, 8, 8, 0, 0, 8, 8, true, 90, true, 1000, false, null, false],
  'ops.cropResize': [u8(48), [4, 4, 3], 0.5, 0, 3, 4, 2, 3, 0, 0, 2, 3, false, 270, false],
  'ops.mapFile': [__filename],
  'ops.crc32': [u8(48)],
  'ops.crc32Reference': [u8(48)],
});

// A tiny graph for the Net class: conv → BN → ReLU → global pool → linear.
const GRAPH = {
  inputChannels: 2,
  output: 'fc',
  nodes: [
    { op: 'conv2d', name: 'conv', inputs: ['input'], outChannels: 3, kernel: [3, 3], stride: [1, 1], padding: [1, 1], groups: 1, weight: 'conv.weight' },
    { op: 'batchnorm', name: 'bn', inputs: ['conv'], weight: 'bn.weight', bias: 'bn.bias', runningMean: 'bn.running_mean', runningVar: 'bn.running_var', eps: 1e-5, momentum: 0.1 },
    { op: 'relu', name: 'relu', inputs: ['bn'] },
    { op: 'globalavgpool', name: 'pool', inputs: ['relu'] },
    { op: 'linear', name: 'fc', inputs: ['pool'], outFeatures: 3, weight: 'fc.weight', bias: 'fc.bias' },
  ],
};
const NET_OPTIONS = { maxBatch: 2, height: 4, width: 4, noDecay: ['fc.bias'], lrScale: { 'conv.weight': 0.5 } };
const net = new addon.Net(GRAPH, NET_OPTIONS);
const NET_METHODS: Record<string, (...a: unknown[]) => unknown> = {
  'Net.constructor': (...a) => new addon.Net(...a),
  'Net.trainStep': (...a) => net.trainStep(...a),
  'Net.forwardBackward': (...a) => net.forwardBackward(...a),
  'Net.forward': (...a) => net.forward(...a),
  'Net.getParameter': (...a) => net.getParameter(...a),
  'Net.setParameter': (...a) => net.setParameter(...a),
  'Net.getGradient': (...a) => net.getGradient(...a),
  'Net.getMomentum': (...a) => net.getMomentum(...a),
  'Net.setMomentum': (...a) => net.setMomentum(...a),
};
Object.assign(VALID, {
  'Net.constructor': [GRAPH, NET_OPTIONS],
  'Net.trainStep': [f(64), 2, new Int32Array([0, 2]), null, 0.1, 0.1, 0.9, 1e-4, true, 1024, new Int32Array([1, 0]), 0.7, f(6), 20],
  'Net.forwardBackward': [f(64), 2, null, f(6, 1 / 3), 0, 0.1, 0.9, 1e-4, true, 1, null, 1, null, 1],
  'Net.forward': [f(64), 2],
  'Net.getParameter': ['conv.weight'],
  'Net.setParameter': ['fc.weight', f(9)],
  'Net.getGradient': ['fc.bias'],
  'Net.getMomentum': ['conv.weight'],
  'Net.setMomentum': ['fc.weight', f(9)],
});
GARBAGE.push('conv.weight', 'nope', { inputChannels: 2, output: 'x', nodes: [] }, { maxBatch: 0, height: 4, width: 4 },
  { ...GRAPH, nodes: [{ op: 'conv3d', name: 'a', inputs: ['input'] }] }, { ...GRAPH, nodes: GRAPH.nodes.slice(0, 3) });

type Stats = { name: string; calls: number; coded: number; returned: number; uncoded: string[]; validFailed?: string };

async function call(fn: (...a: unknown[]) => unknown, args: unknown[]): Promise<{ ok: boolean; error?: unknown }> {
  try {
    await fn(...args);
    return { ok: true };
  } catch (e) {
    return { ok: false, error: e };
  }
}

async function main() {
  const names = [...Object.keys(addon.ops).map((k) => `ops.${k}`), 'runtime.setThreads', ...Object.keys(NET_METHODS)];
  const missing = names.filter((n) => !(n in VALID));
  process.stdout.write(JSON.stringify({ missing }) + '\n');
  for (const name of names) {
    if (!(name in VALID)) continue;
    process.stdout.write(JSON.stringify({ start: name }) + '\n');
    const [obj, key] = name.split('.');
    const fn = NET_METHODS[name] ?? (addon as Record<string, Record<string, (...a: unknown[]) => unknown>>)[obj][key];
    const valid = VALID[name];
    const stats: Stats = { name, calls: 0, coded: 0, returned: 0, uncoded: [] };
    const v = await call(fn, valid.map((a) => (ArrayBuffer.isView(a) ? (a as Float32Array).slice() : a)));
    const unavailable = (v.error as { code?: string })?.code === 'ERR_CUDA_UNAVAILABLE';
    if (!v.ok && !(CUDA_OK && name.startsWith('ops.cuda') && unavailable)) stats.validFailed = String((v.error as Error)?.message ?? v.error);
    const lists: unknown[][] = [];
    for (let i = 0; i < valid.length; i++) {
      for (const g of GARBAGE) lists.push(valid.map((a, j) => (j === i ? g : ArrayBuffer.isView(a) ? (a as Float32Array).slice() : a)));
    }
    for (let k = 0; k < valid.length; k++) lists.push(valid.slice(0, k)); // missing arguments
    for (const args of lists) {
      stats.calls++;
      const r = await call(fn, args);
      if (r.ok) {
        stats.returned++;
        continue;
      }
      const code = (r.error as { code?: unknown })?.code;
      if (r.error instanceof Error && typeof code === 'string' && CODES.has(code) && r.error.message.length > 0) stats.coded++;
      else stats.uncoded.push(`${String(r.error)} (code ${String(code)})`);
    }
    process.stdout.write(JSON.stringify(stats) + '\n');
  }
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e));
  process.exit(3);
});
